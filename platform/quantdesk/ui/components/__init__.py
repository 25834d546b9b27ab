"""Charts and tables shared by dashboards and report notebooks."""

from quantdesk.ui.components.charts import equity_and_drawdown, monthly_returns_heatmap
from quantdesk.ui.components.factors import (
    correlation_heatmap,
    decay_chart,
    ic_chart,
    quantile_returns_chart,
    regime_chart,
)
from quantdesk.ui.components.optimization import distribution, fan_chart, objective_heatmap, walk_forward_chart
from quantdesk.ui.components.tables import statistics_table, trades_table

__all__ = [
    "correlation_heatmap",
    "decay_chart",
    "distribution",
    "equity_and_drawdown",
    "fan_chart",
    "ic_chart",
    "monthly_returns_heatmap",
    "objective_heatmap",
    "quantile_returns_chart",
    "regime_chart",
    "statistics_table",
    "trades_table",
    "walk_forward_chart",
]
