"""Charts of the risk of a book: limit utilization, exposures, and the VaR/ES history with its exceptions."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend the options below belong to)
import numpy as np
import pandas as pd

LEVEL_COLOURS = {"ok": "#2e7d32", "soft": "#ef8f00", "hard": "#c0392b"}
BLUE, RED, GREY = "#0b5394", "#c0392b", "#999999"
UTILIZATION_CAP = 200.0  # percent drawn at most: one runaway limit must not flatten every other bar


def utilization_chart(statuses: pd.DataFrame, title: str = "Limit utilization") -> hv.Overlay:
    """Plot each measured limit's value as a percentage of its hard level, coloured by level, with the 100% line.

    Bars are green below the soft level, amber above it and red above the hard level.

    Parameters
    ----------
    statuses : pandas.DataFrame
        Columns ``limit_id``, ``utilization`` (value / hard level) and ``level`` (``ok``, ``soft``, ``hard``):
        the limits of a monitor snapshot.
    """
    frame = pd.DataFrame({
        "limit_id": statuses["limit_id"].astype(str).to_numpy(),
        "percent": np.minimum(100.0 * statuses["utilization"].astype("float64").to_numpy(), UTILIZATION_CAP),
        "level": statuses["level"].astype(str).to_numpy(),
    })  # fmt: skip
    top = max(110.0, float(frame["percent"].max()) * 1.05) if len(frame) else 110.0
    bars = hv.Bars(frame, hv.Dimension("limit_id", label="Limit"),
                   [hv.Dimension("percent", label="Utilization (% of hard level)"), "level"]).opts(
        title=title, responsive=True, height=320, tools=["hover"], xrotation=30, ylim=(0, top),
        color="level", cmap=LEVEL_COLOURS, show_legend=False, show_grid=True,
    )
    return bars * hv.HLine(100.0).opts(color=RED, line_dash="dashed", line_width=1)


def exposure_chart(exposures: pd.DataFrame, by: str = "instrument_id", title: str | None = None) -> hv.Bars:
    """Plot net market value per instrument (``by="instrument_id"``) or per sector (``by="sector"``); shorts in red."""
    label = {"instrument_id": "Instrument", "sector": "Sector"}[by]
    keys = exposures[by].fillna("no sector").astype(str) if len(exposures) else pd.Series(dtype=str)
    totals = exposures["exposure"].astype("float64").groupby(keys.to_numpy()).sum() if len(exposures) else pd.Series(dtype="float64")
    frame = pd.DataFrame({by: totals.index.astype(str), "exposure": totals.to_numpy()})
    frame["sign"] = np.where(frame["exposure"] < 0, "short", "long")
    return hv.Bars(frame, hv.Dimension(by, label=label), [hv.Dimension("exposure", label="Exposure (USD)"), "sign"]).opts(
        title=title or f"Exposure by {label.lower()}", responsive=True, height=260, tools=["hover"], show_grid=True,
        color="sign", cmap={"long": BLUE, "short": RED}, show_legend=False, yformatter="%.0f",
    )


def var_history_chart(history: pd.DataFrame, title: str = "VaR/ES history") -> hv.Overlay:
    """Plot daily P&L against minus VaR and minus ES, with the exceptions (loss beyond VaR) marked in red.

    Parameters
    ----------
    history : pandas.DataFrame
        :func:`quantdesk.risk.var_backtest.rolling_var` output: ``value_at_risk``,
        ``expected_shortfall``, ``profit_and_loss``, ``exception``, indexed by day.
    """
    time = hv.Dimension("time", label="Date")
    money = hv.Dimension("usd", label="P&L (USD)")
    days = history.index
    pnl = hv.Scatter((days, history["profit_and_loss"].to_numpy()), time, money, label="daily P&L").opts(
        color=GREY, size=3, alpha=0.6, tools=["hover"])
    var = hv.Curve((days, -history["value_at_risk"].to_numpy()), time, money, label="-VaR").opts(color=BLUE, line_width=2,
                                                                                             tools=["hover"])
    es = hv.Curve((days, -history["expected_shortfall"].to_numpy()), time, money, label="-ES").opts(
        color=BLUE, line_dash="dashed", line_width=1)
    hits = history[history["exception"]]
    exceptions = hv.Scatter((hits.index, hits["profit_and_loss"].to_numpy()), time, money,
                            label=f"exceptions ({len(hits)})").opts(color=RED, size=7, marker="x", tools=["hover"])
    return (pnl * var * es * exceptions).opts(title=title, responsive=True, height=320, legend_position="bottom_left",
                                             show_grid=True, yformatter="%.0f")
