"""Settings from the environment and the frozen run configs."""

from quantdesk.config.backtest import BacktestSpec
from quantdesk.config.settings import Settings, settings

__all__ = ["BacktestSpec", "Settings", "settings"]
