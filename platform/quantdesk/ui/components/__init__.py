"""Charts and tables shared by dashboards and report notebooks."""

from quantdesk.ui.components.charts import equity_and_drawdown, monthly_returns_heatmap
from quantdesk.ui.components.tables import statistics_table, trades_table

__all__ = ["equity_and_drawdown", "monthly_returns_heatmap", "statistics_table", "trades_table"]
