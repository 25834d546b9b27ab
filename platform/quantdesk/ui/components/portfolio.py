"""Charts of one optimized portfolio: weights, sectors, frontier, correlations, risk contributions, attribution."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import numpy as np
import pandas as pd

from quantdesk.portfolio.optimize import Allocation

BLUE, RED, GREY = "#0b5394", "#c0392b", "#999999"


def _bars(values: pd.Series, key: str, key_label: str, value_label: str, title: str, percent: bool = True) -> hv.Bars:
    frame = pd.DataFrame({key: [str(k) for k in values.index],
                          "value": (100.0 if percent else 1.0) * np.asarray(values, dtype="float64")})
    frame["sign"] = np.where(frame["value"] < 0, "negative", "positive")
    return hv.Bars(frame, hv.Dimension(key, label=key_label), [hv.Dimension("value", label=value_label), "sign"]).opts(
        title=title, responsive=True, height=300, tools=["hover"], show_grid=True, xrotation=30,
        color="sign", cmap={"positive": BLUE, "negative": RED}, show_legend=False,
    )


def weights_chart(weights: pd.Series, title: str = "Weights") -> hv.Bars:
    """Plot each asset's weight in percent (shorts in red)."""
    return _bars(weights, "asset", "Asset", "Weight (%)", title)


def sector_chart(sector_weights: pd.Series, title: str = "Weight by sector") -> hv.Bars:
    """Plot each sector's summed weight in percent."""
    return _bars(sector_weights, "sector", "Sector", "Weight (%)", title)


def risk_contribution_chart(allocation: Allocation, title: str | None = None) -> hv.Bars:
    """Plot each asset's contribution to the annual volatility, in percentage points; the bars sum to the volatility."""
    title = title or f"Risk contribution (sums to the volatility, {100 * allocation.volatility:.2f}%)"
    return _bars(allocation.risk_contribution, "asset", "Asset", "Contribution to volatility (% points)", title)


def frontier_chart(frontier: pd.DataFrame, allocation: Allocation, assets: pd.DataFrame | None = None,
                   title: str = "Efficient frontier") -> hv.Overlay:
    """Plot the frontier (volatility vs expected return, in percent) with the chosen portfolio marked.

    Parameters
    ----------
    frontier : pandas.DataFrame
        :func:`quantdesk.portfolio.efficient_frontier` output.
    allocation : Allocation
        The chosen portfolio, drawn as a red star.
    assets : pandas.DataFrame, optional
        Columns ``volatility`` and ``expected_return`` indexed by asset: each asset alone, as grey dots.
    """
    volatility = hv.Dimension("volatility", label="Annual volatility (%)")
    expected = hv.Dimension("expected_return", label="Expected annual return (%)")
    curve = hv.Curve((100 * frontier["volatility"], 100 * frontier["expected_return"]), volatility, expected,
                     label="efficient frontier").opts(color=BLUE, line_width=2, tools=["hover"])
    layers = [curve]
    if assets is not None:
        points = pd.DataFrame({"volatility": 100 * assets["volatility"], "expected_return": 100 * assets["expected_return"],
                               "asset": [str(a) for a in assets.index]})
        layers.append(hv.Scatter(points, volatility, [expected, "asset"], label="single assets")
                      .opts(color=GREY, size=8, tools=["hover"]))
        layers.append(hv.Labels(points, [volatility, expected], "asset")
                      .opts(text_font_size="8pt", text_color="#555555", yoffset=1.0))
    chosen = hv.Scatter([(100 * allocation.volatility, 100 * allocation.expected_return)], volatility, expected,
                        label=f"chosen ({allocation.method})").opts(color=RED, marker="star", size=18, tools=["hover"])
    layers.append(chosen)
    return hv.Overlay(layers).opts(title=title, responsive=True, height=380, show_grid=True, legend_position="bottom_right",
                                   padding=0.08)


def asset_correlation_heatmap(correlation: pd.DataFrame, title: str = "Correlation of returns") -> hv.Overlay:
    """Plot an asset x asset correlation matrix, each cell labelled."""
    labels = [str(a) for a in correlation.index]
    matrix = correlation.to_numpy(dtype="float64")
    cells = pd.DataFrame([(labels[j], labels[i], matrix[i, j]) for i in range(len(labels)) for j in range(len(labels))],
                         columns=["asset", "other", "rho"])
    cells["label"] = cells["rho"].map(lambda value: f"{value:.2f}")
    x = hv.Dimension("asset", label="Asset", values=labels)
    y = hv.Dimension("other", label="Other asset", values=labels[::-1])
    size = max(320, min(800, 45 * len(labels) + 200))
    heatmap = hv.HeatMap(cells, [x, y], [hv.Dimension("rho", label="Correlation", range=(-1.0, 1.0)), "label"]).opts(
        cmap="RdBu_r", clim=(-1.0, 1.0), colorbar=True, tools=["hover"], title=title, height=size, responsive=True,
        xrotation=30, toolbar=None,
    )
    if len(labels) > 20:
        return hv.Overlay([heatmap])
    return heatmap * hv.Labels(cells, [x, y], "label").opts(text_font_size="8pt", text_color="black")


def attribution_chart(effects: pd.DataFrame, title: str = "Brinson-Fachler attribution by sector") -> hv.Bars:
    """Plot allocation, selection and interaction effects (percentage points) per group, side by side.

    ``effects`` is indexed by group (sector or factor) with one column per effect.
    """
    frame = (100.0 * effects).rename_axis("group").reset_index().melt("group", var_name="effect", value_name="value")
    frame["group"] = frame["group"].astype(str)
    effect = hv.Dimension("effect", values=list(effects.columns))
    return hv.Bars(frame, [hv.Dimension("group", label=str(effects.index.name or "group").capitalize()), effect],
                   hv.Dimension("value", label="Effect (% points)")).opts(
        title=title, responsive=True, height=320, tools=["hover"], show_grid=True, xrotation=30,
    )


def cumulative_returns_chart(returns: pd.DataFrame, title: str = "Growth of 1") -> hv.Overlay:
    """Plot the growth of one unit invested in each column of per-bar returns."""
    time = hv.Dimension("time", label="Date")
    value = hv.Dimension("growth", label="Growth of 1")
    growth = (1.0 + returns.fillna(0.0)).cumprod()
    curves = [hv.Curve((growth.index, growth[name].to_numpy()), time, value, label=str(name)).opts(tools=["hover"])
              for name in growth.columns]
    return hv.Overlay(curves).opts(title=title, responsive=True, height=320, show_grid=True, legend_position="top_left")
