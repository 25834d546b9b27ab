"""Volume and liquidity: Amihud illiquidity, turnover, dollar volume, volume z-scores and spread estimators.

Dollar volume is ``close * volume``. The panel has no shares outstanding, so turnover here is
relative (today's trading against the asset's own usual trading), not the share of the
company that changed hands; see :func:`turnover`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.kernels import (
    CORRELATION,
    COVARIANCE,
    check_window,
    column,
    divide,
    lagged,
    log,
    rolling_mean,
    rolling_regression,
    rolling_variance,
)
from quantdesk.factors.registry import factor

FAMILY = "liquidity"
WINDOWS = (5, 10, 21, 42, 63, 126, 252)


def _zscore(values: np.ndarray, window: int) -> np.ndarray:
    """Return ``(x_t - mean) / std`` over the last ``window`` bars, this one included (``ddof=1``)."""
    return divide(values - rolling_mean(values, window), np.sqrt(rolling_variance(values, window, 1)))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("returns", "close", "volume"))
def amihud(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Amihud's (2002) illiquidity: the mean of ``|return| / dollar volume`` over ``window`` bars, times 1e6.

    The price impact of a million of currency traded. A bar with zero volume has no ratio,
    so a window holding one is NaN.

    Parameters
    ----------
    data : mapping
        Needs ``returns``, ``close``, ``volume``.
    window : int
        Bars averaged.
    """
    window = check_window("amihud", "window", window)
    returns = column(data, "returns", "amihud")
    dollars = column(data, "close", "amihud") * column(data, "volume", "amihud")
    return rolling_mean(divide(np.abs(returns), dollars), window) * 1e6


@factor(family=FAMILY, grid={"window": (1, 5, 10, 21), "baseline": (63, 126, 252)}, inputs=("close", "volume"))
def turnover(data: Mapping[str, np.ndarray], window: int = 5, baseline: int = 252) -> np.ndarray:
    """Return relative turnover: mean dollar volume over ``window`` bars divided by that over ``baseline`` bars.

    Turnover proper is volume over shares outstanding, which the panel does not hold. This
    is the asset's recent trading relative to its own usual level (abnormal turnover): 1 is
    normal, 2 is twice the usual. It compares assets by how unusual their trading is, not
    by what fraction of their float trades.

    Parameters
    ----------
    data : mapping
        Needs ``close`` and ``volume``.
    window : int
        Recent bars.
    baseline : int
        Bars of the reference level; more than ``window``.
    """
    window = check_window("turnover", "window", window)
    baseline = check_window("turnover", "baseline", baseline)
    if window >= baseline:
        raise QuantDeskError(f"Factor 'turnover': window={window} must be less than baseline={baseline}")
    dollars = column(data, "close", "turnover") * column(data, "volume", "turnover")
    return divide(rolling_mean(dollars, window), rolling_mean(dollars, baseline))


@factor(family=FAMILY, grid={"window": (5, 10, 21, 63, 126, 252)}, inputs=("close", "volume"))
def dollar_volume(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the log of the mean dollar volume (``close * volume``) over ``window`` bars: a size and liquidity proxy.

    Parameters
    ----------
    data : mapping
        Needs ``close`` and ``volume``.
    window : int
        Bars averaged.
    """
    window = check_window("dollar_volume", "window", window)
    dollars = column(data, "close", "dollar_volume") * column(data, "volume", "dollar_volume")
    return log(rolling_mean(dollars, window))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("volume",))
def volume_zscore(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the z-score of this bar's volume within the last ``window`` bars (this one included, ``ddof=1``).

    Parameters
    ----------
    data : mapping
        Needs ``volume``.
    window : int
        Bars in the window; at least 2.
    """
    window = check_window("volume_zscore", "window", window, minimum=2)
    return _zscore(column(data, "volume", "volume_zscore"), window)


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("volume",))
def log_volume_zscore(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the z-score of this bar's log volume within the last ``window`` bars (``ddof=1``).

    Volume is roughly log-normal, so this is less dominated by a few huge days than
    :func:`volume_zscore`. A bar with zero volume has no log and counts as missing.

    Parameters
    ----------
    data : mapping
        Needs ``volume``.
    window : int
        Bars in the window; at least 2.
    """
    window = check_window("log_volume_zscore", "window", window, minimum=2)
    return _zscore(log(column(data, "volume", "log_volume_zscore")), window)


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252)}, inputs=("returns",))
def roll_spread(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return Roll's (1984) implied bid-ask spread, ``2 sqrt(-cov(r_t, r_{t-1}))``, as a fraction of price.

    The covariance (``ddof=1``) is over the ``window`` most recent pairs of consecutive
    returns. Bid-ask bounce makes it negative; when it is not, the estimate is 0.

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Pairs of consecutive returns; at least 2.
    """
    window = check_window("roll_spread", "window", window, minimum=2)
    returns = column(data, "returns", "roll_spread")
    covariance = rolling_regression(returns, lagged(returns, 1), window, COVARIANCE)
    with np.errstate(invalid="ignore"):
        return 2.0 * np.sqrt(np.maximum(-covariance, 0.0))


@factor(family=FAMILY, grid={"window": (5, 21, 63, 126)}, inputs=("high", "low"))
def corwin_schultz(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Corwin and Schultz's (2012) high-low spread estimate, averaged over ``window`` bars.

    For each pair of bars ``(t-1, t)``: ``beta = ln(H_{t-1}/L_{t-1})^2 + ln(H_t/L_t)^2``,
    ``gamma = ln(max(H_{t-1}, H_t) / min(L_{t-1}, L_t))^2``,
    ``alpha = (sqrt(2 beta) - sqrt(beta)) / (3 - 2 sqrt 2) - sqrt(gamma / (3 - 2 sqrt 2))`` and
    ``S = 2 (e^alpha - 1) / (1 + e^alpha)``; negative two-bar estimates are set to 0, as in
    the paper, before averaging.

    Parameters
    ----------
    data : mapping
        Needs ``high`` and ``low``.
    window : int
        Two-bar estimates averaged.
    """
    window = check_window("corwin_schultz", "window", window)
    high = column(data, "high", "corwin_schultz")
    low = column(data, "low", "corwin_schultz")
    single = log(divide(high, low)) ** 2
    beta = single + lagged(single, 1)
    gamma = log(divide(np.maximum(high, lagged(high, 1)), np.minimum(low, lagged(low, 1)))) ** 2
    denominator = 3.0 - 2.0 * np.sqrt(2.0)
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / denominator - np.sqrt(gamma / denominator)
    spread = 2.0 * np.expm1(alpha) / (1.0 + np.exp(alpha))
    with np.errstate(invalid="ignore"):
        spread = np.where(spread < 0.0, 0.0, spread)
    return rolling_mean(spread, window)


@factor(family=FAMILY, grid={"window": (63, 252)}, inputs=("returns",))
def zero_return_fraction(data: Mapping[str, np.ndarray], window: int = 252) -> np.ndarray:
    """Return the fraction of the last ``window`` bars whose return is exactly zero (Lesmond, Ogden and Trzcinka, 1999).

    High for assets that often do not trade or do not move; near 0 for liquid ones.

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    window : int
        Bars counted.
    """
    window = check_window("zero_return_fraction", "window", window)
    returns = column(data, "returns", "zero_return_fraction")
    zero = np.where(np.isfinite(returns), (returns == 0.0).astype(np.float64), np.nan)
    return rolling_mean(zero, window)


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252)}, inputs=("volume",))
def volume_variation(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the coefficient of variation of volume over ``window`` bars, ``std (ddof=1) / mean``.

    Parameters
    ----------
    data : mapping
        Needs ``volume``.
    window : int
        Bars in the window; at least 2.
    """
    window = check_window("volume_variation", "window", window, minimum=2)
    volume = column(data, "volume", "volume_variation")
    return divide(np.sqrt(rolling_variance(volume, window, 1)), rolling_mean(volume, window))


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252)}, inputs=("returns", "volume"))
def volume_return_correlation(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the correlation of absolute returns with log volume over ``window`` bars.

    How closely trading activity tracks price moves; NaN in a window where either does not vary.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and ``volume``.
    window : int
        Bars in the window; at least 2.
    """
    window = check_window("volume_return_correlation", "window", window, minimum=2)
    moves = np.abs(column(data, "returns", "volume_return_correlation"))
    return rolling_regression(moves, log(column(data, "volume", "volume_return_correlation")), window, CORRELATION)
