"""Performance: equity, drawdown, monthly returns, statistics and trades of a stored backtest run."""

from quantdesk.ui.dashboards import PerformanceDashboard
from quantdesk.ui.shell import page

page("Performance", PerformanceDashboard()).servable()
