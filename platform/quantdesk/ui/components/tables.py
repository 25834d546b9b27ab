"""Tables of one backtest: headline statistics and round-trip trades (Panel Tabulator)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

# (summary key, label, format); percentages are stored as fractions.
STATISTICS = [
    ("starting_capital", "Starting capital", "{:,.2f}"),
    ("ending_equity", "Ending equity", "{:,.2f}"),
    ("total_return", "Total return", "{:.2%}"),
    ("cagr", "CAGR", "{:.2%}"),
    ("annual_volatility", "Annual volatility", "{:.2%}"),
    ("sharpe", "Sharpe ratio", "{:.2f}"),
    ("sortino", "Sortino ratio", "{:.2f}"),
    ("calmar", "Calmar ratio", "{:.2f}"),
    ("max_drawdown", "Max drawdown", "{:.2%}"),
    ("realized_pnl", "Realized P&L", "{:,.2f}"),
    ("unrealized_pnl", "Unrealized P&L", "{:,.2f}"),
    ("commissions", "Commissions", "{:,.2f}"),
    ("round_trips", "Round trips", "{:,d}"),
    ("win_rate", "Win rate", "{:.1%}"),
    ("profit_factor", "Profit factor", "{:.2f}"),
    ("fills", "Fills", "{:,d}"),
    ("first_bar", "First bar", "{:.16}"),  # ISO 8601 to the minute
    ("last_bar", "Last bar", "{:.16}"),
]


def statistics_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Return the headline statistics as labelled, formatted text ("n/a" where undefined)."""
    rows = []
    for key, label, template in STATISTICS:
        value = summary.get(key)
        rows.append({"statistic": label, "value": "n/a" if value is None else template.format(value)})
    if summary.get("halted_early"):
        rows.append({"statistic": "Halted early", "value": "yes: Nautilus stopped the run before the period ended"})
    return pd.DataFrame(rows)


def statistics_table(summary: dict[str, Any]) -> pn.widgets.Tabulator:
    """Return a read-only table of the headline statistics."""
    return pn.widgets.Tabulator(
        statistics_frame(summary), show_index=False, disabled=True, sortable=False,
        layout="fit_data_stretch", theme="simple", label="Statistics",
        widths={"statistic": 160}, sizing_mode="stretch_width",
    )


def trades_table(positions: pd.DataFrame, page_size: int = 20) -> pn.widgets.Tabulator:
    """Return a sortable, paginated table with one row per position (round trip)."""
    trades = positions.drop(columns=["position_id"], errors="ignore").copy()
    trades["realized_return"] = 100.0 * trades["realized_return"]
    trades = trades.rename(columns={"realized_return": "return_pct"})
    for column in ("opened", "closed"):
        # Text rather than Tabulator's datetime formatter, which needs luxon from a CDN.
        trades[column] = trades[column].dt.strftime("%Y-%m-%d %H:%M").fillna("open")
    money = {"type": "money", "thousand": ",", "symbol": ""}
    return pn.widgets.Tabulator(
        trades, show_index=False, disabled=True, pagination="remote", page_size=page_size,
        layout="fit_data_stretch", theme="simple", label="Trades", sizing_mode="stretch_width",
        formatters={
            "avg_px_open": money, "avg_px_close": money, "realized_pnl": money, "commissions": money,
            "return_pct": {"type": "money", "precision": 2, "symbol": "%", "symbolAfter": True},
        },
    )
