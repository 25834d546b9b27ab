"""Momentum and reversal: price changes and trends over many windows.

Windows count bars (trading days on daily data). A factor over ``window`` bars needs the
closes of the last ``window + 1`` bars when it is built from changes, and is NaN before.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.kernels import (
    INTERCEPT,
    R_SQUARED,
    SLOPE,
    benchmark_series,
    check_window,
    column,
    divide,
    lagged,
    log,
    log_returns,
    rolling_extremum,
    rolling_mean,
    rolling_regression,
    rolling_sum,
    rolling_trend,
    rolling_variance,
)
from quantdesk.factors.registry import factor

FAMILY = "momentum"


@factor(family=FAMILY, grid={"window": (1, 2, 3, 5, 10, 15, 21, 42, 63, 126, 189, 252)}, inputs=("close",))
def momentum(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the price change over ``window`` bars, ``close_t / close_{t-window} - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``close`` (time, asset).
    window : int
        Bars between the two closes.

    Returns
    -------
    numpy.ndarray
        (time, asset); NaN in the first ``window`` rows and where either close is missing.
    """
    window = check_window("momentum", "window", window)
    close = column(data, "close", "momentum")
    return divide(close, lagged(close, window)) - 1.0


@factor(family=FAMILY, grid={"window": (126, 189, 252), "skip": (5, 10, 21)}, inputs=("close",))
def momentum_skip(data: Mapping[str, np.ndarray], window: int = 252, skip: int = 21) -> np.ndarray:
    """Return the price change from ``window`` bars ago to ``skip`` bars ago (the classic "12-1" momentum).

    ``close_{t-skip} / close_{t-window} - 1``: leaving out the last ``skip`` bars keeps the
    short-term reversal out of the momentum signal (Jegadeesh and Titman, 1993).

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars back to the start of the period.
    skip : int
        Most recent bars left out; less than ``window``.
    """
    window = check_window("momentum_skip", "window", window)
    skip = check_window("momentum_skip", "skip", skip, minimum=0)
    if skip >= window:
        raise QuantDeskError(f"Factor 'momentum_skip': skip={skip} must be less than window={window}")
    close = column(data, "close", "momentum_skip")
    return divide(lagged(close, skip), lagged(close, window)) - 1.0


@factor(family=FAMILY, grid={"window": (1, 2, 3, 5, 10, 21)}, inputs=("returns", "cross_mean"))
def reversal(data: Mapping[str, np.ndarray], window: int = 5) -> np.ndarray:
    """Return minus the log return over ``window`` bars in excess of the cross-sectional mean's.

    ``-(sum ln(1 + r) - sum ln(1 + cross_mean))`` over the last ``window`` bars: a high value
    marks an asset that fell behind the universe and, by short-term reversal, may catch up.
    The cross-sectional mean is computed on the whole universe by the panel, so blocks of
    assets get the same value.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` (time, asset) and ``cross_mean`` (time,).
    window : int
        Bars summed.
    """
    window = check_window("reversal", "window", window)
    returns = column(data, "returns", "reversal")
    universe = benchmark_series(data, "cross_mean", returns.shape[0], "reversal")
    own = rolling_sum(np.log1p(returns), window)
    return -(own - rolling_sum(np.log1p(universe), window))


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252)}, inputs=("close",))
def risk_adjusted_momentum(data: Mapping[str, np.ndarray], window: int = 126) -> np.ndarray:
    """Return the t-statistic of the mean log return over ``window`` bars, ``mean / std * sqrt(window)``.

    The standard deviation has ``ddof=1``; a window without variation gives NaN.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Log returns in the window (needs ``window + 1`` closes); at least 2.
    """
    window = check_window("risk_adjusted_momentum", "window", window, minimum=2)
    steps = log_returns(column(data, "close", "risk_adjusted_momentum"))
    return divide(rolling_mean(steps, window), np.sqrt(rolling_variance(steps, window, 1))) * np.sqrt(window)


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252)}, inputs=("close",))
def high_proximity(data: Mapping[str, np.ndarray], window: int = 252) -> np.ndarray:
    """Return the close relative to the highest close of the last ``window`` bars (1 at a new high).

    The 52-week-high effect (George and Hwang, 2004) with ``window=252``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars in the window, this one included.
    """
    window = check_window("high_proximity", "window", window)
    close = column(data, "close", "high_proximity")
    return divide(close, rolling_extremum(close, window, True))


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252)}, inputs=("close",))
def low_proximity(data: Mapping[str, np.ndarray], window: int = 252) -> np.ndarray:
    """Return the close relative to the lowest close of the last ``window`` bars (1 at a new low).

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars in the window, this one included.
    """
    window = check_window("low_proximity", "window", window)
    close = column(data, "close", "low_proximity")
    return divide(close, rolling_extremum(close, window, False))


@factor(family=FAMILY, grid={"window": (10, 21, 42, 63, 126, 252)}, inputs=("close",))
def trend_slope(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the least-squares slope of the log close on time over ``window`` bars (log change per bar).

    Less sensitive to the two end points than :func:`momentum`.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Closes in the fit; at least 2.
    """
    window = check_window("trend_slope", "window", window, minimum=2)
    return rolling_trend(log(column(data, "close", "trend_slope")), window, SLOPE)


@factor(family=FAMILY, grid={"window": (10, 21, 42, 63, 126, 252)}, inputs=("close",))
def trend_quality(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the R² of the log close's linear trend over ``window`` bars, signed by the trend's direction.

    Near +1 for a steady rise, near -1 for a steady fall, near 0 for no trend.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Closes in the fit; at least 3.
    """
    window = check_window("trend_quality", "window", window, minimum=3)
    levels = log(column(data, "close", "trend_quality"))
    return np.sign(rolling_trend(levels, window, SLOPE)) * rolling_trend(levels, window, R_SQUARED)


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252)}, inputs=("returns",))
def positive_fraction(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the fraction of the last ``window`` bars with a positive return.

    The consistency of a move ("frog in the pan", Da, Gurun and Warachka, 2014).

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Bars counted.
    """
    window = check_window("positive_fraction", "window", window)
    returns = column(data, "returns", "positive_fraction")
    with np.errstate(invalid="ignore"):
        up = np.where(np.isfinite(returns), (returns > 0.0).astype(np.float64), np.nan)
    return rolling_mean(up, window)


@factor(family=FAMILY, grid={"window": (63, 126, 252)}, inputs=("returns", "market"))
def market_adjusted_momentum(data: Mapping[str, np.ndarray], window: int = 126) -> np.ndarray:
    """Return the return over ``window`` bars not explained by the market, ``sum r - beta * sum m``.

    ``beta`` is the least-squares slope of the asset's returns on the market's over the same
    window, so the value is ``window`` times the regression's intercept: the asset's own
    (idiosyncratic) momentum.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` (time, asset) and ``market`` (time,).
    window : int
        Bars in the regression; at least 3.
    """
    window = check_window("market_adjusted_momentum", "window", window, minimum=3)
    returns = column(data, "returns", "market_adjusted_momentum")
    market = benchmark_series(data, "market", returns.shape[0], "market_adjusted_momentum")
    return rolling_regression(returns, market, window, INTERCEPT) * window


@factor(family=FAMILY, grid={"window": (10, 20, 42, 126, 252)}, inputs=("close",))
def momentum_acceleration(data: Mapping[str, np.ndarray], window: int = 126) -> np.ndarray:
    """Return the log change over the last half of ``window`` minus the log change over its first half.

    With ``h = window // 2``: ``ln(close_t / close_{t-h}) - ln(close_{t-h} / close_{t-2h})``;
    positive when the trend is speeding up.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars spanned (two halves of ``window // 2``); at least 2.
    """
    window = check_window("momentum_acceleration", "window", window, minimum=2)
    half = window // 2
    levels = log(column(data, "close", "momentum_acceleration"))
    middle = lagged(levels, half)
    return (levels - middle) - (middle - lagged(levels, 2 * half))
