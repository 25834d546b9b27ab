"""Performance analytics: returns statistics, attribution and execution quality.

Backtests and live trading go through the same functions: statistics take a return
series, execution quality takes either source's fills.
"""

from quantdesk.analytics.attribution import BrinsonAttribution, FactorAttribution, brinson_fachler, factor_attribution
from quantdesk.analytics.execution import (
    execution_costs,
    impact_by_size,
    live_orders,
    order_fills,
    price_at,
    shortfall_summary,
    standard_fills,
)
from quantdesk.analytics.returns import (
    alpha_beta,
    annual_volatility,
    cagr,
    calmar_ratio,
    drawdown,
    drawdown_periods,
    excess_returns,
    hit_rate,
    longest_drawdown_duration,
    max_drawdown,
    max_drawdown_duration,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summary,
    tail_ratio,
    total_return,
    underwater,
    wealth,
)
from quantdesk.analytics.rolling import rolling_beta, rolling_sharpe, rolling_volatility

__all__ = [
    "BrinsonAttribution", "FactorAttribution", "alpha_beta", "annual_volatility", "brinson_fachler", "cagr",
    "calmar_ratio", "drawdown", "drawdown_periods", "excess_returns", "execution_costs",
    "factor_attribution", "hit_rate", "impact_by_size", "live_orders", "longest_drawdown_duration", "max_drawdown",
    "max_drawdown_duration", "order_fills", "price_at", "profit_factor", "rolling_beta", "rolling_sharpe",
    "rolling_volatility", "sharpe_ratio", "shortfall_summary", "sortino_ratio", "standard_fills", "summary",
    "tail_ratio", "total_return", "underwater", "wealth",
]  # fmt: skip
