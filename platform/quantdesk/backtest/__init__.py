"""Backtests: run specs on catalog data through Nautilus, in batches on Dask, and the stored results."""

from quantdesk.backtest.batch import RunOutcome, run_specs
from quantdesk.backtest.monte_carlo import MonteCarloResult, run_monte_carlo
from quantdesk.backtest.periods import calendar_years, run_periods
from quantdesk.backtest.results import BacktestResult, list_runs, load_result
from quantdesk.backtest.run import run_backtest
from quantdesk.backtest.screen import ScreenResult, ema_cross_screen, ema_cross_trades, screen_and_confirm, screen_table
from quantdesk.backtest.sweep import SweepResult, load_sweep, run_sweep
from quantdesk.backtest.walk_forward import WalkForwardResult, run_walk_forward

__all__ = [
    "BacktestResult",
    "MonteCarloResult",
    "RunOutcome",
    "ScreenResult",
    "SweepResult",
    "WalkForwardResult",
    "calendar_years",
    "ema_cross_screen",
    "ema_cross_trades",
    "list_runs",
    "load_result",
    "load_sweep",
    "run_backtest",
    "run_monte_carlo",
    "run_periods",
    "run_specs",
    "run_sweep",
    "run_walk_forward",
    "screen_and_confirm",
    "screen_table",
]
