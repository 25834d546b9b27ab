"""The frozen config of one portfolio optimization: universe, period, estimators, method and constraints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.dates import utc_bound
from quantdesk.config.files import convert, read_mapping
from quantdesk.errors import QuantDeskError

METHODS = ("max_sharpe", "min_volatility", "efficient_return", "efficient_risk", "multi_objective", "hrp",
           "risk_parity", "black_litterman")
RETURN_METHODS = ("mean_historical", "ema_historical", "capm")
RISK_METHODS = ("sample", "exponential", "ledoit_wolf", "factor_model")


class PortfolioConfig(NautilusConfig, frozen=True):
    """Optimize a portfolio of catalog instruments.

    Parameters
    ----------
    universe : list of str
        Instrument ids (``AAPL.XNAS``) whose daily closes feed the estimators.
    start, end : str, optional
        Period of the price history (ISO dates; a bare ``end`` includes that day). Default: all bars.
    bar_spec : str
        Bars to read, e.g. ``1-DAY-LAST``.
    frequency : int
        Bars a year, to annualize (252 for daily bars).
    method : str
        ``max_sharpe``, ``min_volatility``, ``efficient_return``, ``efficient_risk``,
        ``multi_objective``, ``hrp``, ``risk_parity`` or ``black_litterman``.
    returns_method, returns_options : str, dict
        Expected-returns estimator (``mean_historical``, ``ema_historical``, ``capm``) and its options (``span``).
    risk_method, risk_options : str, dict
        Risk model (``sample``, ``exponential``, ``ledoit_wolf``, ``factor_model``) and its options
        (``span``; ``factor_run`` = folder of a stored factor run for ``factor_model``).
    market : str, optional
        Instrument whose closes are the market for CAPM returns and the Black-Litterman risk aversion.
    target_return, target_volatility : float, optional
        Targets of ``efficient_return`` and ``efficient_risk``.
    risk_free_rate : float
        Annual rate Sharpe ratios are measured over.
    weight_bounds : (float, float), optional
        Lower and upper weight of each asset (default ``(0, 1)`` long-only, ``(-1, 1)`` long-short).
    asset_bounds : dict of str to (float, float)
        Bounds of single assets, overriding ``weight_bounds``.
    long_only, gross_limit, net_exposure
        Long-only, or long-short with ``sum |w| <= gross_limit``; ``sum w = net_exposure``.
    sectors, sector_limits : dict
        Asset -> sector, and sector -> (lower or None, upper or None) on its summed weight.
    capital : float, optional
        Portfolio value: of the whole-share trades, and the value liquidity caps are measured at.
    volume_share, liquidation_days, volume_window : float or None, float, int
        Liquidity caps, on when ``volume_share`` is set (they need ``capital``): a position is at
        most ``volume_share`` of the average daily volume over the last ``volume_window`` bars
        times ``liquidation_days``, valued at the last close. None: no liquidity caps.
    current_weights, turnover_limit
        Weights held now and the limit on ``sum |w - current|``.
    scores, minimum_score
        Asset -> score (e.g. ESG) and the lower limit on ``sum w x score``.
    objective_weights : dict
        ``multi_objective`` weights of ``return``, ``risk`` (variance) and ``score``.
    views, market_caps, risk_aversion, tau
        Black-Litterman: views (``{"weights": {asset: coefficient}, "return": q, "confidence": c}``),
        market capitalizations for the market-implied prior, risk aversion (default: implied by
        ``market``), prior uncertainty.
    linkage : str
        HRP linkage method.
    risk_budget : dict
        Risk parity: asset -> share of risk (default equal).
    """

    universe: list[str]
    start: str | None = None
    end: str | None = None
    bar_spec: str = "1-DAY-LAST"
    frequency: int = 252
    method: str = "max_sharpe"
    returns_method: str = "mean_historical"
    returns_options: dict[str, Any] = {}
    risk_method: str = "ledoit_wolf"
    risk_options: dict[str, Any] = {}
    market: str | None = None
    target_return: float | None = None
    target_volatility: float | None = None
    risk_free_rate: float = 0.0
    weight_bounds: tuple[float, float] | None = None
    asset_bounds: dict[str, tuple[float, float]] = {}
    long_only: bool = True
    gross_limit: float | None = None
    net_exposure: float = 1.0
    sectors: dict[str, str] = {}
    sector_limits: dict[str, tuple[float | None, float | None]] = {}
    capital: float | None = None
    volume_share: float | None = None
    liquidation_days: float = 1.0
    volume_window: int = 20
    current_weights: dict[str, float] = {}
    turnover_limit: float | None = None
    scores: dict[str, float] = {}
    minimum_score: float | None = None
    objective_weights: dict[str, float] = {}
    views: list[dict[str, Any]] = []
    market_caps: dict[str, float] = {}
    risk_aversion: float | None = None
    tau: float = 0.05
    linkage: str = "single"
    risk_budget: dict[str, float] = {}

    def __hash__(self) -> int:
        return hash(self.id)

    def check(self) -> PortfolioConfig:
        """Check the fields that need no catalog; return self so calls chain."""
        if not self.universe:
            raise QuantDeskError("The universe is empty: name at least one instrument id (e.g. AAPL.XNAS)")
        repeated = sorted({a for a in self.universe if self.universe.count(a) > 1})
        if repeated:
            raise QuantDeskError(f"The universe names {', '.join(repeated)} more than once: list each asset once")
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None:
                utc_bound(value, name)
        for name, value, allowed in (("method", self.method, METHODS), ("returns_method", self.returns_method, RETURN_METHODS),
                                     ("risk_method", self.risk_method, RISK_METHODS)):
            if value not in allowed:
                raise QuantDeskError(f"{name}={value!r}: use one of {', '.join(allowed)}")
        if self.frequency < 1:
            raise QuantDeskError(f"frequency={self.frequency}: give the number of bars a year (252 for daily bars)")
        if self.volume_window < 1:
            raise QuantDeskError(f"volume_window={self.volume_window}: average the volume over at least 1 bar")
        if self.volume_share is not None:
            if self.capital is None:
                raise QuantDeskError(f"volume_share={self.volume_share:g} caps positions by liquidity at a portfolio value: "
                                     "set capital (e.g. capital: 1000000), or drop volume_share")
            for name in ("capital", "volume_share", "liquidation_days"):
                if not getattr(self, name) > 0:
                    raise QuantDeskError(f"{name}={getattr(self, name):g}: liquidity caps need a positive {name}")
        if self.method == "efficient_return" and self.target_return is None:
            raise QuantDeskError("method efficient_return needs target_return (an annual expected return)")
        if self.method == "efficient_risk" and self.target_volatility is None:
            raise QuantDeskError("method efficient_risk needs target_volatility (an annual volatility)")
        if self.method == "black_litterman" and not self.views:
            raise QuantDeskError("method black_litterman needs views, e.g. [{'weights': {'AAPL.XNAS': 1}, 'return': 0.1}]")
        if self.risk_method == "factor_model" and "factor_run" not in self.risk_options:
            raise QuantDeskError("risk_method factor_model needs risk_options.factor_run: the folder of a stored factor run")
        if self.gross_limit is not None and self.long_only:
            raise QuantDeskError("gross_limit applies to long-short portfolios: set long_only to false or drop gross_limit")
        if not self.net_exposure > 0:
            raise QuantDeskError(f"net_exposure={self.net_exposure}: give a positive net exposure (1 is fully invested)")
        for asset, (lower, upper) in [("every asset", self.weight_bounds or (0.0, 1.0)), *self.asset_bounds.items()]:
            if lower > upper or (self.long_only and lower < 0):
                raise QuantDeskError(f"Weight bounds ({lower:g}, {upper:g}) for {asset}: give lower <= upper"
                                     + (", and no negative lower bound in a long-only portfolio" if self.long_only else ""))
        for name in ("asset_bounds", "sectors", "current_weights", "scores", "market_caps", "risk_budget"):
            outside = [a for a in getattr(self, name) if a not in self.universe]
            if outside:
                raise QuantDeskError(f"{name} names assets outside the universe: {', '.join(outside)}; "
                                     "drop them or add them to the universe")
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "portfolio config") -> PortfolioConfig:
        """Build a config from plain data (parsed JSON/YAML), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> PortfolioConfig:
        """Read a config from a ``.json``, ``.yaml`` or ``.yml`` file."""
        return cls.from_mapping(read_mapping(path, "portfolio config"), source=f"portfolio config {str(path)!r}")
