"""One ``pn.viewable.Viewer`` per dashboard; ``apps/`` serves them, notebooks show them inline."""

from quantdesk.ui.dashboards.backtests import BacktestDashboard
from quantdesk.ui.dashboards.factors import FactorDashboard
from quantdesk.ui.dashboards.live import LiveDashboard
from quantdesk.ui.dashboards.performance import PerformanceDashboard
from quantdesk.ui.dashboards.portfolio import PortfolioDashboard
from quantdesk.ui.dashboards.risk import RiskDashboard

__all__ = ["BacktestDashboard", "FactorDashboard", "LiveDashboard", "PerformanceDashboard", "PortfolioDashboard", "RiskDashboard"]
