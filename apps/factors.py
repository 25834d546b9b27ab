"""Factors: compute and score factor runs on Dask, rank the factors and look into one of them."""

from quantdesk.ui.dashboards import FactorDashboard
from quantdesk.ui.shell import page

page("Factors", FactorDashboard()).servable()
