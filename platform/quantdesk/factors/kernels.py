"""Numba kernels and array helpers the built-in factor library is made of.

Every kernel takes float64 arrays of shape ``(time, asset)`` and returns a new array of the
same shape; none writes into its inputs, and the value at bar ``t`` depends on bars ``<= t``
only. Each costs O(1) work per value (running sums, Welford updates, recursions, block-wise
extremes); the exception is :func:`rolling_mean_absolute_deviation`, O(window) per value, used
by CCI with short windows.

Loop order: time in the outer loop, assets in the inner loop, with one slot of state per
asset. On C-ordered ``(time, asset)`` arrays this reads memory in order and lets the compiler
vectorize across assets; measured here on 2,520 x 500 it was five times faster than walking
one asset's column at a time (strided reads). Kernels are serial and release the GIL: the
pipeline gets its parallelism from blocks of assets on Dask workers, which must not be
oversubscribed by threads inside the kernels.

Missing values
--------------
One rule everywhere: **a value is NaN when any observation it needs is missing.** An
observation is missing when it is NaN or infinite.

* A rolling statistic over ``window`` bars is NaN until ``window`` bars have passed and while
  any bar of its window is missing; it comes back once the missing bar has left the window.
  This is pandas' ``rolling(window)`` with its default ``min_periods=window``.
* A recursive average (EMA, Wilder) is seeded with the simple mean of its first ``window``
  valid observations, so its first value appears on the ``window``-th one; a missing
  observation gives NaN and restarts the recursion, which then waits for a fresh seed.
* A cumulative sum restarts from zero after a missing observation.
* The GARCH filter (:func:`garch_forecast`) is the one exception: a conditional variance is a
  state, not a window, so it carries over a missing return (NaN on that bar only).

An asset that is missing before its listing (a leading run of NaN) is therefore warmed up
from its first bar, and an all-NaN column gives an all-NaN output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numba import njit

from quantdesk.errors import QuantDeskError

# Output selectors of rolling_regression.
BETA = 0
CORRELATION = 1
RESIDUAL_STD = 2
INTERCEPT = 3
COVARIANCE = 4

# Output selectors of rolling_trend.
SLOPE = 0
R_SQUARED = 1


# --------------------------------------------------------------------------------------
# Rolling sums and moments
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Return the sum of each ``window`` bars (NaN while the window is short or holds a missing value)."""
    steps, assets = values.shape
    out = np.empty((steps, assets))
    total = np.zeros(assets)
    missing = np.zeros(assets, np.int64)
    for t in range(steps):
        for a in range(assets):
            value = values[t, a]
            if math.isfinite(value):
                total[a] += value
            else:
                missing[a] += 1
            if t >= window:
                old = values[t - window, a]
                if math.isfinite(old):
                    total[a] -= old
                else:
                    missing[a] -= 1
            if missing[a] == 0 and t >= window - 1:
                out[t, a] = total[a]
            else:
                out[t, a] = np.nan
            if missing[a] == min(t + 1, window):
                # Nothing valid in the window: drop the rounding residue of past sums.
                total[a] = 0.0
    return out


@njit(cache=True, nogil=True)
def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Return the mean of each ``window`` bars."""
    out = rolling_sum(values, window)
    scale = 1.0 / window
    steps, assets = out.shape
    for t in range(steps):
        for a in range(assets):
            out[t, a] *= scale
    return out


@njit(cache=True, nogil=True)
def rolling_variance(values: np.ndarray, window: int, ddof: int) -> np.ndarray:
    """Return the variance of each ``window`` bars with ``ddof`` degrees of freedom removed.

    Welford's updates for adding and removing an observation keep the error relative to
    the variance, not to the level: a price series of level 500 and daily moves of 1 loses
    no more digits than its returns do.
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    count = np.zeros(assets, np.int64)
    mean = np.zeros(assets)
    squares = np.zeros(assets)
    missing = np.zeros(assets, np.int64)
    for t in range(steps):
        for a in range(assets):
            if t >= window:
                old = values[t - window, a]
                if math.isfinite(old):
                    count[a] -= 1
                    if count[a] == 0:
                        mean[a] = 0.0
                        squares[a] = 0.0
                    else:
                        delta = old - mean[a]
                        mean[a] -= delta / count[a]
                        squares[a] -= delta * (old - mean[a])
                else:
                    missing[a] -= 1
            value = values[t, a]
            if math.isfinite(value):
                count[a] += 1
                delta = value - mean[a]
                mean[a] += delta / count[a]
                squares[a] += delta * (value - mean[a])
            else:
                missing[a] += 1
            if missing[a] == 0 and t >= window - 1:
                out[t, a] = max(squares[a], 0.0) / (window - ddof)
            else:
                out[t, a] = np.nan
    return out


@njit(cache=True, nogil=True)
def rolling_regression(response: np.ndarray, regressor: np.ndarray, window: int, output: int) -> np.ndarray:
    """Return a statistic of the least-squares line of ``response`` on ``regressor`` over each window.

    ``regressor`` has shape ``(time, asset)`` or ``(time, 1)``: one series (the market, a
    macro series) shared by every asset, read without copying it out to every column.
    ``output`` selects the statistic: :data:`BETA` (slope), :data:`CORRELATION`,
    :data:`RESIDUAL_STD` (residual standard deviation with ``window - 2`` degrees of freedom),
    :data:`INTERCEPT` or :data:`COVARIANCE` (``ddof=1``). A bar counts as missing when either
    series is missing there. A window where the regressor (or, for the correlation, either
    series) does not vary gives NaN.

    Sums of deviations from an anchor (each series' first valid value since the window was
    last empty) run with no division, and the statistics come from them in a separate pass
    that vectorizes (twice as fast as Welford's updates here). The anchor keeps the sums
    small for returns, changes and log volumes, which is what the library regresses; for
    trending levels prefer their changes.
    """
    steps, assets = response.shape
    shared = regressor.shape[1] == 1
    out = np.empty((steps, assets))
    count = np.zeros(assets, np.int64)
    anchor_x = np.zeros(assets)
    anchor_y = np.zeros(assets)
    sx = np.zeros(assets)
    sy = np.zeros(assets)
    sxx = np.zeros(assets)
    syy = np.zeros(assets)
    sxy = np.zeros(assets)
    missing = np.zeros(assets, np.int64)
    n = float(window)
    inverse = 1.0 / n
    for t in range(steps):
        for a in range(assets):
            column = 0 if shared else a
            if t >= window:
                x = regressor[t - window, column]
                y = response[t - window, a]
                if math.isfinite(x) and math.isfinite(y):
                    count[a] -= 1
                    dx = x - anchor_x[a]
                    dy = y - anchor_y[a]
                    sx[a] -= dx
                    sy[a] -= dy
                    sxx[a] -= dx * dx
                    syy[a] -= dy * dy
                    sxy[a] -= dx * dy
                    if count[a] == 0:
                        sx[a] = sy[a] = sxx[a] = syy[a] = sxy[a] = 0.0
                else:
                    missing[a] -= 1
            x = regressor[t, column]
            y = response[t, a]
            if math.isfinite(x) and math.isfinite(y):
                if count[a] == 0:
                    anchor_x[a] = x
                    anchor_y[a] = y
                count[a] += 1
                dx = x - anchor_x[a]
                dy = y - anchor_y[a]
                sx[a] += dx
                sy[a] += dy
                sxx[a] += dx * dx
                syy[a] += dy * dy
                sxy[a] += dx * dy
            else:
                missing[a] += 1
        for a in range(assets):
            result = np.nan
            if missing[a] == 0 and t >= window - 1:
                vx = sxx[a] - sx[a] * sx[a] * inverse
                vy = syy[a] - sy[a] * sy[a] * inverse
                cxy = sxy[a] - sx[a] * sy[a] * inverse
                if output == COVARIANCE:
                    result = cxy / (n - 1.0)
                elif output == CORRELATION:
                    if vx > 0.0 and vy > 0.0:
                        result = min(max(cxy / math.sqrt(vx * vy), -1.0), 1.0)
                elif vx > 0.0:
                    slope = cxy / vx
                    if output == BETA:
                        result = slope
                    elif output == INTERCEPT:
                        result = (sy[a] - slope * sx[a]) * inverse + anchor_y[a] - slope * anchor_x[a]
                    elif output == RESIDUAL_STD and window > 2:
                        result = math.sqrt(max(vy - slope * cxy, 0.0) / (n - 2.0))
            out[t, a] = result
    return out


@njit(cache=True, nogil=True)
def rolling_shape(values: np.ndarray, window: int, kurtosis: bool) -> np.ndarray:
    """Return the sample skewness (or excess kurtosis) of each window, bias-corrected as pandas does.

    Skewness is the adjusted Fisher-Pearson coefficient ``sqrt(n(n-1))/(n-2) * m3/m2^1.5``;
    excess kurtosis is ``(n-1)/((n-2)(n-3)) * ((n+1) m4/m2^2 - 3(n-1))``, with ``m_k`` the
    central moments (divided by ``n``). These are pandas' ``rolling().skew()/.kurt()``,
    scipy's ``skew(bias=False)``/``kurtosis(bias=False)`` and Excel's SKEW/KURT.
    A window without variation gives NaN.

    Power sums are taken about an anchor (the first valid value since the window was last
    empty), which keeps them small for returns and prices alike.
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    anchor = np.zeros(assets)
    count = np.zeros(assets, np.int64)
    s1 = np.zeros(assets)
    s2 = np.zeros(assets)
    s3 = np.zeros(assets)
    s4 = np.zeros(assets)
    missing = np.zeros(assets, np.int64)
    n = float(window)
    inverse = 1.0 / n
    skew_scale = math.sqrt(n * (n - 1.0)) / (n - 2.0) if window >= 3 else np.nan
    kurtosis_scale = (n - 1.0) / ((n - 2.0) * (n - 3.0)) if window >= 4 else np.nan
    for t in range(steps):
        for a in range(assets):
            if t >= window:
                old = values[t - window, a]
                if math.isfinite(old):
                    count[a] -= 1
                    d = old - anchor[a]
                    d2 = d * d
                    s1[a] -= d
                    s2[a] -= d2
                    s3[a] -= d2 * d
                    s4[a] -= d2 * d2
                    if count[a] == 0:
                        s1[a] = s2[a] = s3[a] = s4[a] = 0.0
                else:
                    missing[a] -= 1
            value = values[t, a]
            if math.isfinite(value):
                if count[a] == 0:
                    anchor[a] = value
                count[a] += 1
                d = value - anchor[a]
                d2 = d * d
                s1[a] += d
                s2[a] += d2
                s3[a] += d2 * d
                s4[a] += d2 * d2
            else:
                missing[a] += 1
        # A separate pass for the moments: free of the branches above, it vectorizes
        # (measured four times faster than computing them inside the update loop).
        for a in range(assets):
            result = np.nan
            if missing[a] == 0 and t >= window - 1:
                mu = s1[a] * inverse
                square = s2[a] * inverse
                m2 = square - mu * mu
                if m2 > 1e-14 * square and m2 > 0.0:
                    if kurtosis:
                        m4 = s4[a] * inverse - mu * (4.0 * s3[a] * inverse - mu * (6.0 * square - 3.0 * mu * mu))
                        result = kurtosis_scale * ((n + 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0))
                    else:
                        m3 = s3[a] * inverse - mu * (3.0 * square - 2.0 * mu * mu)
                        result = skew_scale * m3 / (m2 * math.sqrt(m2))
            out[t, a] = result
    return out


@njit(cache=True, nogil=True)
def rolling_mean_absolute_deviation(values: np.ndarray, window: int) -> np.ndarray:
    """Return the mean absolute deviation from the window's mean (O(window) per value).

    No running form exists for the absolute deviation from a moving mean; the inner loop
    runs over assets so it vectorizes, and CCI's windows are short.
    """
    steps, assets = values.shape
    out = np.full((steps, assets), np.nan)
    means = rolling_mean(values, window)
    total = np.empty(assets)
    for t in range(window - 1, steps):
        for a in range(assets):
            total[a] = 0.0
        for k in range(window):
            for a in range(assets):
                total[a] += abs(values[t - k, a] - means[t, a])
        for a in range(assets):
            if math.isfinite(means[t, a]):
                out[t, a] = total[a] / window
    return out


@njit(cache=True, nogil=True)
def rolling_trend(values: np.ndarray, window: int, output: int) -> np.ndarray:
    """Return the least-squares slope per bar (:data:`SLOPE`) or R² (:data:`R_SQUARED`) of each window on time.

    The regressor is the bar number, so its sums over a full window are known in closed
    form; only the sums of ``y`` and ``t * y`` (and ``y²`` for R²) run. ``y`` is taken
    about an anchor so the sums stay small.
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    anchor = np.zeros(assets)
    count = np.zeros(assets, np.int64)
    sy = np.zeros(assets)
    sty = np.zeros(assets)
    syy = np.zeros(assets)
    missing = np.zeros(assets, np.int64)
    n = float(window)
    # Centred time sums of a full window: sum (k - mean k)^2 for k = 0..n-1.
    stt = n * (n * n - 1.0) / 12.0
    for t in range(steps):
        for a in range(assets):
            if t >= window:
                old = values[t - window, a]
                if math.isfinite(old):
                    count[a] -= 1
                    if count[a] == 0:
                        sy[a] = sty[a] = syy[a] = 0.0
                    else:
                        d = old - anchor[a]
                        sy[a] -= d
                        sty[a] -= (t - window) * d
                        syy[a] -= d * d
                else:
                    missing[a] -= 1
            value = values[t, a]
            if math.isfinite(value):
                if count[a] == 0:
                    anchor[a] = value
                count[a] += 1
                d = value - anchor[a]
                sy[a] += d
                sty[a] += t * d
                syy[a] += d * d
            else:
                missing[a] += 1
            result = np.nan
            if missing[a] == 0 and t >= window - 1:
                mean_time = t - (n - 1.0) / 2.0
                covariance = sty[a] - mean_time * sy[a]
                if output == SLOPE:
                    result = covariance / stt
                else:
                    variance = syy[a] - sy[a] * sy[a] / n
                    if variance > 0.0:
                        result = min(covariance * covariance / (stt * variance), 1.0)
            out[t, a] = result
    return out


# --------------------------------------------------------------------------------------
# Rolling extremes
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def rolling_extremum(values: np.ndarray, window: int, maximum: bool) -> np.ndarray:
    """Return the rolling maximum (or minimum) of each ``window`` bars.

    Van Herk and Gil-Werman's method: cut time into blocks of ``window`` bars, take running
    extremes forward from each block's start and backward from its end; any window spans
    at most two blocks, so its extreme is the larger of the backward value at its first
    bar and the forward value at its last. Three comparisons per value, no branches that
    depend on the data, vectorized across assets (measured here two to four times faster
    than a monotonic deque).
    """
    steps, assets = values.shape
    sign = 1.0 if maximum else -1.0
    out = np.empty((steps, assets))
    backward = np.empty((steps, assets))
    for start in range(0, steps, window):
        stop = min(start + window, steps)
        for t in range(stop - 1, start - 1, -1):
            for a in range(assets):
                value = values[t, a]
                key = sign * value if math.isfinite(value) else -np.inf
                backward[t, a] = key if t == stop - 1 else max(backward[t + 1, a], key)
    forward = np.empty(assets)
    missing = np.zeros(assets, np.int64)
    for t in range(steps):
        first_of_block = t % window == 0
        for a in range(assets):
            value = values[t, a]
            if math.isfinite(value):
                key = sign * value
            else:
                key = -np.inf
                missing[a] += 1
            if t >= window and not math.isfinite(values[t - window, a]):
                missing[a] -= 1
            forward[a] = key if first_of_block else max(forward[a], key)
            if missing[a] == 0 and t >= window - 1:
                out[t, a] = sign * max(backward[t - window + 1, a], forward[a])
            else:
                out[t, a] = np.nan
    return out


@njit(cache=True, nogil=True)
def bars_since_extremum(values: np.ndarray, window: int, maximum: bool) -> np.ndarray:
    """Return the bars since the maximum (or minimum) of each ``window`` bars (0 = this bar).

    A monotonic deque per asset holds the bars that can still become the extremum, so each
    bar is pushed and popped once. Among equal extremes the earliest counts (as
    ``numpy.argmax``).
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    sign = 1.0 if maximum else -1.0
    # One ring buffer per asset, contiguous, with the keys cached beside the bar numbers so
    # popping does not reach back into ``values``.
    slots = np.zeros((assets, window), np.int64)
    keys = np.zeros((assets, window))
    head = np.zeros(assets, np.int64)
    size = np.zeros(assets, np.int64)
    missing = np.zeros(assets, np.int64)
    for t in range(steps):
        for a in range(assets):
            first = head[a]
            count = size[a]
            if t >= window and not math.isfinite(values[t - window, a]):
                missing[a] -= 1
            if count > 0 and slots[a, first] <= t - window:
                first = first + 1 if first + 1 < window else 0
                count -= 1
            value = values[t, a]
            if math.isfinite(value):
                key = sign * value
                while count > 0:
                    back = first + count - 1
                    if back >= window:
                        back -= window
                    if keys[a, back] < key:
                        count -= 1
                    else:
                        break
                slot = first + count
                if slot >= window:
                    slot -= window
                slots[a, slot] = t
                keys[a, slot] = key
                count += 1
            else:
                missing[a] += 1
            if missing[a] == 0 and t >= window - 1:
                out[t, a] = float(t - slots[a, first])
            else:
                out[t, a] = np.nan
            head[a] = first
            size[a] = count
    return out


# --------------------------------------------------------------------------------------
# Recursions
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def exponential_average(values: np.ndarray, alpha: float, seed: int) -> np.ndarray:
    """Return the exponential average ``e_t = e_{t-1} + alpha (x_t - e_{t-1})``, seeded by a simple mean.

    The first value is the mean of the first ``seed`` valid observations (TA-Lib's and
    Wilder's convention), so it appears on the ``seed``-th one; a missing observation gives
    NaN and restarts the seeding. ``alpha = 2 / (span + 1)`` gives the usual EMA,
    ``alpha = 1 / window`` Wilder's smoothing.
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    run = np.zeros(assets, np.int64)
    state = np.zeros(assets)
    for t in range(steps):
        for a in range(assets):
            value = values[t, a]
            if not math.isfinite(value):
                run[a] = 0
                state[a] = 0.0
                out[t, a] = np.nan
                continue
            run[a] += 1
            if run[a] < seed:
                state[a] += value
                out[t, a] = np.nan
            elif run[a] == seed:
                state[a] = (state[a] + value) / seed
                out[t, a] = state[a]
            else:
                state[a] += alpha * (value - state[a])
                out[t, a] = state[a]
    return out


@njit(cache=True, nogil=True)
def adaptive_average(values: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Return ``e_t = e_{t-1} + rate_t (x_t - e_{t-1})`` with a smoothing rate per bar (Kaufman's KAMA).

    The recursion starts from the previous bar's value at the first bar with a rate, and
    restarts the same way after a missing value or rate.
    """
    steps, assets = values.shape
    out = np.empty((steps, assets))
    running = np.zeros(assets, np.bool_)
    state = np.zeros(assets)
    for t in range(steps):
        for a in range(assets):
            value = values[t, a]
            rate = rates[t, a]
            if not (math.isfinite(value) and math.isfinite(rate)):
                running[a] = False
                out[t, a] = np.nan
                continue
            if not running[a]:
                if t == 0 or not math.isfinite(values[t - 1, a]):
                    out[t, a] = np.nan
                    continue
                state[a] = values[t - 1, a]
                running[a] = True
            state[a] += rate * (value - state[a])
            out[t, a] = state[a]
    return out


@njit(cache=True, nogil=True)
def cumulative_sum(values: np.ndarray) -> np.ndarray:
    """Return the running sum since the last missing observation (NaN on missing ones)."""
    steps, assets = values.shape
    out = np.empty((steps, assets))
    total = np.zeros(assets)
    for t in range(steps):
        for a in range(assets):
            value = values[t, a]
            if math.isfinite(value):
                total[a] += value
                out[t, a] = total[a]
            else:
                total[a] = 0.0
                out[t, a] = np.nan
    return out


@njit(cache=True, nogil=True)
def garch_forecast(
    returns: np.ndarray, mu: float, omega: float, alpha: float, beta: float, backcast: float
) -> np.ndarray:
    """Return the one-step-ahead GARCH(1,1) variance after each return of one asset.

    ``sigma2_1 = omega + (alpha + beta) * backcast`` (the variance of the first return, as
    ``arch`` starts its recursion), then after return ``r_t``:
    ``sigma2_{t+1} = omega + alpha (r_t - mu)^2 + beta sigma2_t``, reported at ``t``. A
    missing return is NaN and leaves the variance as it was (the process has no window to
    restart; the state carries over the gap).
    """
    out = np.empty(returns.shape[0])
    variance = omega + (alpha + beta) * backcast
    for t in range(returns.shape[0]):
        value = returns[t]
        if math.isfinite(value):
            residual = value - mu
            variance = omega + alpha * residual * residual + beta * variance
            out[t] = variance
        else:
            out[t] = np.nan
    return out


# --------------------------------------------------------------------------------------
# Array helpers (numpy)
# --------------------------------------------------------------------------------------


def column(data: Mapping[str, np.ndarray], name: str, factor_name: str) -> np.ndarray:
    """Return ``data[name]`` as a C-contiguous float64 array (a copy only when needed).

    Raises
    ------
    QuantDeskError
        When ``data`` has no ``name``.
    """
    if name not in data:
        held = ", ".join(sorted(data)) or "nothing"
        raise QuantDeskError(
            f"Factor {factor_name!r} needs the input {name!r}, which the data does not hold (it has {held})"
        )
    return np.ascontiguousarray(data[name], dtype=np.float64)


def benchmark_series(data: Mapping[str, np.ndarray], name: str, steps: int, factor_name: str) -> np.ndarray:
    """Return the ``(time,)`` series ``data[name]`` as a ``(time, 1)`` column for :func:`rolling_regression`.

    Raises
    ------
    QuantDeskError
        When the series is absent or not one value per bar.
    """
    series = column(data, name, factor_name)
    if series.ndim != 1 or series.shape[0] != steps:
        raise QuantDeskError(
            f"Factor {factor_name!r} needs {name!r} as one value per bar, shape ({steps},), not {series.shape}"
        )
    return series.reshape(steps, 1)


def check_window(factor_name: str, parameter: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int window, or raise QuantDeskError naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise QuantDeskError(
            f"Factor {factor_name!r}: {parameter}={value!r} must be a whole number of bars >= {minimum}"
        )
    return int(value)


def lagged(values: np.ndarray, lag: int) -> np.ndarray:
    """Return ``values`` shifted ``lag`` bars later in time (NaN in the first ``lag`` rows)."""
    out = np.full_like(values, np.nan)
    if lag < values.shape[0]:
        out[lag:] = values[: values.shape[0] - lag]
    return out


def divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return ``numerator / denominator`` with NaN where the denominator is zero or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(numerator / denominator, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


def root(values: np.ndarray) -> np.ndarray:
    """Return the square root of a mean of squares, clipping the rounding residue of running sums (-1e-20) to 0."""
    return np.sqrt(np.maximum(values, 0.0))


def log(values: np.ndarray) -> np.ndarray:
    """Return the natural logarithm, NaN where ``values`` is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(values)
    out[~np.isfinite(out)] = np.nan
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    """Return ``ln(close_t / close_{t-1})`` (NaN in the first row and next to missing closes)."""
    out = np.full_like(close, np.nan)
    out[1:] = log(divide(close[1:], close[:-1]))
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return Wilder's true range ``max(high, prior close) - min(low, prior close)`` (needs a prior close)."""
    prior = lagged(close, 1)
    return np.maximum(high, prior) - np.minimum(low, prior)
