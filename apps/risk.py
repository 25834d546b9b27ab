"""Risk: limit utilization, exposures, VaR/ES with its Basel backtest, alerts, audit log, circuit breaker, limits."""

from quantdesk.ui.dashboards import RiskDashboard
from quantdesk.ui.shell import page

page("Risk", RiskDashboard()).servable()
