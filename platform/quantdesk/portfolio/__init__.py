"""Portfolio construction: estimators, constraints and optimizers over PyPortfolioOpt; whole shares, rebalancing, robustness."""

from quantdesk.portfolio.allocation import (
    RebalancingPlan, ShareAllocation, TradingCosts, allocate_shares, plan_rebalance,
)  # fmt: skip
from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.estimators import expected_returns, factor_covariance, factor_returns_from_run, risk_model
from quantdesk.portfolio.optimize import Allocation, allocation, efficient_frontier, optimize
from quantdesk.portfolio.robustness import ResampledFrontier, WeightConfidence, resampled_frontier, weight_confidence
from quantdesk.portfolio.run import PortfolioInputs, load_bars, portfolio_inputs, run_portfolio

__all__ = [
    "Allocation", "Constraints", "PortfolioInputs", "RebalancingPlan", "ResampledFrontier", "ShareAllocation",
    "TradingCosts", "WeightConfidence", "allocate_shares", "allocation", "efficient_frontier", "expected_returns",
    "factor_covariance", "factor_returns_from_run", "load_bars", "optimize", "plan_rebalance", "portfolio_inputs",
    "resampled_frontier", "risk_model", "run_portfolio", "weight_confidence",
]  # fmt: skip
