"""Technical indicators, each over several parameters: oscillators, trend, bands, volume-weighted and shape measures.

Conventions shared by every indicator here:

* **EMA** of span ``n``: ``alpha = 2 / (n + 1)``; **Wilder** smoothing of window ``n``:
  ``alpha = 1 / n``. Both are seeded with the simple mean of the first ``n`` values
  (TA-Lib's and Wilder's convention) and are NaN before it; see
  :func:`quantdesk.factors.kernels.exponential_average`. pandas-style EMAs (and the ``ta``
  library) seed with the first value instead; the two agree once the seed has decayed.
* A change (``close_t - close_{t-1}``, true range, directional movement) needs the prior
  bar, so indicators built on changes start one bar later than ones built on levels.
* Levels in price units (MACD, ATR) are kept as the indicator defines them; the
  ``*_distance``/ratio forms and :func:`natr`/:func:`ppo` divide by price so assets compare.
* A ratio whose denominator is zero (a range with ``high == low`` over the whole window, no
  price movement at all) is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.kernels import (
    CORRELATION,
    adaptive_average,
    bars_since_extremum,
    check_window,
    column,
    cumulative_sum,
    divide,
    exponential_average,
    lagged,
    rolling_extremum,
    rolling_mean,
    rolling_mean_absolute_deviation,
    rolling_regression,
    rolling_shape,
    rolling_sum,
    rolling_variance,
    root,
    true_range,
)
from quantdesk.factors.registry import factor

FAMILY = "technical"
HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")


def _ema(values: np.ndarray, span: int) -> np.ndarray:
    return exponential_average(values, 2.0 / (span + 1.0), span)


def _wilder(values: np.ndarray, window: int) -> np.ndarray:
    return exponential_average(values, 1.0 / window, window)


def _bars(data: Mapping[str, np.ndarray], names: tuple[str, ...], factor_name: str) -> list[np.ndarray]:
    return [column(data, name, factor_name) for name in names]


def _ordered(factor_name: str, **windows: int) -> list[int]:
    """Check each window and that they increase in the order given; return them as ints."""
    checked = [check_window(factor_name, name, value) for name, value in windows.items()]
    names = list(windows)
    for (first, a), (second, b) in zip(zip(names, checked), zip(names[1:], checked[1:])):
        if a >= b:
            raise QuantDeskError(f"Factor {factor_name!r}: {first}={a} must be less than {second}={b}")
    return checked


def _changes(close: np.ndarray) -> np.ndarray:
    return close - lagged(close, 1)


def _close_location(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return ``((C - L) - (H - C)) / (H - L)`` in [-1, 1], 0 on a bar with no range (as ``ta`` does)."""
    span = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span == 0.0, 0.0, ((close - low) - (high - close)) / span)


def _share(part: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Return ``100 * part / (part + other)``, NaN when both are zero."""
    return 100.0 * divide(part, part + other)


# --------------------------------------------------------------------------------------
# Oscillators
# --------------------------------------------------------------------------------------


def _rsi(close: np.ndarray, window: int) -> np.ndarray:
    moves = _changes(close)
    gains = np.where(np.isnan(moves), np.nan, np.maximum(moves, 0.0))
    losses = np.where(np.isnan(moves), np.nan, np.maximum(-moves, 0.0))
    return _share(_wilder(gains, window), _wilder(losses, window))


@factor(family=FAMILY, grid={"window": (2, 3, 4, 5, 6, 7, 9, 11, 14, 18, 21, 25, 30, 42, 50, 63)}, inputs=("close",))
def rsi(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Wilder's relative strength index, ``100 G / (G + L)``, in [0, 100].

    ``G`` and ``L`` are Wilder averages over ``window`` bars of the gains and losses of the
    close (each seeded with the mean of the first ``window`` changes, as Wilder did); the
    first value is on bar ``window``. NaN when the price has not moved at all.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Wilder smoothing window.
    """
    window = check_window("rsi", "window", window)
    return _rsi(column(data, "close", "rsi"), window)


@factor(family=FAMILY, grid={"window": (5, 7, 10, 14, 21, 28)}, inputs=("close",))
def stochastic_rsi(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return the stochastic RSI: where the RSI sits in its own range over ``window`` bars, in [0, 1].

    ``(RSI - min RSI) / (max RSI - min RSI)``, RSI and range both over ``window`` bars (``ta``'s
    ``StochRSIIndicator.stochrsi``).

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        RSI window and range window.
    """
    window = check_window("stochastic_rsi", "window", window)
    values = _rsi(column(data, "close", "stochastic_rsi"), window)
    low = rolling_extremum(values, window, False)
    return divide(values - low, rolling_extremum(values, window, True) - low)


@factor(family=FAMILY, grid={"window": (5, 7, 9, 10, 14, 21, 28, 42, 63, 126)}, inputs=HLC)
def stochastic_k(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Lane's stochastic %K, ``100 (C - LL) / (HH - LL)`` over ``window`` bars.

    ``HH`` is the highest high and ``LL`` the lowest low of the window, this bar included.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars in the range.
    """
    window = check_window("stochastic_k", "window", window)
    high, low, close = _bars(data, HLC, "stochastic_k")
    lowest = rolling_extremum(low, window, False)
    return 100.0 * divide(close - lowest, rolling_extremum(high, window, True) - lowest)


@factor(family=FAMILY, grid={"window": (5, 9, 14, 21, 28), "smooth": (3, 5)}, inputs=HLC)
def stochastic_d(data: Mapping[str, np.ndarray], window: int = 14, smooth: int = 3) -> np.ndarray:
    """Return the stochastic %D: the simple mean of %K over ``smooth`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        %K's range window.
    smooth : int
        Bars of %K averaged.
    """
    smooth = check_window("stochastic_d", "smooth", smooth)
    return rolling_mean(stochastic_k(data, window), smooth)


@factor(family=FAMILY, grid={"window": (7, 14, 21, 28, 42, 63)}, inputs=HLC)
def williams_r(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Williams %R, ``-100 (HH - C) / (HH - LL)`` over ``window`` bars, in [-100, 0].

    It equals %K - 100; the two are kept under their familiar names.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars in the range.
    """
    window = check_window("williams_r", "window", window)
    high, low, close = _bars(data, HLC, "williams_r")
    highest = rolling_extremum(high, window, True)
    return -100.0 * divide(highest - close, highest - rolling_extremum(low, window, False))


@factor(family=FAMILY, grid={"window": (10, 14, 20, 30, 40)}, inputs=HLC)
def cci(data: Mapping[str, np.ndarray], window: int = 20, constant: float = 0.015) -> np.ndarray:
    """Return Lambert's commodity channel index, ``(TP - SMA(TP)) / (constant * MAD(TP))``.

    ``TP = (H + L + C) / 3``; ``MAD`` is the mean absolute deviation from the window's mean.
    This is the one indicator costing O(window) per value (no running form exists for MAD).

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars in the window.
    constant : float
        Lambert's scaling, 0.015 so that most values fall within +-100.
    """
    window = check_window("cci", "window", window)
    high, low, close = _bars(data, HLC, "cci")
    typical = (high + low + close) / 3.0
    deviation = rolling_mean_absolute_deviation(typical, window)
    return divide(typical - rolling_mean(typical, window), constant * deviation)


@factor(family=FAMILY, grid={"window": (5, 7, 10, 14, 21, 28, 42, 63)}, inputs=HLCV)
def mfi(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return the money flow index, ``100 P / (P + N)`` over ``window`` bars, in [0, 100].

    Money flow is ``TP * volume`` with ``TP = (H + L + C) / 3``; ``P`` sums it over bars whose
    TP rose from the bar before, ``N`` over bars where it fell (unchanged bars count in
    neither). The first value is on bar ``window``.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``, ``volume``.
    window : int
        Bars summed.
    """
    window = check_window("mfi", "window", window)
    high, low, close, volume = _bars(data, HLCV, "mfi")
    typical = (high + low + close) / 3.0
    direction = np.sign(typical - lagged(typical, 1))
    flow = typical * volume
    positive = np.where(direction > 0.0, flow, 0.0)
    negative = np.where(direction < 0.0, flow, 0.0)
    missing = np.isnan(direction) | np.isnan(flow)
    positive[missing] = np.nan
    negative[missing] = np.nan
    return _share(rolling_sum(positive, window), rolling_sum(negative, window))


@factor(family=FAMILY, grid={"window": (5, 9, 14, 20, 28, 42, 63)}, inputs=("close",))
def cmo(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Chande's momentum oscillator, ``100 (U - D) / (U + D)``, in [-100, 100].

    ``U`` and ``D`` are the plain sums of the up and down moves of the close over the last
    ``window`` changes (unlike the RSI, no smoothing).

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Changes summed.
    """
    window = check_window("cmo", "window", window)
    moves = _changes(column(data, "close", "cmo"))
    up = rolling_sum(np.where(np.isnan(moves), np.nan, np.maximum(moves, 0.0)), window)
    down = rolling_sum(np.where(np.isnan(moves), np.nan, np.maximum(-moves, 0.0)), window)
    return 100.0 * divide(up - down, up + down)


@factor(family=FAMILY, grid={"short": (5, 7, 10), "medium": (14, 20), "long": (28, 40)}, inputs=HLC)
def ultimate_oscillator(data: Mapping[str, np.ndarray], short: int = 7, medium: int = 14, long: int = 28) -> np.ndarray:
    """Return Williams' ultimate oscillator, ``100 (4 A_short + 2 A_medium + A_long) / 7``.

    ``A_n`` is the sum over ``n`` bars of the buying pressure ``C - min(L, C_prev)`` divided
    by the sum of the true range ``max(H, C_prev) - min(L, C_prev)``.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    short, medium, long : int
        The three windows, increasing.
    """
    short, medium, long = _ordered("ultimate_oscillator", short=short, medium=medium, long=long)
    high, low, close = _bars(data, HLC, "ultimate_oscillator")
    prior = lagged(close, 1)
    pressure = close - np.minimum(low, prior)
    ranges = true_range(high, low, close)
    averages = [divide(rolling_sum(pressure, n), rolling_sum(ranges, n)) for n in (short, medium, long)]
    return 100.0 * (4.0 * averages[0] + 2.0 * averages[1] + averages[2]) / 7.0


@factor(family=FAMILY, grid={"slow": (20, 25, 30, 40), "fast": (7, 13)}, inputs=("close",))
def tsi(data: Mapping[str, np.ndarray], slow: int = 25, fast: int = 13) -> np.ndarray:
    """Return Blau's true strength index, ``100 EMA_fast(EMA_slow(dC)) / EMA_fast(EMA_slow(|dC|))``.

    The change of the close is smoothed twice, first over ``slow`` then over ``fast`` bars
    (``ta``'s ``window_slow``/``window_fast``).

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    slow : int
        Span of the first smoothing.
    fast : int
        Span of the second smoothing.
    """
    slow = check_window("tsi", "slow", slow)
    fast = check_window("tsi", "fast", fast)
    moves = _changes(column(data, "close", "tsi"))
    return 100.0 * divide(_ema(_ema(moves, slow), fast), _ema(_ema(np.abs(moves), slow), fast))


# --------------------------------------------------------------------------------------
# Moving-average trend
# --------------------------------------------------------------------------------------


def _macd_line(close: np.ndarray, fast: int, slow: int, factor_name: str) -> tuple[np.ndarray, np.ndarray]:
    fast, slow = _ordered(factor_name, fast=fast, slow=slow)
    slow_average = _ema(close, slow)
    return _ema(close, fast) - slow_average, slow_average


MACD_GRID = {"fast": (5, 8, 12, 19), "slow": (21, 26, 35, 50)}
SIGNAL_GRID = {**MACD_GRID, "signal": (5, 9)}


@factor(family=FAMILY, grid=MACD_GRID, inputs=("close",))
def macd(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26) -> np.ndarray:
    """Return Appel's MACD line, ``EMA_fast(C) - EMA_slow(C)``, in price units.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans, ``fast < slow``.
    """
    return _macd_line(column(data, "close", "macd"), fast, slow, "macd")[0]


@factor(family=FAMILY, grid=SIGNAL_GRID, inputs=("close",))
def macd_signal(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26, signal: int = 9) -> np.ndarray:
    """Return the MACD signal line, the EMA of the MACD line over ``signal`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans of the MACD line, ``fast < slow``.
    signal : int
        Span of the signal EMA.
    """
    signal = check_window("macd_signal", "signal", signal)
    return _ema(_macd_line(column(data, "close", "macd_signal"), fast, slow, "macd_signal")[0], signal)


@factor(family=FAMILY, grid=SIGNAL_GRID, inputs=("close",))
def macd_histogram(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26, signal: int = 9) -> np.ndarray:
    """Return the MACD histogram, MACD line minus signal line.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans of the MACD line, ``fast < slow``.
    signal : int
        Span of the signal EMA.
    """
    signal = check_window("macd_histogram", "signal", signal)
    line = _macd_line(column(data, "close", "macd_histogram"), fast, slow, "macd_histogram")[0]
    return line - _ema(line, signal)


def _ppo_line(close: np.ndarray, fast: int, slow: int, factor_name: str) -> np.ndarray:
    line, slow_average = _macd_line(close, fast, slow, factor_name)
    return 100.0 * divide(line, slow_average)


@factor(family=FAMILY, grid=MACD_GRID, inputs=("close",))
def ppo(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26) -> np.ndarray:
    """Return the percentage price oscillator, ``100 (EMA_fast - EMA_slow) / EMA_slow``: MACD comparable across prices.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans, ``fast < slow``.
    """
    return _ppo_line(column(data, "close", "ppo"), fast, slow, "ppo")


@factor(family=FAMILY, grid=SIGNAL_GRID, inputs=("close",))
def ppo_signal(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26, signal: int = 9) -> np.ndarray:
    """Return the PPO signal line, the EMA of the PPO over ``signal`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans of the PPO, ``fast < slow``.
    signal : int
        Span of the signal EMA.
    """
    signal = check_window("ppo_signal", "signal", signal)
    return _ema(_ppo_line(column(data, "close", "ppo_signal"), fast, slow, "ppo_signal"), signal)


@factor(family=FAMILY, grid=SIGNAL_GRID, inputs=("close",))
def ppo_histogram(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26, signal: int = 9) -> np.ndarray:
    """Return the PPO histogram, PPO minus its signal line.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans of the PPO, ``fast < slow``.
    signal : int
        Span of the signal EMA.
    """
    signal = check_window("ppo_histogram", "signal", signal)
    line = _ppo_line(column(data, "close", "ppo_histogram"), fast, slow, "ppo_histogram")
    return line - _ema(line, signal)


@factor(family=FAMILY, grid={"fast": (5, 12), "slow": (26, 50)}, inputs=("volume",))
def pvo(data: Mapping[str, np.ndarray], fast: int = 12, slow: int = 26) -> np.ndarray:
    """Return the percentage volume oscillator, ``100 (EMA_fast(V) - EMA_slow(V)) / EMA_slow(V)``.

    Parameters
    ----------
    data : mapping
        Needs ``volume``.
    fast, slow : int
        EMA spans, ``fast < slow``.
    """
    return _ppo_line(column(data, "volume", "pvo"), fast, slow, "pvo")


CROSSOVER_GRID = {"fast": (3, 5, 10, 15, 20), "slow": (30, 50, 100, 150, 200)}


@factor(family=FAMILY, grid=CROSSOVER_GRID, inputs=("close",))
def ema_crossover(data: Mapping[str, np.ndarray], fast: int = 10, slow: int = 50) -> np.ndarray:
    """Return the fast EMA of the close relative to the slow one, ``EMA_fast / EMA_slow - 1``.

    Positive while the fast average is above the slow one (a moving-average crossover
    system's long state), scaled by how far.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        EMA spans, ``fast < slow``.
    """
    fast, slow = _ordered("ema_crossover", fast=fast, slow=slow)
    close = column(data, "close", "ema_crossover")
    return divide(_ema(close, fast), _ema(close, slow)) - 1.0


@factor(family=FAMILY, grid=CROSSOVER_GRID, inputs=("close",))
def sma_crossover(data: Mapping[str, np.ndarray], fast: int = 10, slow: int = 50) -> np.ndarray:
    """Return the fast simple moving average of the close relative to the slow one, ``SMA_fast / SMA_slow - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    fast, slow : int
        Windows, ``fast < slow``.
    """
    fast, slow = _ordered("sma_crossover", fast=fast, slow=slow)
    close = column(data, "close", "sma_crossover")
    return divide(rolling_mean(close, fast), rolling_mean(close, slow)) - 1.0


AVERAGE_WINDOWS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 252)


@factor(family=FAMILY, grid={"window": AVERAGE_WINDOWS}, inputs=("close",))
def price_to_sma(data: Mapping[str, np.ndarray], window: int = 50) -> np.ndarray:
    """Return the close relative to its simple moving average over ``window`` bars, ``C / SMA - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars averaged.
    """
    window = check_window("price_to_sma", "window", window)
    close = column(data, "close", "price_to_sma")
    return divide(close, rolling_mean(close, window)) - 1.0


@factor(family=FAMILY, grid={"window": AVERAGE_WINDOWS}, inputs=("close",))
def price_to_ema(data: Mapping[str, np.ndarray], window: int = 50) -> np.ndarray:
    """Return the close relative to its EMA of span ``window``, ``C / EMA - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        EMA span.
    """
    window = check_window("price_to_ema", "window", window)
    close = column(data, "close", "price_to_ema")
    return divide(close, _ema(close, window)) - 1.0


@factor(family=FAMILY, grid={"window": (10, 20, 50, 100, 200)}, inputs=("close",))
def dema_distance(data: Mapping[str, np.ndarray], window: int = 20) -> np.ndarray:
    """Return the close relative to Mulloy's double EMA, ``C / (2 E1 - E2) - 1`` with ``E2 = EMA(E1)``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Span of both EMAs.
    """
    window = check_window("dema_distance", "window", window)
    close = column(data, "close", "dema_distance")
    first = _ema(close, window)
    return divide(close, 2.0 * first - _ema(first, window)) - 1.0


@factor(family=FAMILY, grid={"window": (10, 20, 50, 100, 200)}, inputs=("close",))
def tema_distance(data: Mapping[str, np.ndarray], window: int = 20) -> np.ndarray:
    """Return the close relative to Mulloy's triple EMA, ``C / (3 E1 - 3 E2 + E3) - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Span of the three EMAs.
    """
    window = check_window("tema_distance", "window", window)
    close = column(data, "close", "tema_distance")
    first = _ema(close, window)
    second = _ema(first, window)
    return divide(close, 3.0 * first - 3.0 * second + _ema(second, window)) - 1.0


@factor(family=FAMILY, grid={"window": (10, 20, 30)}, inputs=("close",))
def kama_distance(data: Mapping[str, np.ndarray], window: int = 10, fastest: int = 2, slowest: int = 30) -> np.ndarray:
    """Return the close relative to Kaufman's adaptive moving average, ``C / KAMA - 1``.

    ``KAMA_t = KAMA_{t-1} + s_t (C_t - KAMA_{t-1})`` with
    ``s_t = (ER_t (2/(fastest+1) - 2/(slowest+1)) + 2/(slowest+1))^2`` and the efficiency ratio
    ``ER_t = |C_t - C_{t-window}| / sum |dC|`` over the last ``window`` changes. KAMA starts
    from the close of the bar before its first ratio, so the first value is on bar ``window``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars of the efficiency ratio.
    fastest, slowest : int
        Spans of the EMAs the smoothing moves between.
    """
    window = check_window("kama_distance", "window", window)
    fastest, slowest = _ordered("kama_distance", fastest=fastest, slowest=slowest)
    close = column(data, "close", "kama_distance")
    path = rolling_sum(np.abs(_changes(close)), window)
    direction = np.abs(close - lagged(close, window))
    efficiency = np.where(path == 0.0, 0.0, divide(direction, path))
    efficiency[np.isnan(path)] = np.nan
    slow_rate = 2.0 / (slowest + 1.0)
    rates = (efficiency * (2.0 / (fastest + 1.0) - slow_rate) + slow_rate) ** 2
    return divide(close, adaptive_average(close, rates)) - 1.0


@factor(family=FAMILY, grid={"window": (5, 9, 15, 21, 30)}, inputs=("close",))
def trix(data: Mapping[str, np.ndarray], window: int = 15) -> np.ndarray:
    """Return Hutson's TRIX: the one-bar percent change of a triple EMA of the close.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Span of each of the three EMAs.
    """
    window = check_window("trix", "window", window)
    triple = _ema(_ema(_ema(column(data, "close", "trix"), window), window), window)
    return 100.0 * (divide(triple, lagged(triple, 1)) - 1.0)


# --------------------------------------------------------------------------------------
# Directional movement, Aroon, vortex
# --------------------------------------------------------------------------------------


def _directional(data: Mapping[str, np.ndarray], window: int, factor_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return Wilder's +DI and -DI over ``window`` bars (percent)."""
    high, low, close = _bars(data, HLC, factor_name)
    up = high - lagged(high, 1)
    down = lagged(low, 1) - low
    missing = np.isnan(up) | np.isnan(down)
    plus = np.where((up > down) & (up > 0.0), up, 0.0)
    minus = np.where((down > up) & (down > 0.0), down, 0.0)
    plus[missing] = np.nan
    minus[missing] = np.nan
    ranges = _wilder(true_range(high, low, close), window)
    return 100.0 * divide(_wilder(plus, window), ranges), 100.0 * divide(_wilder(minus, window), ranges)


DIRECTIONAL_WINDOWS = (7, 10, 14, 20, 28, 42)


@factor(family=FAMILY, grid={"window": DIRECTIONAL_WINDOWS}, inputs=HLC)
def plus_di(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Wilder's positive directional indicator +DI: smoothed up-movement over smoothed true range, in percent.

    Up-movement is ``H_t - H_{t-1}`` when it exceeds ``L_{t-1} - L_t`` and is positive, else 0;
    both it and the true range get Wilder smoothing over ``window`` bars (first value on bar
    ``window``).

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Wilder smoothing window.
    """
    window = check_window("plus_di", "window", window)
    return _directional(data, window, "plus_di")[0]


@factor(family=FAMILY, grid={"window": DIRECTIONAL_WINDOWS}, inputs=HLC)
def minus_di(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Wilder's negative directional indicator -DI: smoothed down-movement over smoothed true range, in percent.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Wilder smoothing window.
    """
    window = check_window("minus_di", "window", window)
    return _directional(data, window, "minus_di")[1]


@factor(family=FAMILY, grid={"window": DIRECTIONAL_WINDOWS}, inputs=HLC)
def adx(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Wilder's average directional index: the Wilder average of ``DX = 100 |+DI - -DI| / (+DI + -DI)``.

    Trend strength whatever its direction, in [0, 100]. DX is 0 on a bar without directional
    movement; its first value is on bar ``window`` and the ADX's on bar ``2 window - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Wilder smoothing window (used twice).
    """
    window = check_window("adx", "window", window)
    plus, minus = _directional(data, window, "adx")
    total = plus + minus
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(total == 0.0, 0.0, 100.0 * np.abs(plus - minus) / total)
    return _wilder(index, window)


AROON_WINDOWS = (10, 14, 25, 50, 75, 100)


def _aroon(data: Mapping[str, np.ndarray], window: int, factor_name: str, high_side: bool) -> np.ndarray:
    window = check_window(factor_name, "window", window)
    series = column(data, "high" if high_side else "low", factor_name)
    age = bars_since_extremum(series, window + 1, high_side)
    return 100.0 * (window - age) / window


@factor(family=FAMILY, grid={"window": AROON_WINDOWS}, inputs=("high",))
def aroon_up(data: Mapping[str, np.ndarray], window: int = 25) -> np.ndarray:
    """Return Chande's Aroon up, ``100 (window - bars since the highest high) / window``, in [0, 100].

    Over the last ``window + 1`` highs (this one included); among equal highs the earliest
    counts, as in ``ta``.

    Parameters
    ----------
    data : mapping
        Needs ``high``.
    window : int
        Bars looked back.
    """
    return _aroon(data, window, "aroon_up", True)


@factor(family=FAMILY, grid={"window": AROON_WINDOWS}, inputs=("low",))
def aroon_down(data: Mapping[str, np.ndarray], window: int = 25) -> np.ndarray:
    """Return Chande's Aroon down, ``100 (window - bars since the lowest low) / window``, in [0, 100].

    Parameters
    ----------
    data : mapping
        Needs ``low``.
    window : int
        Bars looked back.
    """
    return _aroon(data, window, "aroon_down", False)


@factor(family=FAMILY, grid={"window": AROON_WINDOWS}, inputs=("high", "low"))
def aroon_oscillator(data: Mapping[str, np.ndarray], window: int = 25) -> np.ndarray:
    """Return the Aroon oscillator, Aroon up minus Aroon down, in [-100, 100].

    Parameters
    ----------
    data : mapping
        Needs ``high`` and ``low``.
    window : int
        Bars looked back.
    """
    return _aroon(data, window, "aroon_oscillator", True) - _aroon(data, window, "aroon_oscillator", False)


@factor(family=FAMILY, grid={"window": (7, 14, 21, 28, 42, 63)}, inputs=HLC)
def vortex(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return the vortex indicator's difference ``VI+ - VI-`` (Botes and Siepman, 2010).

    ``VI+ = sum |H_t - L_{t-1}| / sum TR`` and ``VI- = sum |L_t - H_{t-1}| / sum TR`` over
    ``window`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars summed.
    """
    window = check_window("vortex", "window", window)
    high, low, close = _bars(data, HLC, "vortex")
    ranges = rolling_sum(true_range(high, low, close), window)
    plus = rolling_sum(np.abs(high - lagged(low, 1)), window)
    minus = rolling_sum(np.abs(low - lagged(high, 1)), window)
    return divide(plus - minus, ranges)


# --------------------------------------------------------------------------------------
# Bands, ranges and volatility-scaled indicators
# --------------------------------------------------------------------------------------

BAND_WINDOWS = (5, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200)


@factor(family=FAMILY, grid={"window": BAND_WINDOWS}, inputs=("close",))
def bollinger_percent_b(data: Mapping[str, np.ndarray], window: int = 20, deviations: float = 2.0) -> np.ndarray:
    """Return Bollinger %B, where the close sits between the bands: 0 on the lower band, 1 on the upper.

    The bands are ``SMA +- deviations * sigma`` over ``window`` bars, with the population
    standard deviation (``ddof=0``) as Bollinger defines it. %B is an affine function of the
    close's z-score, so other ``deviations`` rank assets identically; the grid varies the window.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars in the band.
    deviations : float
        Band half-width in standard deviations.
    """
    window = check_window("bollinger_percent_b", "window", window)
    close = column(data, "close", "bollinger_percent_b")
    width = deviations * np.sqrt(rolling_variance(close, window, 0))
    return divide(close - (rolling_mean(close, window) - width), 2.0 * width)


@factor(family=FAMILY, grid={"window": BAND_WINDOWS}, inputs=("close",))
def bollinger_bandwidth(data: Mapping[str, np.ndarray], window: int = 20, deviations: float = 2.0) -> np.ndarray:
    """Return the Bollinger bandwidth, ``100 (upper - lower) / SMA``: the band's width in percent of price.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars in the band.
    deviations : float
        Band half-width in standard deviations (population, ``ddof=0``).
    """
    window = check_window("bollinger_bandwidth", "window", window)
    close = column(data, "close", "bollinger_bandwidth")
    return 100.0 * divide(2.0 * deviations * np.sqrt(rolling_variance(close, window, 0)), rolling_mean(close, window))


@factor(family=FAMILY, grid={"window": (10, 20, 50), "atr_window": (10, 20)}, inputs=HLC)
def keltner_percent_b(
    data: Mapping[str, np.ndarray], window: int = 20, atr_window: int = 10, multiplier: float = 2.0
) -> np.ndarray:
    """Return where the close sits in the Keltner channel: 0 on the lower line, 1 on the upper.

    The channel is ``EMA_window(C) +- multiplier * ATR_atr_window`` (the modern form, as
    ``ta``'s ``KeltnerChannel(original_version=False)``).

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Span of the centre EMA.
    atr_window : int
        Wilder window of the ATR.
    multiplier : float
        Channel half-width in ATRs.
    """
    window = check_window("keltner_percent_b", "window", window)
    atr_window = check_window("keltner_percent_b", "atr_window", atr_window)
    high, low, close = _bars(data, HLC, "keltner_percent_b")
    width = multiplier * _wilder(true_range(high, low, close), atr_window)
    return divide(close - (_ema(close, window) - width), 2.0 * width)


@factor(family=FAMILY, grid={"window": (5, 7, 10, 14, 21, 28)}, inputs=HLC)
def atr(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Wilder's average true range over ``window`` bars, in price units.

    The true range needs the prior close, so the first ATR (the mean of the first ``window``
    true ranges) is on bar ``window``, as in TA-Lib.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Wilder smoothing window.
    """
    window = check_window("atr", "window", window)
    return _wilder(true_range(*_bars(data, HLC, "atr")), window)


@factor(family=FAMILY, grid={"window": (5, 7, 10, 14, 20, 28, 40, 63, 126, 252)}, inputs=HLC)
def natr(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return the normalized average true range, ``100 ATR / close``: the ATR in percent of price.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Wilder smoothing window.
    """
    window = check_window("natr", "window", window)
    high, low, close = _bars(data, HLC, "natr")
    return 100.0 * divide(_wilder(true_range(high, low, close), window), close)


@factor(family=FAMILY, grid={"window": (10, 20, 55, 100)}, inputs=HLC)
def donchian_width(data: Mapping[str, np.ndarray], window: int = 20) -> np.ndarray:
    """Return the Donchian channel's width, ``100 (HH - LL) / SMA(C)`` over ``window`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars in the channel.
    """
    window = check_window("donchian_width", "window", window)
    high, low, close = _bars(data, HLC, "donchian_width")
    span = rolling_extremum(high, window, True) - rolling_extremum(low, window, False)
    return 100.0 * divide(span, rolling_mean(close, window))


@factor(family=FAMILY, grid={"window": (7, 14, 21, 42, 63, 126)}, inputs=("close",))
def ulcer_index(data: Mapping[str, np.ndarray], window: int = 14) -> np.ndarray:
    """Return Martin's ulcer index: the root mean square of percent drawdowns from the rolling high.

    ``R_t = 100 (C_t - max C) / max C`` with the maximum over the last ``window`` closes;
    the index is ``sqrt(mean R^2)`` over the last ``window`` values of ``R``, so the first
    is on bar ``2 window - 2``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Bars of the rolling high and of the mean.
    """
    window = check_window("ulcer_index", "window", window)
    close = column(data, "close", "ulcer_index")
    high = rolling_extremum(close, window, True)
    drawdown = 100.0 * divide(close - high, high)
    return root(rolling_mean(drawdown * drawdown, window))


@factor(family=FAMILY, grid={"slow": (20, 25, 30)}, inputs=("high", "low"))
def mass_index(data: Mapping[str, np.ndarray], fast: int = 9, slow: int = 25) -> np.ndarray:
    """Return Dorsey's mass index: the sum over ``slow`` bars of ``EMA(H - L) / EMA(EMA(H - L))``.

    Parameters
    ----------
    data : mapping
        Needs ``high`` and ``low``.
    fast : int
        Span of both EMAs.
    slow : int
        Bars summed.
    """
    fast = check_window("mass_index", "fast", fast)
    slow = check_window("mass_index", "slow", slow)
    amplitude = column(data, "high", "mass_index") - column(data, "low", "mass_index")
    single = _ema(amplitude, fast)
    return rolling_sum(divide(single, _ema(single, fast)), slow)


# --------------------------------------------------------------------------------------
# Volume-weighted
# --------------------------------------------------------------------------------------


@factor(inputs=("close", "volume"), family=FAMILY)
def obv(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return Granville's on-balance volume: the running sum of volume signed by the close's change.

    ``+V`` on a bar whose close rose, ``-V`` when it fell, 0 when unchanged, summed from the
    first bar with a prior close (so the first bar is NaN and the second holds ``+-V``). The
    level depends on where the data starts; :func:`obv_oscillator` does not.

    Parameters
    ----------
    data : mapping
        Needs ``close`` and ``volume``.
    """
    close = column(data, "close", "obv")
    return cumulative_sum(np.sign(_changes(close)) * column(data, "volume", "obv"))


@factor(family=FAMILY, grid={"window": (5, 10, 21, 42, 63, 126)}, inputs=("close", "volume"))
def obv_oscillator(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the change of on-balance volume over ``window`` bars divided by the volume traded, in [-1, 1].

    ``sum sign(dC) V / sum V`` over the last ``window`` bars: +1 when every bar closed up.

    Parameters
    ----------
    data : mapping
        Needs ``close`` and ``volume``.
    window : int
        Bars summed.
    """
    window = check_window("obv_oscillator", "window", window)
    close = column(data, "close", "obv_oscillator")
    volume = column(data, "volume", "obv_oscillator")
    signed = np.sign(_changes(close)) * volume
    traded = np.where(np.isnan(signed), np.nan, volume)
    return divide(rolling_sum(signed, window), rolling_sum(traded, window))


@factor(family=FAMILY, grid={"window": (5, 10, 20, 30, 40, 63, 126)}, inputs=HLCV)
def chaikin_money_flow(data: Mapping[str, np.ndarray], window: int = 20) -> np.ndarray:
    """Return Chaikin's money flow, ``sum(CLV * V) / sum V`` over ``window`` bars, in [-1, 1].

    ``CLV = ((C - L) - (H - C)) / (H - L)``, 0 on a bar with ``H == L``.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``, ``volume``.
    window : int
        Bars summed.
    """
    window = check_window("chaikin_money_flow", "window", window)
    high, low, close, volume = _bars(data, HLCV, "chaikin_money_flow")
    return divide(rolling_sum(_close_location(high, low, close) * volume, window), rolling_sum(volume, window))


@factor(family=FAMILY, grid={"window": (5, 10, 21, 42, 63)}, inputs=HLC)
def close_location(data: Mapping[str, np.ndarray], window: int = 10) -> np.ndarray:
    """Return the mean close location value over ``window`` bars: where closes fall in their bars' ranges, in [-1, 1].

    ``CLV = ((C - L) - (H - C)) / (H - L)``, 0 on a bar with ``H == L``; +1 when every bar
    closed on its high. Chaikin's money flow without the volume weights.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``.
    window : int
        Bars averaged.
    """
    window = check_window("close_location", "window", window)
    return rolling_mean(_close_location(*_bars(data, HLC, "close_location")), window)


@factor(family=FAMILY, grid={"window": (5, 10, 14, 20, 50, 100)}, inputs=HLCV)
def vwap_distance(data: Mapping[str, np.ndarray], window: int = 20) -> np.ndarray:
    """Return the close relative to the rolling volume-weighted average price, ``C / VWAP - 1``.

    ``VWAP = sum(TP * V) / sum V`` over ``window`` bars with ``TP = (H + L + C) / 3``.

    Parameters
    ----------
    data : mapping
        Needs ``high``, ``low``, ``close``, ``volume``.
    window : int
        Bars summed.
    """
    window = check_window("vwap_distance", "window", window)
    high, low, close, volume = _bars(data, HLCV, "vwap_distance")
    weighted = rolling_sum((high + low + close) / 3.0 * volume, window)
    return divide(close, divide(weighted, rolling_sum(volume, window))) - 1.0


@factor(family=FAMILY, grid={"window": (13, 26, 50)}, inputs=("high", "close"))
def bull_power(data: Mapping[str, np.ndarray], window: int = 13) -> np.ndarray:
    """Return Elder's bull power in percent of the trend, ``H / EMA_window(C) - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``high`` and ``close``.
    window : int
        EMA span.
    """
    window = check_window("bull_power", "window", window)
    return divide(column(data, "high", "bull_power"), _ema(column(data, "close", "bull_power"), window)) - 1.0


@factor(family=FAMILY, grid={"window": (13, 26, 50)}, inputs=("low", "close"))
def bear_power(data: Mapping[str, np.ndarray], window: int = 13) -> np.ndarray:
    """Return Elder's bear power in percent of the trend, ``L / EMA_window(C) - 1``.

    Parameters
    ----------
    data : mapping
        Needs ``low`` and ``close``.
    window : int
        EMA span.
    """
    window = check_window("bear_power", "window", window)
    return divide(column(data, "low", "bear_power"), _ema(column(data, "close", "bear_power"), window)) - 1.0


# --------------------------------------------------------------------------------------
# Shape of the return distribution
# --------------------------------------------------------------------------------------

SHAPE_WINDOWS = (10, 21, 42, 63, 126, 189, 252, 504)


@factor(family=FAMILY, grid={"window": SHAPE_WINDOWS}, inputs=("returns",))
def skewness(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the sample skewness of returns over ``window`` bars (bias-corrected, as pandas' ``rolling().skew()``).

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Returns in the window; at least 3.
    """
    window = check_window("skewness", "window", window, minimum=3)
    return rolling_shape(column(data, "returns", "skewness"), window, False)


@factor(family=FAMILY, grid={"window": SHAPE_WINDOWS}, inputs=("returns",))
def kurtosis(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the sample excess kurtosis of returns over ``window`` bars (bias-corrected, as pandas' ``kurt()``).

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Returns in the window; at least 4.
    """
    window = check_window("kurtosis", "window", window, minimum=4)
    return rolling_shape(column(data, "returns", "kurtosis"), window, True)


@factor(family=FAMILY, grid={"window": (10, 21, 42, 63, 126, 252)}, inputs=("returns",))
def return_autocorrelation(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the correlation of each return with the one before it, over the ``window`` most recent pairs.

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Pairs in the window; at least 3.
    """
    window = check_window("return_autocorrelation", "window", window, minimum=3)
    returns = column(data, "returns", "return_autocorrelation")
    return rolling_regression(returns, lagged(returns, 1), window, CORRELATION)
