"""Charts of factor scores: IC over time, quantile returns, decay, correlations and regimes (HoloViews, Bokeh)."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import numpy as np
import pandas as pd
import xarray as xr

# Beyond this many factors a correlation heatmap's labels are unreadable; the hover tool still works.
MOST_LABELLED_FACTORS = 25


def ic_chart(ic: pd.Series, window: int = 63, title: str = "Rank IC over time") -> hv.Overlay:
    """Plot a factor's daily IC (thin, grey) under its rolling mean over ``window`` dates.

    Parameters
    ----------
    ic : pandas.Series
        IC per date (NaN where the date was not scored).
    window : int
        Dates in the rolling mean; it needs half of them scored to show a value.
    title : str
        Chart title.
    """
    ic = pd.Series(ic, dtype="float64").dropna()
    time = hv.Dimension("time", label="Date")
    value = hv.Dimension("ic", label="IC")
    rolling = ic.rolling(window, min_periods=max(1, window // 2)).mean()
    daily = hv.Curve((ic.index, ic.to_numpy()), time, value, label="daily").opts(color="#b0b0b0", line_width=1)
    smooth = hv.Curve((rolling.index, rolling.to_numpy()), time, value, label=f"{window}-date mean").opts(
        color="#0b5394", line_width=2, tools=["hover"],
    )
    zero = hv.HLine(0.0).opts(color="black", line_width=1)
    return (daily * smooth * zero).opts(title=title, responsive=True, height=300, show_grid=True,
                                        legend_position="top_left")


def quantile_returns_chart(returns: pd.Series, horizon: int, title: str | None = None) -> hv.Bars:
    """Plot the mean ``horizon``-bar forward return of each factor quantile (1 = lowest values), in percent."""
    frame = pd.DataFrame({"quantile": [str(int(q)) for q in returns.index],
                          "return": 100.0 * np.asarray(returns, dtype="float64")})
    return hv.Bars(frame, hv.Dimension("quantile", label="Quantile (1 = lowest)"),
                   hv.Dimension("return", label=f"Mean {horizon}-bar return (%)")).opts(
        title=title or f"Quantile returns, {horizon}-bar horizon", responsive=True, height=280, tools=["hover"],
        color="#0b5394", show_grid=True,
    )


def decay_chart(rank_ic_mean: pd.Series, title: str = "Decay: mean rank IC by horizon") -> hv.Overlay:
    """Plot the mean rank IC at each scored horizon (index: horizon in bars)."""
    horizon = hv.Dimension("horizon", label="Horizon (bars)")
    value = hv.Dimension("rank_ic_mean", label="Mean rank IC")
    points = (rank_ic_mean.index.astype(int), np.asarray(rank_ic_mean, dtype="float64"))
    return (hv.Curve(points, horizon, value) * hv.Scatter(points, horizon, value).opts(size=8, tools=["hover"])
            * hv.HLine(0.0).opts(color="black", line_width=1)).opts(
        title=title, responsive=True, height=280, show_grid=True,
    )


def correlation_heatmap(correlation: xr.DataArray, title: str = "Rank correlation between factors") -> hv.HeatMap:
    """Plot the result of :func:`quantdesk.factors.scoring.factor_correlation`, factors in the given order."""
    labels = [str(label) for label in correlation["factor"].to_numpy()]
    matrix = np.asarray(correlation.to_numpy(), dtype="float64")
    rows = [(labels[j], labels[i], matrix[i, j]) for i in range(len(labels)) for j in range(len(labels))]
    frame = pd.DataFrame(rows, columns=["factor", "other", "rho"])
    x = hv.Dimension("factor", label="Factor", values=labels)
    y = hv.Dimension("other", label="Other factor", values=labels[::-1])  # the top-ranked factor at the top left
    size = max(320, min(900, 28 * len(labels) + 220))
    return hv.HeatMap(frame, [x, y], hv.Dimension("rho", label="Rank correlation", range=(-1.0, 1.0))).opts(
        cmap="RdBu_r", clim=(-1.0, 1.0), colorbar=True, tools=["hover"], title=title, height=size, responsive=True,
        xrotation=60, toolbar=None,
        xaxis=None if len(labels) > MOST_LABELLED_FACTORS else "bottom",
        yaxis=None if len(labels) > MOST_LABELLED_FACTORS else "left",
    )


def regime_chart(table: pd.DataFrame, title: str = "Mean rank IC by regime") -> hv.Bars:
    """Plot a factor's mean IC in each regime: ``table`` indexed by regime with ``mean`` and ``dates`` columns."""
    frame = pd.DataFrame({"regime": [str(r) for r in table.index], "mean": table["mean"].to_numpy(dtype="float64"),
                          "dates": table["dates"].to_numpy()})
    return hv.Bars(frame, hv.Dimension("regime", label="Regime"),
                   [hv.Dimension("mean", label="Mean IC"), "dates"]).opts(
        title=title, responsive=True, height=260, tools=["hover"], color="#6aa84f", show_grid=True,
    )
