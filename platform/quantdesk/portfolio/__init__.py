"""Portfolio construction: estimators, constraints and optimizers over PyPortfolioOpt."""

from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.estimators import expected_returns, factor_covariance, factor_returns_from_run, risk_model
from quantdesk.portfolio.optimize import Allocation, allocation, efficient_frontier, optimize

__all__ = ["Allocation", "Constraints", "allocation", "efficient_frontier", "expected_returns", "factor_covariance",
           "factor_returns_from_run", "optimize", "risk_model"]
