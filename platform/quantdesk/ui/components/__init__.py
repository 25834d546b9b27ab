"""Charts and tables shared by dashboards and report notebooks."""

from quantdesk.ui.components.charts import equity_and_drawdown, monthly_returns_heatmap
from quantdesk.ui.components.factors import (
    correlation_heatmap,
    decay_chart,
    ic_chart,
    quantile_returns_chart,
    regime_chart,
)
from quantdesk.ui.components.live_views import PriceChart, fill_rows, quote_rows
from quantdesk.ui.components.optimization import distribution, fan_chart, objective_heatmap, walk_forward_chart
from quantdesk.ui.components.portfolio import (
    asset_correlation_heatmap,
    attribution_chart,
    cumulative_returns_chart,
    frontier_chart,
    risk_contribution_chart,
    sector_chart,
    weights_chart,
)
from quantdesk.ui.components.tables import statistics_table, trades_table

__all__ = [
    "PriceChart",
    "asset_correlation_heatmap",
    "attribution_chart",
    "correlation_heatmap",
    "cumulative_returns_chart",
    "decay_chart",
    "distribution",
    "equity_and_drawdown",
    "fan_chart",
    "fill_rows",
    "frontier_chart",
    "ic_chart",
    "monthly_returns_heatmap",
    "objective_heatmap",
    "quantile_returns_chart",
    "quote_rows",
    "regime_chart",
    "risk_contribution_chart",
    "sector_chart",
    "statistics_table",
    "trades_table",
    "walk_forward_chart",
    "weights_chart",
]
