"""VaR and ES on real returns against hand computations, scipy's normal distribution and arch called directly."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from quantdesk.errors import QuantDeskError
from quantdesk.risk.measures import (
    ScenarioMatrix,
    garch_forecast,
    garch_var,
    historical_var,
    monte_carlo_var,
    parametric_var,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # as tests/conftest.py defines it
STOCKS = ["AAPL", "GE", "XOM", "JPM", "WMT", "PFE"]
WEIGHTS = np.array([0.30, 0.25, -0.10, 0.20, 0.15, 0.20])  # one short position
BOOK_VALUE = 2_000_000.0


@pytest.fixture(scope="module")
def spy_returns() -> pd.Series:
    path = SHARED_DATA / "daily" / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv.gz"
    prices = pd.read_csv(path, index_col="Date", parse_dates=True)
    return prices["Adj Close"].pct_change().dropna().rename("SPY")


@pytest.fixture(scope="module")
def stock_returns() -> pd.DataFrame:
    prices = pd.read_csv(SHARED_DATA / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz",
                         index_col="date", parse_dates=True)
    return prices[STOCKS].pct_change(fill_method=None).dropna()


@pytest.fixture(scope="module")
def sp500_returns() -> pd.Series:
    from arch.data import sp500

    return sp500.load()["Adj Close"].pct_change().dropna()


def _order_statistic(returns: np.ndarray, confidence: float) -> tuple[float, float]:
    """Return minus the k-th smallest return and minus the mean of the k smallest, k = ceil(n (1 - c)) exactly."""
    ordered = np.sort(returns)
    worst = math.ceil(Fraction(len(ordered)) * (1 - Fraction(str(confidence))))
    return -ordered[worst - 1], -ordered[:worst].mean()


@pytest.mark.parametrize("confidence", [0.95, 0.975, 0.99])
def test_historical_is_the_order_statistic(spy_returns: pd.Series, confidence: float) -> None:
    estimate = historical_var(spy_returns, confidence)
    value_at_risk, shortfall = _order_statistic(spy_returns.to_numpy(), confidence)
    assert estimate.value_at_risk == value_at_risk
    assert estimate.expected_shortfall == pytest.approx(shortfall, rel=1e-12)
    assert estimate.value_at_risk == -np.quantile(spy_returns, 1 - confidence, method="inverted_cdf")
    assert (estimate.units, estimate.observations) == ("fraction", len(spy_returns))


def test_historical_counts_an_exact_tail(spy_returns: pd.Series) -> None:
    # 1000 x 1% is exactly 10 days, although 1000 * (1 - 0.99) is 10.000000000000009 in floating point
    sample = spy_returns.iloc[:1000].to_numpy()
    estimate = historical_var(sample, 0.99)
    ordered = np.sort(sample)
    assert estimate.value_at_risk == -ordered[9]
    assert estimate.expected_shortfall == pytest.approx(-ordered[:10].mean(), rel=1e-12)


def test_historical_horizon_scales_by_square_root(spy_returns: pd.Series) -> None:
    one_day = historical_var(spy_returns, 0.99, 1)
    ten_days = historical_var(spy_returns, 0.99, 10)
    assert ten_days.value_at_risk == pytest.approx(math.sqrt(10) * one_day.value_at_risk, rel=1e-12)
    assert ten_days.expected_shortfall == pytest.approx(math.sqrt(10) * one_day.expected_shortfall, rel=1e-12)


@pytest.mark.parametrize("horizon", [1, 10])
def test_parametric_is_the_normal_quantile(sp500_returns: pd.Series, horizon: int) -> None:
    mu, sigma = sp500_returns.mean(), sp500_returns.std()
    distribution = norm(loc=horizon * mu, scale=math.sqrt(horizon) * sigma)  # i.i.d. days
    estimate = parametric_var(sp500_returns, 0.99, horizon)
    assert estimate.value_at_risk == pytest.approx(-distribution.ppf(0.01), rel=1e-10)
    # ES as the conditional mean of the worst 1%, by scipy's numerical integration
    tail_mean = distribution.expect(lambda x: x, ub=distribution.ppf(0.01), conditional=True)
    assert estimate.expected_shortfall == pytest.approx(-tail_mean, rel=1e-6)


def test_expected_shortfall_is_at_least_var(stock_returns: pd.DataFrame, sp500_returns: pd.Series) -> None:
    positions = dict(zip(STOCKS, BOOK_VALUE * WEIGHTS))
    for confidence in (0.9, 0.95, 0.99, 0.999):
        estimates = [
            historical_var(sp500_returns, confidence),
            parametric_var(sp500_returns, confidence),
            monte_carlo_var(sp500_returns, confidence, paths=20_000),
            historical_var(stock_returns, confidence, positions=positions),
            parametric_var(stock_returns, confidence, positions=positions),
        ]
        for estimate in estimates:
            assert estimate.expected_shortfall >= estimate.value_at_risk > 0, estimate


def test_monte_carlo_converges_to_parametric(sp500_returns: pd.Series) -> None:
    paths, confidence, horizon = 200_000, 0.99, 5
    parametric = parametric_var(sp500_returns, confidence, horizon)
    simulated = monte_carlo_var(sp500_returns, confidence, horizon, paths=paths, seed=7)
    # the sample quantile's standard error: sqrt(p (1 - p) / n) / density at the quantile
    spread = math.sqrt(horizon) * sp500_returns.std()
    quantile = norm.ppf(confidence)
    standard_error = spread * math.sqrt(confidence * (1 - confidence) / paths) / norm.pdf(quantile)
    assert abs(simulated.value_at_risk - parametric.value_at_risk) < 4 * standard_error
    assert abs(simulated.expected_shortfall - parametric.expected_shortfall) < 8 * standard_error
    assert simulated == monte_carlo_var(sp500_returns, confidence, horizon, paths=paths, seed=7)
    assert simulated != monte_carlo_var(sp500_returns, confidence, horizon, paths=paths, seed=8)


def test_multivariate_monte_carlo_converges_to_parametric(stock_returns: pd.DataFrame) -> None:
    positions = dict(zip(STOCKS, BOOK_VALUE * WEIGHTS))
    paths = 200_000
    parametric = parametric_var(stock_returns, 0.99, positions=positions)
    simulated = monte_carlo_var(stock_returns, 0.99, positions=positions, paths=paths, seed=3)
    spread = (stock_returns.to_numpy() @ (BOOK_VALUE * WEIGHTS)).std(ddof=1)
    standard_error = spread * math.sqrt(0.99 * 0.01 / paths) / norm.pdf(norm.ppf(0.99))
    assert abs(simulated.value_at_risk - parametric.value_at_risk) < 4 * standard_error
    assert simulated.units == "currency"


def test_positions_equal_the_portfolio_returns(stock_returns: pd.DataFrame) -> None:
    positions = dict(zip(STOCKS, BOOK_VALUE * WEIGHTS))
    portfolio = stock_returns.to_numpy() @ WEIGHTS
    for function in (historical_var, parametric_var):
        for horizon in (1, 10):
            of_positions = function(stock_returns, 0.99, horizon, positions=positions)
            of_returns = function(portfolio, 0.99, horizon)
            assert of_positions.units == "currency"
            assert of_positions.value_at_risk == pytest.approx(BOOK_VALUE * of_returns.value_at_risk, rel=1e-10)
            assert of_positions.expected_shortfall == pytest.approx(BOOK_VALUE * of_returns.expected_shortfall,
                                                                    rel=1e-10)


def test_parametric_with_a_covariance_is_the_quadratic_form(stock_returns: pd.DataFrame) -> None:
    values = BOOK_VALUE * WEIGHTS
    positions = dict(zip(STOCKS, values))
    covariance = stock_returns.cov()
    sigma = math.sqrt(values @ covariance.to_numpy() @ values)
    mu = stock_returns.mean().to_numpy() @ values
    estimate = parametric_var(stock_returns, 0.99, positions=positions, covariance=covariance)
    assert estimate.value_at_risk == pytest.approx(sigma * norm.ppf(0.99) - mu, rel=1e-10)
    # the sample covariance gives the standard deviation of the book's P&L history, the default path
    assert estimate.value_at_risk == pytest.approx(parametric_var(stock_returns, 0.99, positions=positions)
                                                   .value_at_risk, rel=1e-10)
    without_mean = parametric_var(None, 0.99, positions=positions, covariance=covariance)
    assert without_mean.value_at_risk == pytest.approx(sigma * norm.ppf(0.99), rel=1e-10)


def test_positions_in_one_asset_are_summed(stock_returns: pd.DataFrame) -> None:
    scenarios = ScenarioMatrix(stock_returns)
    split = pd.Series([600_000.0, -100_000.0, 250_000.0, 250_000.0], index=["AAPL", "GE", "AAPL", "GE"])
    merged = pd.Series({"AAPL": 850_000.0, "GE": 150_000.0})
    np.testing.assert_array_equal(scenarios.exposures(split), [850_000.0, 150_000.0, 0, 0, 0, 0])
    assert scenarios.estimate(split) == scenarios.estimate(merged)


def test_days_missing_a_held_asset_are_left_out() -> None:
    prices = pd.read_csv(SHARED_DATA / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz",
                         index_col="date", parse_dates=True)
    returns = prices[["AAPL", "GOOG", "FB"]].pct_change(fill_method=None).iloc[1:]  # FB starts in 2012, GOOG in 2004
    positions = {"AAPL": 1_000.0, "GOOG": 500.0}
    pnl = returns[["AAPL", "GOOG"]].dropna() @ np.array([1_000.0, 500.0])
    estimate = historical_var(returns, 0.95, positions=positions)
    value_at_risk, shortfall = _order_statistic(pnl.to_numpy(), 0.95)
    assert estimate.observations == len(pnl) < len(returns)
    assert estimate.value_at_risk == pytest.approx(value_at_risk, rel=1e-12)
    assert estimate.expected_shortfall == pytest.approx(shortfall, rel=1e-12)


def _arch_result(returns: pd.Series):
    from arch import arch_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = arch_model(100 * returns, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        return model.fit(disp="off")


def test_garch_forecast_equals_arch(sp500_returns: pd.Series) -> None:
    result = _arch_result(sp500_returns)
    expected = result.forecast(horizon=10, reindex=False).variance.to_numpy()[-1] / 100**2
    forecast = garch_forecast(sp500_returns, horizon=10)
    np.testing.assert_allclose(forecast.variance.to_numpy(), expected, rtol=1e-10)
    assert forecast.mean == pytest.approx(result.params["mu"] / 100, rel=1e-10)
    assert forecast.horizon_volatility == pytest.approx(math.sqrt(expected.sum()), rel=1e-10)


def test_garch_var_is_normal_with_the_forecast_volatility(spy_returns: pd.Series) -> None:
    result = _arch_result(spy_returns)
    mean = result.params["mu"] / 100
    variance = result.forecast(horizon=10, reindex=False).variance.to_numpy()[-1] / 100**2
    one_day = garch_var(spy_returns, 0.99)
    assert one_day.value_at_risk == pytest.approx(norm.ppf(0.99) * math.sqrt(variance[0]) - mean, rel=1e-8)
    ten_days = garch_var(spy_returns, 0.99, 10)
    assert ten_days.value_at_risk == pytest.approx(norm.ppf(0.99) * math.sqrt(variance.sum()) - 10 * mean, rel=1e-8)
    # one day of simulated GARCH paths is normal with that volatility: within 4 standard errors
    paths = 50_000
    simulated = garch_var(spy_returns, 0.99, paths=paths, seed=1)
    standard_error = math.sqrt(variance[0]) * math.sqrt(0.99 * 0.01 / paths) / norm.pdf(norm.ppf(0.99))
    assert abs(simulated.value_at_risk - one_day.value_at_risk) < 4 * standard_error
    assert simulated.method == "garch_monte_carlo" and simulated.observations == paths


def test_garch_var_of_positions_scales_by_gross_exposure(stock_returns: pd.DataFrame) -> None:
    values = BOOK_VALUE * WEIGHTS
    gross = np.abs(values).sum()
    of_positions = garch_var(stock_returns, 0.99, 5, positions=dict(zip(STOCKS, values)))
    of_returns = garch_var(stock_returns.to_numpy() @ (values / gross), 0.99, 5)
    # the two P&L histories differ in the last bit (another summation order), which the optimizer amplifies
    assert of_positions.value_at_risk == pytest.approx(gross * of_returns.value_at_risk, rel=1e-6)
    assert of_positions.units == "currency"


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, float("nan"), True, "0.99"])
def test_confidence_outside_the_unit_interval_is_refused(spy_returns: pd.Series, confidence: object) -> None:
    for function in (historical_var, parametric_var, monte_carlo_var):
        with pytest.raises(QuantDeskError, match=f"confidence {confidence!r} must lie strictly between 0 and 1"):
            function(spy_returns, confidence)


@pytest.mark.parametrize("horizon", [0, -5, 2.5])
def test_horizon_below_one_day_is_refused(spy_returns: pd.Series, horizon: object) -> None:
    for function in (historical_var, parametric_var, monte_carlo_var, garch_forecast):
        arguments = (spy_returns, horizon) if function is garch_forecast else (spy_returns, 0.99, horizon)
        with pytest.raises(QuantDeskError, match=f"horizon {horizon!r} must be a whole number of at least 1"):
            function(*arguments)


@pytest.mark.parametrize("returns", [pd.Series([], dtype=float), pd.Series([np.nan, np.nan]), np.array([])])
def test_empty_returns_are_refused(returns: pd.Series) -> None:
    for function in (historical_var, parametric_var, monte_carlo_var, garch_var):
        with pytest.raises(QuantDeskError, match="returns hold no values"):
            function(returns)
    with pytest.raises(QuantDeskError, match="asset returns hold no values"):
        historical_var(pd.DataFrame({"AAPL": returns}), positions={"AAPL": 1.0})


def test_position_in_an_unknown_asset_is_named(stock_returns: pd.DataFrame) -> None:
    positions = {"AAPL": 1_000.0, "NOPE": 5.0}
    for function in (historical_var, parametric_var, monte_carlo_var, garch_var):
        with pytest.raises(QuantDeskError, match="positions name 'NOPE', not in the asset returns"):
            function(stock_returns, positions=positions)
    with pytest.raises(QuantDeskError, match="positions name 'NOPE', not in the covariance"):
        parametric_var(None, positions=positions, covariance=stock_returns.cov())


def test_other_bad_inputs_are_named(stock_returns: pd.DataFrame, spy_returns: pd.Series) -> None:
    with pytest.raises(QuantDeskError, match="only 50 returns: a GARCH"):
        garch_var(spy_returns.iloc[:50])
    with pytest.raises(QuantDeskError, match="paths 10 must be a whole number of at least 100"):
        monte_carlo_var(spy_returns, paths=10)
    with pytest.raises(QuantDeskError, match="not one series"):
        historical_var(stock_returns)
    with pytest.raises(QuantDeskError, match="the position in 'AAPL' has the value nan"):
        historical_var(stock_returns, positions={"AAPL": float("nan")})
    with pytest.raises(QuantDeskError, match="method 'garch' is not known"):
        ScenarioMatrix(stock_returns).estimate({"AAPL": 1.0}, methods=("garch",))
