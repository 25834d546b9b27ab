"""Performance charts of one equity curve (HoloViews, rendered by Bokeh)."""

from __future__ import annotations

import calendar

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import pandas as pd

from quantdesk.backtest.statistics import drawdown, monthly_returns

# Beyond this many points a browser chart gets sluggish; intraday curves are shown per day instead.
MAX_POINTS = 20_000


def _per_day(series: pd.Series, how: str) -> pd.Series:
    return series.groupby(series.index.normalize()).agg(how)


def equity_and_drawdown(equity: pd.Series, height: int = 280) -> hv.Layout:
    """Plot equity above its drawdown from the running peak, sharing the time axis.

    Long intraday curves are reduced to one point per day: the day's last equity and
    its deepest drawdown, so no drawdown is hidden by the reduction.
    """
    underwater = 100.0 * drawdown(equity)
    label = ""
    if len(equity) > MAX_POINTS:
        equity, underwater, label = _per_day(equity, "last"), _per_day(underwater, "min"), " (per day)"
    time = hv.Dimension("time", label="Date")
    equity_curve = hv.Curve(
        (equity.index, equity.to_numpy()), time, hv.Dimension("equity", label="Equity (USD)")
    ).opts(
        title=f"Equity{label}", height=height, responsive=True, color="#1f77b4",
        tools=["hover"], yformatter="%.0f", show_grid=True,
    )
    drawdown_area = hv.Area(
        (underwater.index, underwater.to_numpy()), time, hv.Dimension("drawdown", label="Drawdown (%)")
    ).opts(
        title=f"Drawdown from peak{label}", height=int(height * 0.6), responsive=True,
        color="firebrick", alpha=0.6, line_width=0, tools=["hover"], show_grid=True,
    )
    return (equity_curve + drawdown_area).cols(1).opts(shared_axes=True)


def monthly_returns_heatmap(equity: pd.Series, height: int | None = None) -> hv.Overlay:
    """Plot a year x month heatmap of compounded monthly returns, each cell labelled in percent."""
    table = 100.0 * monthly_returns(equity)
    cells = table.stack().rename("return").reset_index()
    cells["month"] = cells["month"].map(lambda month: calendar.month_abbr[month])
    cells["year"] = cells["year"].astype(str)
    cells["label"] = cells["return"].map(lambda value: f"{value:+.1f}")
    limit = max(float(cells["return"].abs().max()), 1e-9) if len(cells) else 1.0
    months = hv.Dimension("month", label="Month", values=list(calendar.month_abbr)[1:])
    years = hv.Dimension("year", label="Year")
    heatmap = hv.HeatMap(cells, [months, years], [hv.Dimension("return", label="Return (%)"), "label"]).opts(
        cmap="RdYlGn", clim=(-limit, limit), colorbar=True, tools=["hover"], responsive=True,
        height=height or max(160, 28 * table.shape[0] + 80), title="Monthly returns (%)",
        invert_yaxis=True, xaxis="top", toolbar=None,
    )
    labels = hv.Labels(cells, [months, years], "label").opts(text_font_size="8pt", text_color="black")
    return heatmap * labels
