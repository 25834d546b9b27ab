"""Backtests: launch parameter sweeps and walk-forward optimizations on Dask and explore their results."""

from quantdesk.ui.dashboards import BacktestDashboard
from quantdesk.ui.shell import page

page("Backtests", BacktestDashboard()).servable()
