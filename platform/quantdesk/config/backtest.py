"""The frozen run config of one backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.common.config import NautilusConfig
from nautilus_trader.model.data import BarSpecification

from quantdesk.config.dates import utc_bound
from quantdesk.config.files import convert, read_mapping
from quantdesk.config.risk import RiskLimitsConfig
from quantdesk.errors import QuantDeskError

ACCOUNT_TYPES = ("CASH", "MARGIN")
OMS_TYPES = ("NETTING", "HEDGING")


class BacktestSpec(NautilusConfig, frozen=True):
    """Everything that determines one backtest; its ``id`` (a content hash) keys the stored result.

    Parameters
    ----------
    strategy : str
        Strategy class as ``module:Class``; its config class is taken from the type of the
        ``config`` argument of its ``__init__``.
    instrument_ids : list[str]
        Instruments to load and trade, e.g. ``["AAPL.XNAS"]``; all on one venue.
    bar_spec : str
        Bar specification fed for every instrument, e.g. ``"1-DAY-LAST"``; the bar type of
        instrument ``AAPL.XNAS`` is then ``AAPL.XNAS-1-DAY-LAST-EXTERNAL``.
    parameters : dict
        Fields of the strategy's config. ``instrument_id`` and ``bar_type`` are filled
        from this spec when the config has them and they are not given.
    start, end : str, optional
        Inclusive ISO 8601 bounds (UTC when no zone is given); a bare ``end`` date includes
        that whole day. None means all the data.
    starting_capital : float
        Starting balance of the account, in ``currency``.
    currency : str
        Account currency (ISO 4217).
    account_type : str
        ``CASH`` (no borrowing, no shorting) or ``MARGIN``.
    oms_type : str
        ``NETTING`` (one position per instrument) or ``HEDGING``.
    risk_limits : RiskLimitsConfig, optional
        Pre-trade limits every order of the run must pass, as live (:mod:`quantdesk.risk.gate`);
        a spec file may give the path of a limits file instead. The limits themselves, not the
        path, are part of the spec, so editing the file makes a new run id.
    """

    strategy: str
    instrument_ids: list[str]
    bar_spec: str
    parameters: dict[str, Any] = {}
    start: str | None = None
    end: str | None = None
    starting_capital: float = 100_000.0
    currency: str = "USD"
    account_type: str = "CASH"
    oms_type: str = "NETTING"
    risk_limits: RiskLimitsConfig | None = None

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def bar_types(self) -> list[str]:
        """Return the bar type of each instrument, in ``instrument_ids`` order."""
        return [f"{iid}-{self.bar_spec}-EXTERNAL" for iid in self.instrument_ids]

    @property
    def venue(self) -> str:
        """Return the one venue all instruments trade on."""
        venues = sorted({iid.rsplit(".", 1)[-1] for iid in self.instrument_ids})
        if len(venues) != 1:
            raise QuantDeskError(
                f"Instruments {', '.join(self.instrument_ids)} span venues {', '.join(venues) or 'none'}: "
                "run one backtest per venue"
            )
        return venues[0]

    def period(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Return ``(start, end)`` as UTC timestamps, checking they parse and are ordered."""
        bounds = [None if getattr(self, name) is None else utc_bound(getattr(self, name), name) for name in ("start", "end")]
        start, end = bounds
        if start is not None and end is not None and start >= end:
            raise QuantDeskError(f"Empty date range: start {self.start} is not before end {self.end}")
        return start, end

    def check(self) -> BacktestSpec:
        """Check the fields that need no catalog; return self so calls chain."""
        if self.account_type not in ACCOUNT_TYPES:
            raise QuantDeskError(f"Unknown account_type {self.account_type!r}: use one of {', '.join(ACCOUNT_TYPES)}")
        if self.oms_type not in OMS_TYPES:
            raise QuantDeskError(f"Unknown oms_type {self.oms_type!r}: use one of {', '.join(OMS_TYPES)}")
        if not self.starting_capital > 0:
            raise QuantDeskError(f"starting_capital {self.starting_capital} must be positive")
        if not self.instrument_ids:
            raise QuantDeskError("instrument_ids is empty: name at least one instrument, e.g. AAPL.XNAS")
        _ = self.venue
        self.period()
        if self.risk_limits is not None:
            self.risk_limits.check([*self.risk_limits.instrument_sectors, *self.instrument_ids])
        try:
            BarSpecification.from_str(self.bar_spec)
        except ValueError:
            raise QuantDeskError(
                f"Bad bar_spec {self.bar_spec!r}: write STEP-AGGREGATION-PRICE, e.g. 1-DAY-LAST or 1-MINUTE-LAST"
            ) from None
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "spec", folder: str | Path = ".") -> BacktestSpec:
        """Build a spec from plain data (parsed JSON/YAML), naming any bad field.

        A ``risk_limits`` string is a limits file, relative to ``folder``.
        """
        limits = mapping.get("risk_limits")
        if isinstance(limits, (str, Path)):
            mapping = {**mapping, "risk_limits": RiskLimitsConfig.load(Path(folder) / limits).json_primitives()}
        return convert(mapping, cls, f"backtest {source}").check()

    @classmethod
    def load(cls, path: str | Path) -> BacktestSpec:
        """Read a spec from a ``.json``, ``.yaml`` or ``.yml`` file (a limits file it names is read beside it)."""
        return cls.from_mapping(read_mapping(path), source=f"spec {str(path)!r}", folder=Path(path).parent)
