"""The frozen config of one factor run: universe, period, factors and their grids, scoring, output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.dates import utc_bound
from quantdesk.config.files import convert, read_mapping
from quantdesk.errors import QuantDeskError


class FactorRunConfig(NautilusConfig, frozen=True):
    """Compute factors over a universe, store them under the catalog root, and score them.

    Parameters
    ----------
    universe : list of str
        Instrument ids (``AAPL.XNAS``) whose bars feed the factors.
    start, end : str, optional
        Period (ISO dates; a bare ``end`` includes that day). Default: all the bars.
    factors : dict
        Factor name (or ``module:function``) -> its grid (parameter -> list of values), or
        None for the factor's default grid. Empty: every built-in factor on its default grid.
    bar_spec : str
        Bars to read, e.g. ``1-DAY-LAST``.
    market : str, optional
        Instrument whose returns are the market for cross-asset factors (default: the S&P 500
        index of the sample catalog); None uses the cross-sectional mean.
    horizons : list of int
        Forward-return horizons, in bars, that scores use.
    quantiles : int
        Buckets of the quantile portfolios (10: deciles).
    assets_per_chunk, factors_per_chunk : int
        Block size of the computation: one task computes this many factors for this many
        assets over the whole period, which bounds each task's memory. Scoring ranks whole
        cross-sections, so a factor block's asset chunks meet on one worker to be scored:
        a chunk covering the universe (500 assets, 160 MB a block) saves that move.
    """

    universe: list[str]
    start: str | None = None
    end: str | None = None
    factors: dict[str, dict[str, list[Any]] | None] = {}
    bar_spec: str = "1-DAY-LAST"
    market: str | None = "SPX.INDEX"
    horizons: list[int] = msgspec.field(default_factory=lambda: [1, 5, 21])
    quantiles: int = 10
    assets_per_chunk: int = 500
    factors_per_chunk: int = 32

    def __hash__(self) -> int:
        return hash(self.id)

    def check(self) -> FactorRunConfig:
        """Check the fields that need no catalog; return self so calls chain."""
        if not self.universe:
            raise QuantDeskError("The universe is empty: name at least one instrument id (e.g. AAPL.XNAS)")
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None:
                utc_bound(value, name)
        if not self.horizons or any(h < 1 for h in self.horizons):
            raise QuantDeskError(f"horizons={self.horizons}: give one or more horizons of at least 1 bar")
        if self.quantiles < 2:
            raise QuantDeskError(f"quantiles={self.quantiles}: use at least 2 buckets")
        for name in ("assets_per_chunk", "factors_per_chunk"):
            if getattr(self, name) < 1:
                raise QuantDeskError(f"{name}={getattr(self, name)} must be at least 1")
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "factor run") -> FactorRunConfig:
        """Build a config from plain data (parsed JSON/YAML), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> FactorRunConfig:
        """Read a config from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(read_mapping(path, "factor run"), source=f"factor run {str(path)!r}")
