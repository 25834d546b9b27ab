"""Charts and tables shared by dashboards and report notebooks."""

from quantdesk.ui.components.charts import equity_and_drawdown, monthly_returns_heatmap
from quantdesk.ui.components.optimization import distribution, fan_chart, objective_heatmap, walk_forward_chart
from quantdesk.ui.components.tables import statistics_table, trades_table

__all__ = [
    "distribution",
    "equity_and_drawdown",
    "fan_chart",
    "monthly_returns_heatmap",
    "objective_heatmap",
    "statistics_table",
    "trades_table",
    "walk_forward_chart",
]
