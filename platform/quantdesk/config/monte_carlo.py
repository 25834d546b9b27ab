"""The frozen config of a Monte Carlo study of one stored backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.files import convert, read_mapping
from quantdesk.errors import QuantDeskError

METHODS = ("trades", "returns")


class MonteCarloConfig(NautilusConfig, frozen=True):
    """Resample a stored backtest many times to see how much of its result was luck.

    Parameters
    ----------
    run_id : str
        The stored backtest to resample: its full id or a unique prefix
        (``quantdesk backtest list`` shows them).
    method : str
        ``trades`` draws the run's closed trades' net P&L with replacement, in random
        order; ``returns`` draws blocks of consecutive daily returns of its equity
        (circular block bootstrap), which keeps short-range autocorrelation and
        volatility clusters and also covers days without a closed trade.
    simulations : int
        Number of simulated paths.
    block_size : int, optional
        Days per block for ``returns``. None picks the cube root of the number of daily
        returns, rounded (Hall, Horowitz and Jing, 1995: the order that minimizes the
        error of block-bootstrap variance estimates), e.g. 13 for eight years of days.
        Only valid with ``returns``.
    seed : int
        Seed of the random draws: the same config on the same run gives identical numbers.
    quantiles : tuple of float
        Quantile levels of the bands and the summary table, each in [0, 1];
        ``(0.05, 0.5, 0.95)`` gives the median and a 90% band.
    drawdown_threshold : float
        A drawdown depth as a fraction of the running peak, in (0, 1): the result
        reports the probability that a path's maximum drawdown is deeper than it.
    horizon : int, optional
        Length of each path: trades for ``trades``, trading days for ``returns``. None
        means as many as the original run had.
    """

    run_id: str
    method: str = "trades"
    simulations: int = 1000
    block_size: int | None = None
    seed: int = 0
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    drawdown_threshold: float = 0.2
    horizon: int | None = None

    def __hash__(self) -> int:
        return hash(self.id)

    def check(self) -> MonteCarloConfig:
        """Check every field (none needs the stored run); return self so calls chain."""
        if not self.run_id.strip():
            raise QuantDeskError("run_id is empty: give the id of a stored run (see `quantdesk backtest list`)")
        if self.method not in METHODS:
            raise QuantDeskError(f"Unknown Monte Carlo method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.simulations < 1:
            raise QuantDeskError(f"simulations={self.simulations} must be at least 1 (1000 or more gives stable bands)")
        if self.block_size is not None:
            if self.method != "returns":
                raise QuantDeskError(
                    f"block_size={self.block_size} applies to method 'returns' only: remove it or set method: returns"
                )
            if self.block_size < 1:
                raise QuantDeskError(f"block_size={self.block_size} must be at least 1 day (or omit it for the default)")
        if self.seed < 0:
            raise QuantDeskError(f"seed={self.seed} must be zero or positive")
        if not self.quantiles:
            raise QuantDeskError("quantiles is empty: give levels in [0, 1], e.g. [0.05, 0.5, 0.95]")
        for level in self.quantiles:
            if not 0.0 <= level <= 1.0:
                raise QuantDeskError(f"Quantile {level} is outside [0, 1]: write levels as fractions, e.g. 0.05 for 5%")
        if len(set(self.quantiles)) != len(self.quantiles):
            raise QuantDeskError(f"quantiles {list(self.quantiles)} repeat a level: list each level once")
        if not 0.0 < self.drawdown_threshold < 1.0:
            raise QuantDeskError(
                f"drawdown_threshold={self.drawdown_threshold} must be a fraction between 0 and 1, e.g. 0.2 for 20%"
            )
        if self.horizon is not None and self.horizon < 2:
            unit = "trades" if self.method == "trades" else "days"
            raise QuantDeskError(f"horizon={self.horizon} must be at least 2 {unit} (a Sharpe ratio needs two returns)")
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "Monte Carlo config") -> MonteCarloConfig:
        """Build a config from plain data (parsed JSON/YAML), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> MonteCarloConfig:
        """Read a config from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(
            read_mapping(path, "config"), source=f"Monte Carlo config {str(path)!r}"
        )
