"""The frozen config of one live node: where its data and executions come from, what it trades, its risk settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from nautilus_trader.common.config import NautilusConfig
from nautilus_trader.model.data import BarSpecification

from quantdesk.config.dates import utc_bound
from quantdesk.config.files import convert, read_mapping
from quantdesk.errors import QuantDeskError

DATA_SOURCES = ("replay", "ib")
EXECUTIONS = ("sandbox", "ib")
ACCOUNT_TYPES = ("CASH", "MARGIN")
IB_GATEWAY_PAPER_PORT = 4002
# The paper node's risk limits, shipped with the package (format: quantdesk.config.risk).
DEFAULT_LIMITS = Path(__file__).resolve().parents[1] / "risk" / "default_limits.yaml"


class ReplayConfig(NautilusConfig, frozen=True):
    """Catalog bars replayed as a live feed.

    Parameters
    ----------
    instrument_ids : list[str]
        Instruments to replay, e.g. ``["AAPL.XNAS"]``.
    bar_spec : str
        Bars of every instrument, e.g. ``"1-MINUTE-LAST"``.
    start, end : str, optional
        Inclusive bounds of the replayed period (all the data when None).
    speed : float
        Data seconds per wall-clock second: 60 plays minute bars at one a second. Gaps longer
        than one bar (nights, weekends) last one bar. 0 replays as fast as the node takes them.
    loop : bool
        Start again from the first bar after the last one (prices jump back then).
    spread_ticks : int
        Each bar also publishes a quote at its close, bid = close and ask = close plus this many
        price increments, so market orders fill at a price a trader would have seen.
    """

    instrument_ids: list[str]
    bar_spec: str = "1-MINUTE-LAST"
    start: str | None = None
    end: str | None = None
    speed: float = 60.0
    loop: bool = True
    spread_ticks: int = 1

    @property
    def bar_types(self) -> list[str]:
        """Return the replayed bar type of each instrument."""
        return [f"{instrument_id}-{self.bar_spec}-EXTERNAL" for instrument_id in self.instrument_ids]


class InteractiveBrokersConfig(NautilusConfig, frozen=True):
    """Where the Interactive Brokers Gateway (or TWS) listens.

    Parameters
    ----------
    host : str
    port : int
        4002 is IB Gateway's paper-trading port (4001 live; TWS uses 7497/7496).
    client_id : int, optional
        API client id; None picks one from this process id so several nodes can connect at once.
    account_id : str, optional
        The IB account to trade (required for IB execution).
    connect_timeout : float
        Seconds to wait for the gateway before failing.
    instrument_ids : list[str]
        Instruments to load from IB, e.g. ``["AAPL.NASDAQ"]`` (IB's own venue names).
    """

    host: str = "127.0.0.1"
    port: int = IB_GATEWAY_PAPER_PORT
    client_id: int | None = None
    account_id: str | None = None
    connect_timeout: float = 5.0
    instrument_ids: list[str] = []


class NodeConfig(NautilusConfig, frozen=True):
    """Everything that determines one live node.

    Parameters
    ----------
    name : str
        Names the node in health reports, the trader id and the event hub.
    data : str
        ``replay`` (catalog bars as a live feed) or ``ib``.
    execution : str
        ``sandbox`` (Nautilus's paper execution, fills against the node's own quotes) or ``ib``.
    replay : ReplayConfig, optional
        Required when ``data`` is ``replay``.
    ib : InteractiveBrokersConfig
        Used when ``data`` or ``execution`` is ``ib``.
    starting_balances : list[str]
        Sandbox account balances, e.g. ``["1000000 USD"]``.
    account_type : str
        Sandbox account: ``MARGIN`` (shorting allowed) or ``CASH``.
    strategies : list[dict]
        Strategies to run, each ``{"strategy": "module:Class", "parameters": {...}}`` as in a
        backtest spec (``instrument_id`` and ``bar_type`` are filled from the replay when missing).
    max_order_submit_rate : str
        Nautilus risk engine throttle, ``"COUNT/HH:MM:SS"``.
    max_notional_per_order : dict[str, float]
        Instrument id -> largest notional one order may have (Nautilus risk engine; it checks
        notional on CASH accounts only, so the config refuses it with MARGIN).
    risk_limits : str, optional
        Limits file (format in :mod:`quantdesk.config.risk`) every order of the node must pass
        before it reaches Nautilus's risk engine (:mod:`quantdesk.risk.gate`); breaches and
        rejections go to the audit trail. None: Nautilus's own checks only.
    risk_interval : float
        Seconds between risk monitor cycles (with ``risk_limits``): exposures, P&L, drawdown,
        VaR/ES and limit utilization, alerts and escalation (:mod:`quantdesk.risk.monitor`).
    dynamic_limits : str, optional
        Rules file (:class:`quantdesk.risk.dynamic.DynamicLimitsConfig`) scaling limits with the
        book's GARCH volatility forecast or regime; each change is audited.
    forecast_interval : float
        Seconds between refreshes of the book's volatility forecast, regime, dynamic limits and
        breach model (:mod:`quantdesk.risk.forecast`), on a thread of their own.
    catalog : str, optional
        Catalog root for the replay and the trade history; the configured one when None.
    redis_url : str, optional
        Publish the node's events to Redis streams (defaults to ``QUANTDESK_REDIS_URL``; None: in-process only).
    stream_key : str
        Redis stream the events go to.
    record_trades : bool
        Write every order event and fill to the platform store.
    log_level : str
        Nautilus log level (``ERROR`` keeps a node quiet; ``WARNING`` adds its warnings, ``INFO`` every event).
    """

    name: str = "paper"
    data: str = "replay"
    execution: str = "sandbox"
    replay: ReplayConfig | None = None
    ib: InteractiveBrokersConfig = InteractiveBrokersConfig()
    starting_balances: list[str] = msgspec.field(default_factory=lambda: ["1000000 USD"])
    account_type: str = "MARGIN"
    strategies: list[dict[str, Any]] = []
    max_order_submit_rate: str = "100/00:00:01"
    max_notional_per_order: dict[str, float] = {}
    risk_limits: str | None = None
    risk_interval: float = 5.0
    dynamic_limits: str | None = None
    forecast_interval: float = 3600.0
    catalog: str | None = None
    redis_url: str | None = None
    stream_key: str = "nautilus-streams"
    record_trades: bool = True
    log_level: str = "ERROR"

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def instrument_ids(self) -> list[str]:
        """Return the instruments the node trades and streams."""
        if self.data == "replay" and self.replay is not None:
            return list(self.replay.instrument_ids)
        return list(self.ib.instrument_ids)

    @property
    def venues(self) -> list[str]:
        """Return the venues of the instruments."""
        return sorted({instrument_id.rsplit(".", 1)[-1] for instrument_id in self.instrument_ids})

    def check(self) -> NodeConfig:
        """Check the fields that need no catalog or network; return self so calls chain."""
        if self.data not in DATA_SOURCES:
            raise QuantDeskError(f"Unknown data source {self.data!r}: use one of {', '.join(DATA_SOURCES)}")
        if self.execution not in EXECUTIONS:
            raise QuantDeskError(f"Unknown execution {self.execution!r}: use one of {', '.join(EXECUTIONS)}")
        if self.account_type not in ACCOUNT_TYPES:
            raise QuantDeskError(f"Unknown account_type {self.account_type!r}: use one of {', '.join(ACCOUNT_TYPES)}")
        if self.max_notional_per_order and self.account_type != "CASH":
            raise QuantDeskError(
                f"max_notional_per_order is set with a {self.account_type} account: Nautilus's risk engine checks "
                "notional on CASH accounts only, so the limit would be silently ignored; use account_type: CASH"
            )
        if not self.risk_interval > 0:
            raise QuantDeskError(f"risk_interval={self.risk_interval}: give the seconds between risk monitor cycles, e.g. 5")
        if not self.forecast_interval > 0:
            raise QuantDeskError(f"forecast_interval={self.forecast_interval}: give the seconds between risk forecasts")
        if self.dynamic_limits and not self.risk_limits:
            raise QuantDeskError("dynamic_limits is set without risk_limits: dynamic rules scale limits of a limits file")
        if self.execution == "sandbox" and self.data != "replay":
            raise QuantDeskError("Sandbox execution fills against replayed quotes: use data: replay, or execution: ib")
        if self.data == "replay":
            self._check_replay()
        if self.data == "ib" and not self.ib.instrument_ids:
            raise QuantDeskError("ib.instrument_ids is empty: name the IB instruments to stream, e.g. AAPL.NASDAQ")
        if self.execution == "ib" and not self.ib.account_id:
            raise QuantDeskError("ib.account_id is missing: IB execution needs the account to trade, e.g. DU1234567")
        for strategy in self.strategies:
            if not isinstance(strategy, dict) or "strategy" not in strategy:
                raise QuantDeskError(
                    f"Bad strategy entry {strategy!r}: write {{strategy: module:Class, parameters: {{...}}}}"
                )
        for balance in self.starting_balances:
            amount, _, currency = str(balance).partition(" ")
            try:
                ok = float(amount) > 0 and len(currency) == 3
            except ValueError:
                ok = False
            if not ok:
                raise QuantDeskError(f"Bad starting balance {balance!r}: write AMOUNT CURRENCY, e.g. '1000000 USD'")
        return self

    def _check_replay(self) -> None:
        replay = self.replay
        if replay is None or not replay.instrument_ids:
            raise QuantDeskError("replay.instrument_ids is empty: name the catalog instruments to replay, e.g. AAPL.XNAS")
        try:
            BarSpecification.from_str(replay.bar_spec)
        except ValueError:
            raise QuantDeskError(
                f"Bad replay.bar_spec {replay.bar_spec!r}: write STEP-AGGREGATION-PRICE, e.g. 1-MINUTE-LAST"
            ) from None
        bounds = [None if value is None else utc_bound(value, name) for value, name in ((replay.start, "start"), (replay.end, "end"))]
        if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
            raise QuantDeskError(f"Empty replay period: start {replay.start} is not before end {replay.end}")
        if replay.speed < 0:
            raise QuantDeskError(f"replay.speed {replay.speed} is negative: use data seconds per second (0: as fast as possible)")
        if replay.spread_ticks < 0:
            raise QuantDeskError(f"replay.spread_ticks {replay.spread_ticks} is negative: use 0 or more price increments")

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "node config") -> NodeConfig:
        """Build a config from plain data (parsed JSON/YAML), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> NodeConfig:
        """Read a node config from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(read_mapping(path, what="node config"), source=f"node config {str(path)!r}")


def paper_node_config(catalog: str | None = None, speed: float = 60.0) -> NodeConfig:
    """Return the node ``make up`` starts: the sample catalog's AAPL minute bars, replayed with paper execution.

    Its orders pass the packaged limits :data:`DEFAULT_LIMITS` and the risk monitor runs on them.
    """
    return NodeConfig(
        name="paper",
        replay=ReplayConfig(instrument_ids=["AAPL.XNAS"], bar_spec="1-MINUTE-LAST", speed=speed),
        catalog=catalog,
        risk_limits=str(DEFAULT_LIMITS),
    ).check()
