"""Portfolio: optimize a universe under constraints; allocation, frontier, correlations, risk, trades, attribution."""

from quantdesk.ui.dashboards import PortfolioDashboard
from quantdesk.ui.shell import page

page("Portfolio", PortfolioDashboard()).servable()
