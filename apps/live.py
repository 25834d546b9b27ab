"""Live: node health, watchlists, streaming prices, order entry, orders, fills, positions and the account."""

from quantdesk.ui.dashboards import LiveDashboard
from quantdesk.ui.shell import page

page("Live", LiveDashboard()).servable()
