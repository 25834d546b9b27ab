"""Settings from the environment and the frozen run configs."""

from quantdesk.config.backtest import BacktestSpec
from quantdesk.config.factors import FactorRunConfig
from quantdesk.config.monte_carlo import MonteCarloConfig
from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.config.settings import Settings, settings
from quantdesk.config.sweep import SweepConfig, WalkForwardConfig

__all__ = [
    "BacktestSpec", "FactorRunConfig", "LimitConfig", "MonteCarloConfig", "PortfolioConfig", "RiskLimitsConfig", "Settings",
    "SweepConfig", "WalkForwardConfig", "settings",
]  # fmt: skip
