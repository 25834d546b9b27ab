"""VaR backtesting: Basel zones at their boundaries and against Basel's table, Kupiec and Christoffersen by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from quantdesk.errors import QuantDeskError
from quantdesk.risk.measures import historical_var, parametric_var
from quantdesk.risk.var_backtest import (
    backtest_var,
    conditional_coverage_test,
    independence_test,
    kupiec_test,
    rolling_var,
    traffic_light,
    transition_counts,
)

# Basel Committee (1996), "Supervisory framework for the use of backtesting...", Table 2:
# cumulative probability (%) of 0..10 exceptions in 250 days for a correct 99% VaR
BASEL_CUMULATIVE = [8.11, 28.58, 54.32, 75.81, 89.22, 95.88, 98.63, 99.60, 99.89, 99.97, 99.99]
# a hand-made exception sequence of 20 days
HITS = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]
# its transitions, counted by hand over the 19 pairs of consecutive days:
# 0->0 at days (0,1) (4,5) (5,6) (8,9) (13,14) (14,15) (15,16) (16,17) (17,18); 0->1 at (1,2) (6,7) (9,10) (18,19);
# 1->0 at (3,4) (7,8) (12,13); 1->1 at (2,3) (10,11) (11,12)
N00, N01, N10, N11 = 9, 4, 3, 3


@pytest.fixture(scope="module")
def sp500_returns() -> pd.Series:
    from arch.data import sp500

    return sp500.load()["Adj Close"].pct_change().dropna()


@pytest.mark.parametrize(("exceptions", "zone", "plus_factor"), [
    (0, "green", 0.0), (4, "green", 0.0), (5, "yellow", 0.40), (6, "yellow", 0.50), (7, "yellow", 0.65),
    (8, "yellow", 0.75), (9, "yellow", 0.85), (10, "red", 1.0), (25, "red", 1.0),
])
def test_basel_zones_at_the_boundaries(exceptions: int, zone: str, plus_factor: float) -> None:
    light = traffic_light(exceptions, 250, 0.99)
    assert (light.zone, light.plus_factor) == (zone, plus_factor)
    assert light.multiplier == pytest.approx(3 + plus_factor)


def test_cumulative_probabilities_match_basel_table() -> None:
    for exceptions, percent in enumerate(BASEL_CUMULATIVE):
        assert round(100 * traffic_light(exceptions).cumulative_probability, 2) == percent


def test_zones_follow_the_binomial_rule_elsewhere() -> None:
    # 95% VaR over 250 days: 12.5 exceptions expected; P(X <= 17) = 0.9212, P(X <= 18) = 0.9526,
    # P(X <= 26) = 0.99984 and P(X <= 27) = 0.99993, by the binomial sum written out here
    def cumulative(count: int) -> float:
        return sum(math.comb(250, k) * 0.05**k * 0.95 ** (250 - k) for k in range(count + 1))

    first_yellow = next(k for k in range(251) if cumulative(k) >= 0.95)
    first_red = next(k for k in range(251) if cumulative(k) >= 0.9999)
    assert traffic_light(first_yellow - 1, 250, 0.95).zone == "green"
    assert traffic_light(first_yellow, 250, 0.95).zone == "yellow"
    assert traffic_light(first_red - 1, 250, 0.95).zone == "yellow"
    assert traffic_light(first_red, 250, 0.95).zone == "red"
    assert (first_yellow, first_red) == (18, 27)
    assert traffic_light(5, 500, 0.99).plus_factor is None  # Basel's table is for 250 days at 99% only


@pytest.mark.parametrize("exceptions", [0, 1, 2, 5, 12, 250])
def test_kupiec_equals_its_closed_form(exceptions: int) -> None:
    n, p = 250, 0.01
    x = exceptions
    null = (n - x) * math.log(1 - p) + x * math.log(p)
    rate = x / n
    fitted = (0.0 if x == n else (n - x) * math.log(1 - rate)) + (0.0 if x == 0 else x * math.log(rate))
    statistic = -2 * null + 2 * fitted
    result = kupiec_test(exceptions, n, 0.99)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(chi2.sf(statistic, 1), rel=1e-10)
    assert result.degrees_of_freedom == 1


def test_kupiec_with_no_exceptions() -> None:
    result = kupiec_test(0, 250, 0.99)
    assert result.statistic == pytest.approx(-2 * 250 * math.log(0.99), rel=1e-12)  # 5.025
    assert 0.02 < result.p_value < 0.03  # no exception in 250 days is itself unlikely for a correct 99% VaR
    assert kupiec_test(3, 300, 0.99).statistic == pytest.approx(0.0, abs=1e-12)  # exactly the expected rate


def test_christoffersen_on_a_hand_made_sequence() -> None:
    assert transition_counts(HITS) == (N00, N01, N10, N11)
    after_quiet, after_exception = N01 / (N00 + N01), N11 / (N10 + N11)
    overall = (N01 + N11) / (N00 + N01 + N10 + N11)
    restricted = (N00 + N10) * math.log(1 - overall) + (N01 + N11) * math.log(overall)
    unrestricted = (N00 * math.log(1 - after_quiet) + N01 * math.log(after_quiet)
                    + N10 * math.log(1 - after_exception) + N11 * math.log(after_exception))
    statistic = -2 * (restricted - unrestricted)
    result = independence_test(np.array(HITS, dtype=bool))
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(chi2.sf(statistic, 1), rel=1e-10)
    combined = conditional_coverage_test(HITS, 0.99)
    pof = kupiec_test(sum(HITS), len(HITS), 0.99).statistic
    assert combined.statistic == pytest.approx(pof + statistic, rel=1e-12)
    assert combined.p_value == pytest.approx(chi2.sf(pof + statistic, 2), rel=1e-10)
    assert combined.degrees_of_freedom == 2


def test_christoffersen_without_clusters() -> None:
    # exceptions never follow each other: n11 = 0, and 0 ln 0 counts as 0
    hits = [0] * 40
    hits[5] = hits[20] = hits[35] = 1
    n00, n01, n10, n11 = transition_counts(hits)
    assert (n00, n01, n10, n11) == (33, 3, 3, 0)
    overall = 3 / 39
    restricted = 36 * math.log(1 - overall) + 3 * math.log(overall)
    unrestricted = 33 * math.log(33 / 36) + 3 * math.log(3 / 36) + 3 * math.log(1.0)
    assert independence_test(hits).statistic == pytest.approx(-2 * (restricted - unrestricted), rel=1e-12)
    assert independence_test([0] * 30).statistic == 0.0  # no exception at all


def _constructed(exception_days: list[int], days: int = 300) -> tuple[pd.Series, pd.Series]:
    index = pd.bdate_range("2020-01-01", periods=days)
    value_at_risk = pd.Series(1.0, index=index)
    pnl = pd.Series(0.5, index=index)
    pnl.iloc[exception_days] = -1.5
    return value_at_risk, pnl


@pytest.mark.parametrize(("count", "zone"), [(4, "green"), (5, "yellow"), (9, "yellow"), (10, "red")])
def test_backtest_counts_the_last_250_days(count: int, zone: str) -> None:
    inside = list(range(299, 299 - 7 * count, -7))  # within the last 250 of 300 days
    value_at_risk, pnl = _constructed([3, 10, 20] + inside)  # three exceptions before the window
    pnl.iloc[100] = -1.0  # a loss equal to VaR is not an exception
    result = backtest_var(value_at_risk, pnl)
    assert (result.exceptions, result.observations, result.traffic_light.zone) == (count, 250, zone)
    assert list(np.flatnonzero(result.hits.to_numpy())) == sorted(day - 50 for day in inside)
    assert result.kupiec == kupiec_test(count, 250, 0.99)
    every_day = backtest_var(value_at_risk, pnl, window=None)
    assert (every_day.exceptions, every_day.observations) == (count + 3, 300)


def test_rolling_var_uses_only_earlier_days(sp500_returns: pd.Series) -> None:
    history = rolling_var(sp500_returns, window=250, confidence=0.99)
    assert history.index[0] == sp500_returns.index[250]
    for day in (250, 1000, len(sp500_returns) - 1):
        expected = historical_var(sp500_returns.iloc[day - 250:day], 0.99)
        row = history.loc[sp500_returns.index[day]]
        assert row["value_at_risk"] == expected.value_at_risk
        assert row["expected_shortfall"] == pytest.approx(expected.expected_shortfall, rel=1e-12)
        assert row["profit_and_loss"] == sp500_returns.iloc[day]
    assert history["exception"].equals(-history["profit_and_loss"] > history["value_at_risk"])
    # changing the future leaves the past alone
    changed = sp500_returns.copy()
    changed.iloc[2000:] = -0.5
    np.testing.assert_array_equal(rolling_var(changed)["value_at_risk"].to_numpy()[:2000 - 250 + 1],
                                  history["value_at_risk"].to_numpy()[:2000 - 250 + 1])


def test_rolling_parametric_var(sp500_returns: pd.Series) -> None:
    history = rolling_var(sp500_returns, window=500, confidence=0.975, method="parametric")
    day = 3000
    expected = parametric_var(sp500_returns.iloc[day - 500:day], 0.975)
    assert history.loc[sp500_returns.index[day], "value_at_risk"] == pytest.approx(expected.value_at_risk, rel=1e-10)


def test_backtest_of_a_rolling_var(sp500_returns: pd.Series) -> None:
    history = rolling_var(sp500_returns)
    result = backtest_var(history["value_at_risk"], history["profit_and_loss"])
    last = history.iloc[-250:]
    assert result.exceptions == int(last["exception"].sum())
    assert result.traffic_light == traffic_light(result.exceptions)


def test_bad_input_is_named(sp500_returns: pd.Series) -> None:
    with pytest.raises(QuantDeskError, match="confidence 1.2 must lie strictly between 0 and 1"):
        traffic_light(3, 250, 1.2)
    with pytest.raises(QuantDeskError, match="exceptions 300 must be a whole number from 0 to observations"):
        kupiec_test(300, 250, 0.99)
    with pytest.raises(QuantDeskError, match="window 1 must be a whole number of days"):
        rolling_var(sp500_returns, window=1)
    with pytest.raises(QuantDeskError, match="only 100 returns: a rolling VaR over 250 days"):
        rolling_var(sp500_returns.iloc[:100])
    with pytest.raises(QuantDeskError, match="method 'garch' is not known"):
        rolling_var(sp500_returns, method="garch")
    with pytest.raises(QuantDeskError, match="hits must be True/False"):
        independence_test([0, 2, 1])
    with pytest.raises(QuantDeskError, match="only 0 days have both a VaR and a P&L"):
        backtest_var(pd.Series([1.0, 1.0], index=[0, 1]), pd.Series([0.1, 0.2], index=[5, 6]))
