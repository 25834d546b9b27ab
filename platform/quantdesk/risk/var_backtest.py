"""Backtesting a VaR model against realized P&L: Basel traffic light, Kupiec and Christoffersen tests.

An *exception* is a day whose realized loss exceeds the VaR forecast for it:
``-profit_and_loss > value_at_risk`` (VaR as a positive loss, see :mod:`quantdesk.risk.measures`).

Basel traffic light (1996 supervisory framework). For 99% VaR over 250 days the zones are green
for 0-4 exceptions, yellow for 5-9 and red for 10 or more. They come from the binomial
distribution of the exception count of a correct model, ``X ~ Binomial(n, 1 - confidence)``:
a count ``x`` is green while ``P(X <= x) < 95%``, yellow while ``P(X <= x) < 99.99%`` and red
from there on. The same rule classifies other windows and confidence levels. In the yellow
zone the capital multiplier of 3 rises by Basel's plus factor (0.40, 0.50, 0.65, 0.75, 0.85 for
5 to 9 exceptions), and by 1 in the red zone; the plus factor is Basel's table for 99% VaR over
250 days, so it is given for that setting only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import xlogy
from scipy.stats import binom, chi2

from quantdesk.errors import QuantDeskError
from quantdesk.risk.measures import check_confidence, empirical_tail, normal_tail

GREEN_LIMIT = 0.95  # cumulative binomial probability where the yellow zone starts
YELLOW_LIMIT = 0.9999  # and where the red zone starts
BASEL_OBSERVATIONS = 250
BASEL_CONFIDENCE = 0.99
BASEL_MULTIPLIER = 3.0
# Basel's plus factor by exception count in the yellow zone (99% VaR, 250 days)
PLUS_FACTORS = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}
ROLLING_METHODS = ("historical", "parametric")


@dataclass(frozen=True)
class TrafficLight:
    """Basel zone of an exception count.

    Attributes
    ----------
    zone : str
        ``green``, ``yellow`` or ``red``.
    exceptions, observations : int
    confidence : float
        Of the VaR being tested.
    cumulative_probability : float
        ``P(X <= exceptions)`` for a correct model.
    plus_factor : float or None
        Basel's addition to the multiplier of 3 (0 green, 0.40-0.85 yellow, 1 red); None
        unless the setting is Basel's (99% VaR, 250 days).
    """

    zone: str
    exceptions: int
    observations: int
    confidence: float
    cumulative_probability: float
    plus_factor: float | None

    @property
    def multiplier(self) -> float | None:
        """Return Basel's capital multiplier, 3 plus the plus factor (None where the plus factor is)."""
        return None if self.plus_factor is None else BASEL_MULTIPLIER + self.plus_factor


@dataclass(frozen=True)
class CoverageTest:
    """A likelihood-ratio test of a VaR model.

    Attributes
    ----------
    statistic : float
        The likelihood ratio ``-2 ln(L0 / L1)``.
    p_value : float
        Chi-square survival probability of the statistic; small values reject the model.
    degrees_of_freedom : int
    """

    statistic: float
    p_value: float
    degrees_of_freedom: int


@dataclass(frozen=True)
class VarBacktest:
    """Outcome of backtesting a VaR series.

    Attributes
    ----------
    exceptions, observations : int
        Exceptions among the days tested.
    traffic_light : TrafficLight
    kupiec : CoverageTest
        Proportion of failures (unconditional coverage), chi-square(1).
    independence : CoverageTest
        Christoffersen's test that exceptions do not cluster, chi-square(1).
    conditional_coverage : CoverageTest
        Kupiec + independence, chi-square(2).
    hits : pandas.Series
        True on each exception day, over the days tested.
    """

    exceptions: int
    observations: int
    traffic_light: TrafficLight
    kupiec: CoverageTest
    independence: CoverageTest
    conditional_coverage: CoverageTest
    hits: pd.Series


def _check_counts(exceptions: int, observations: int) -> tuple[int, int]:
    if isinstance(observations, bool) or not isinstance(observations, (int, np.integer)) or observations < 1:
        raise QuantDeskError(f"observations {observations!r} must be a whole number of days, at least 1")
    if isinstance(exceptions, bool) or not isinstance(exceptions, (int, np.integer)) \
            or not 0 <= exceptions <= observations:
        raise QuantDeskError(f"exceptions {exceptions!r} must be a whole number from 0 to observations ({observations})")
    return int(exceptions), int(observations)


def traffic_light(exceptions: int, observations: int = BASEL_OBSERVATIONS,
                  confidence: float = BASEL_CONFIDENCE) -> TrafficLight:
    """Classify an exception count into Basel's green, yellow or red zone (see the module notes).

    Parameters
    ----------
    exceptions : int
        Days whose loss exceeded VaR.
    observations : int
        Days tested (Basel: 250).
    confidence : float
        The VaR's confidence level (Basel: 0.99).

    Raises
    ------
    QuantDeskError
        For a confidence outside (0, 1) or counts that are not ``0 <= exceptions <= observations``.
    """
    confidence = check_confidence(confidence)
    exceptions, observations = _check_counts(exceptions, observations)
    probability = float(binom.cdf(exceptions, observations, 1.0 - confidence))
    zone = "green" if probability < GREEN_LIMIT else "yellow" if probability < YELLOW_LIMIT else "red"
    plus_factor = None
    if observations == BASEL_OBSERVATIONS and math.isclose(confidence, BASEL_CONFIDENCE):
        plus_factor = {"green": 0.0, "red": 1.0}.get(zone, PLUS_FACTORS.get(exceptions))
    return TrafficLight(zone, exceptions, observations, confidence, probability, plus_factor)


def kupiec_test(exceptions: int, observations: int, confidence: float) -> CoverageTest:
    """Return Kupiec's proportion-of-failures test of ``exceptions`` in ``observations`` days.

    ``LR = -2 [(n - x) ln(1 - p) + x ln p] + 2 [(n - x) ln(1 - x/n) + x ln(x/n)]`` with
    ``p = 1 - confidence``, and ``0 ln 0 = 0`` (so 0 exceptions give ``-2 n ln(1 - p)``);
    chi-square with 1 degree of freedom.
    """
    confidence = check_confidence(confidence)
    exceptions, observations = _check_counts(exceptions, observations)
    expected = 1.0 - confidence
    observed = exceptions / observations
    misses = observations - exceptions
    statistic = -2.0 * (xlogy(misses, 1.0 - expected) + xlogy(exceptions, expected)) \
        + 2.0 * (xlogy(misses, 1.0 - observed) + xlogy(exceptions, observed))
    statistic = max(float(statistic), 0.0)  # rounding can leave -1e-15 when x/n equals p
    return CoverageTest(statistic, float(chi2.sf(statistic, 1)), 1)


def _hit_array(hits: pd.Series | np.ndarray | list[bool]) -> np.ndarray:
    values = np.asarray(hits)
    if values.ndim != 1 or values.size < 2:
        raise QuantDeskError(f"hits must be one sequence of at least 2 days, not shape {values.shape}")
    if values.dtype != bool and not np.isin(values, (0, 1)).all():
        raise QuantDeskError("hits must be True/False (or 1/0) per day: True where the loss exceeded VaR")
    return values.astype(bool)


def transition_counts(hits: pd.Series | np.ndarray | list[bool]) -> tuple[int, int, int, int]:
    """Return ``(n00, n01, n10, n11)``: days followed by days, ``nij`` counting state ``i`` then ``j`` (1 = exception)."""
    values = _hit_array(hits)
    before, after = values[:-1], values[1:]
    return (int(np.sum(~before & ~after)), int(np.sum(~before & after)),
            int(np.sum(before & ~after)), int(np.sum(before & after)))


def independence_test(hits: pd.Series | np.ndarray | list[bool]) -> CoverageTest:
    """Return Christoffersen's independence test of a daily exception sequence.

    With transition counts ``nij`` (:func:`transition_counts`), ``pi01 = n01 / (n00 + n01)``,
    ``pi11 = n11 / (n10 + n11)`` and ``pi = (n01 + n11) / (all four)``:
    ``LR = -2 ln[(1 - pi)^(n00 + n10) pi^(n01 + n11)] + 2 ln[(1 - pi01)^n00 pi01^n01 (1 - pi11)^n10 pi11^n11]``,
    ``0 ln 0 = 0`` (a state never left from contributes nothing); chi-square with 1 degree of freedom.
    """
    n00, n01, n10, n11 = transition_counts(hits)
    after_quiet = n01 / (n00 + n01) if n00 + n01 else 0.0
    after_exception = n11 / (n10 + n11) if n10 + n11 else 0.0
    overall = (n01 + n11) / (n00 + n01 + n10 + n11)
    restricted = xlogy(n00 + n10, 1.0 - overall) + xlogy(n01 + n11, overall)
    unrestricted = xlogy(n00, 1.0 - after_quiet) + xlogy(n01, after_quiet) \
        + xlogy(n10, 1.0 - after_exception) + xlogy(n11, after_exception)
    statistic = max(float(-2.0 * (restricted - unrestricted)), 0.0)
    return CoverageTest(statistic, float(chi2.sf(statistic, 1)), 1)


def conditional_coverage_test(hits: pd.Series | np.ndarray | list[bool], confidence: float) -> CoverageTest:
    """Return Christoffersen's conditional coverage test: ``LR_cc = LR_pof + LR_ind``, chi-square with 2 degrees of freedom."""
    values = _hit_array(hits)
    statistic = kupiec_test(int(values.sum()), int(values.size), confidence).statistic \
        + independence_test(values).statistic
    return CoverageTest(statistic, float(chi2.sf(statistic, 2)), 2)


def backtest_var(value_at_risk: pd.Series, profit_and_loss: pd.Series, confidence: float = BASEL_CONFIDENCE,
                 window: int | None = BASEL_OBSERVATIONS) -> VarBacktest:
    """Backtest a daily VaR series against realized P&L over the last ``window`` days.

    Parameters
    ----------
    value_at_risk : pandas.Series
        VaR forecast for each day (positive loss), made before the day; NaN days are skipped.
    profit_and_loss : pandas.Series
        Realized P&L (or return) of each day, in the VaR's units; aligned on the index.
    confidence : float
        The VaR's confidence level.
    window : int or None
        The last days to test (Basel: 250); None tests every day. With fewer days, all are tested
        and the zone follows the binomial rule for that count.

    Raises
    ------
    QuantDeskError
        For a bad confidence or window, or fewer than 2 days with both a VaR and a P&L.
    """
    confidence = check_confidence(confidence)
    if window is not None and (isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2):
        raise QuantDeskError(f"window {window!r} must be a whole number of days, at least 2 (Basel: 250), or None")
    joined = pd.concat({"var": value_at_risk, "pnl": profit_and_loss}, axis=1, join="inner").dropna()
    if window is not None:
        joined = joined.iloc[-window:]
    if len(joined) < 2:
        raise QuantDeskError(f"only {len(joined)} days have both a VaR and a P&L: a backtest needs at least 2")
    hits = (-joined["pnl"] > joined["var"]).rename("exception")
    exceptions, observations = int(hits.sum()), len(hits)
    return VarBacktest(exceptions, observations, traffic_light(exceptions, observations, confidence),
                       kupiec_test(exceptions, observations, confidence), independence_test(hits.to_numpy()),
                       conditional_coverage_test(hits.to_numpy(), confidence), hits)


def rolling_var(returns: pd.Series, window: int = BASEL_OBSERVATIONS, confidence: float = BASEL_CONFIDENCE,
                method: str = "historical") -> pd.DataFrame:
    """Return a one-day-ahead VaR/ES history of ``returns`` and its exceptions, without look-ahead.

    The VaR for day ``t`` uses the ``window`` returns before ``t`` only (historical: the
    order statistic of :func:`quantdesk.risk.measures.empirical_tail`; parametric: normal
    with their mean and standard deviation).

    Parameters
    ----------
    returns : pandas.Series
        Daily returns or P&L of the portfolio; NaN days are dropped.
    window : int
        Trailing days per estimate, at least 2.
    confidence : float
    method : {"historical", "parametric"}

    Returns
    -------
    pandas.DataFrame
        Indexed by the days after the first ``window``: ``value_at_risk``,
        ``expected_shortfall``, ``profit_and_loss`` (the day's realized value) and
        ``exception`` (loss above VaR). Feed the first and third to :func:`backtest_var`.

    Raises
    ------
    QuantDeskError
        For a bad window, confidence or method, or no more returns than ``window``.
    """
    confidence = check_confidence(confidence)
    if method not in ROLLING_METHODS:
        raise QuantDeskError(f"method {method!r} is not known here: use one of {', '.join(ROLLING_METHODS)}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise QuantDeskError(f"window {window!r} must be a whole number of days, at least 2 (Basel: 250)")
    clean = pd.Series(returns, dtype=np.float64).dropna()
    if len(clean) <= window:
        raise QuantDeskError(f"only {len(clean)} returns: a rolling VaR over {window} days needs more than {window}")
    values = clean.to_numpy()
    # windows[i] holds the days i .. i + window - 1, the history of day i + window
    windows = sliding_window_view(values[:-1], window)
    if method == "historical":
        loss, tail = empirical_tail(windows, confidence)
    else:
        loss, tail = normal_tail(windows.mean(axis=1), windows.std(axis=1, ddof=1), confidence)
    realized = values[window:]
    return pd.DataFrame({"value_at_risk": loss, "expected_shortfall": tail, "profit_and_loss": realized,
                         "exception": -realized > loss}, index=clean.index[window:])
