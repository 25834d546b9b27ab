"""Portfolio construction: estimators, constraints and optimizers over PyPortfolioOpt."""

from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.estimators import expected_returns, factor_covariance, factor_returns_from_run, risk_model
from quantdesk.portfolio.optimize import Allocation, allocation, efficient_frontier, optimize
from quantdesk.portfolio.run import PortfolioInputs, load_bars, portfolio_inputs, run_portfolio

__all__ = ["Allocation", "Constraints", "PortfolioInputs", "allocation", "efficient_frontier", "expected_returns",
           "factor_covariance", "factor_returns_from_run", "load_bars", "optimize", "portfolio_inputs", "risk_model",
           "run_portfolio"]
