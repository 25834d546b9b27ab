"""Backtests: run specs on catalog data through Nautilus, and the stored results."""

from quantdesk.backtest.results import BacktestResult, list_runs, load_result
from quantdesk.backtest.run import run_backtest

__all__ = ["BacktestResult", "list_runs", "load_result", "run_backtest"]
