"""Charts of many runs: objective heatmaps, walk-forward equity and parameter stability, Monte Carlo fans."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import numpy as np
import pandas as pd

MOST_LABELLED_CELLS = 150


def objective_heatmap(table: pd.DataFrame, x: str, y: str, objective_name: str = "objective") -> hv.Overlay:
    """Plot the best ``objective`` column for each (x, y) pair of parameter values, labelled when legible.

    Other varied parameters are maximized over, so each cell shows the best that pair can do.
    Grids of more than :data:`MOST_LABELLED_CELLS` cells (screens) are left to the hover tool.
    """
    ran = table.dropna(subset=["objective"])
    cells = ran.groupby([x, y], as_index=False)["objective"].max() if len(ran) else pd.DataFrame(columns=[x, y, "objective"])
    cells[x], cells[y] = cells[x].astype(str), cells[y].astype(str)
    cells["label"] = cells["objective"].map(lambda value: f"{value:.2f}")
    order = {name: [str(v) for v in sorted(table[name].dropna().unique())] for name in (x, y)}
    x_dim, y_dim = hv.Dimension(x, values=order[x]), hv.Dimension(y, values=order[y])
    heatmap = hv.HeatMap(cells, [x_dim, y_dim], [hv.Dimension("objective", label=objective_name), "label"]).opts(
        cmap="viridis", colorbar=True, tools=["hover"], responsive=True, height=360,
        title=f"Best {objective_name} by {x} and {y}", toolbar=None,
    )
    if len(cells) > MOST_LABELLED_CELLS:
        return hv.Overlay([heatmap])
    labels = hv.Labels(cells, [x_dim, y_dim], "label").opts(text_font_size="8pt", text_color="white")
    return heatmap * labels


def walk_forward_chart(equity: pd.Series, windows: pd.DataFrame, parameters: list[str]) -> hv.Layout:
    """Plot the stitched out-of-sample equity above the parameters chosen for each window."""
    time = hv.Dimension("time", label="Date")
    curve = hv.Curve((equity.index, equity.to_numpy()), time, hv.Dimension("equity", label="Equity (USD)")).opts(
        title="Out-of-sample equity, window after window", responsive=True, height=280, tools=["hover"], show_grid=True,
    )
    starts = hv.Overlay([hv.VLine(start).opts(color="gray", line_dash="dotted", line_width=1)
                         for start in windows["out_start"]])
    chosen = windows.dropna(subset=parameters) if parameters else windows
    steps = [
        hv.Curve((chosen["out_start"], chosen[name].astype(float)), time, hv.Dimension(name)).opts(
            interpolation="steps-post", tools=["hover"], responsive=True, height=150, show_grid=True,
            title=f"Chosen {name} per window", line_width=2,
        ) * hv.Scatter((chosen["out_start"], chosen[name].astype(float)), time, name).opts(size=6)
        for name in parameters
    ]
    return hv.Layout([curve * starts, *steps]).cols(1).opts(shared_axes=True)


def fan_chart(bands: pd.DataFrame, original: pd.Series | None = None, title: str = "Monte Carlo equity") -> hv.Overlay:
    """Plot quantile bands of simulated equity paths (one column per quantile, lowest first; index is the step).

    The outer band spans the first to the last column, the next one the pair inside it; an
    odd middle column (the median) is drawn as a line, and the original path dashed when given.
    """
    levels = list(bands.columns)
    step = hv.Dimension("step", label=str(bands.index.name or "step").capitalize())
    value = hv.Dimension("equity", label="Equity (USD)")
    layers = []
    for depth in range(len(levels) // 2):
        low, high = levels[depth], levels[-1 - depth]
        layers.append(hv.Area((bands.index, bands[low], bands[high]), step, [value, "upper"], label=f"{low}–{high}")
                      .opts(alpha=0.2 + 0.2 * depth, color="#1f77b4", line_width=0))
    if len(levels) % 2:
        middle = levels[len(levels) // 2]
        layers.append(hv.Curve((bands.index, bands[middle]), step, value, label=f"{middle} (median)").opts(color="#1f77b4"))
    if original is not None:
        layers.append(hv.Curve((original.index, original.to_numpy()), step, value, label="original run")
                      .opts(color="black", line_dash="dashed"))
    return hv.Overlay(layers).opts(title=title, responsive=True, height=340, show_grid=True, legend_position="top_left",
                                   yformatter="%.0f")


def distribution(values, label: str, threshold: float | None = None) -> hv.Overlay:
    """Plot a histogram of simulated values (e.g. max drawdowns), with an optional threshold line."""
    finite = values[pd.notna(values)]
    histogram = hv.Histogram(np.histogram(finite, bins=40), kdims=[hv.Dimension("value", label=label)]).opts(
        responsive=True, height=220, tools=["hover"], title=f"Distribution of {label}", color="#1f77b4", alpha=0.7,
        xformatter="%.4g",
    )
    if threshold is None:
        return histogram * hv.Overlay([])
    return histogram * hv.VLine(threshold).opts(color="firebrick", line_dash="dashed")
