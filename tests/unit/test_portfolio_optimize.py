"""Portfolio optimizers on the 20 real stocks of PyPortfolioOpt's tests, checked against PyPortfolioOpt's own API and hand computations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.cluster.hierarchy as hierarchy
from pypfopt import BlackLittermanModel, EfficientFrontier, HRPOpt, black_litterman
from pypfopt import expected_returns as pypfopt_returns
from pypfopt import risk_models as pypfopt_risk

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio import Constraints, efficient_frontier, expected_returns, factor_covariance, optimize, risk_model

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "daily" / "pyportfolioopt"
TECH = ["GOOG", "AAPL", "FB", "AMZN", "AMD"]
TOLERANCE = 1e-4  # weights equal to PyPortfolioOpt's
SLACK = 1e-6  # a constraint holds up to the solver's accuracy


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_csv(DATA / "tests-stock_prices.csv.gz", parse_dates=["date"], index_col="date")


@pytest.fixture(scope="module")
def mu(prices: pd.DataFrame) -> pd.Series:
    return pypfopt_returns.mean_historical_return(prices)


@pytest.fixture(scope="module")
def cov(prices: pd.DataFrame) -> pd.DataFrame:
    return pypfopt_risk.sample_cov(prices)


@pytest.fixture(scope="module")
def sectors(prices: pd.DataFrame) -> dict[str, str]:
    return {asset: "Tech" if asset in TECH else "Other" for asset in prices.columns}


def reference(mu: pd.Series, cov: pd.DataFrame, **bounds) -> EfficientFrontier:
    return EfficientFrontier(mu, cov, solver="CLARABEL", **bounds)


# Estimators ---------------------------------------------------------------------------------


def test_expected_returns_are_pypfopt_estimators(prices: pd.DataFrame) -> None:
    spy = pd.read_csv(DATA / "tests-spy_prices.csv.gz", parse_dates=["date"], index_col="date")
    pd.testing.assert_series_equal(expected_returns(prices), pypfopt_returns.mean_historical_return(prices), check_names=False)
    pd.testing.assert_series_equal(expected_returns(prices, "ema_historical", span=100),
                                   pypfopt_returns.ema_historical_return(prices, span=100), check_names=False)
    pd.testing.assert_series_equal(expected_returns(prices, "capm", market_prices=spy["SPY"]),
                                   pypfopt_returns.capm_return(prices, market_prices=spy), check_names=False)


@pytest.mark.parametrize(("method", "options", "direct"), [
    ("sample", {}, lambda p: pypfopt_risk.sample_cov(p)),
    ("exponential", {"span": 60}, lambda p: pypfopt_risk.exp_cov(p, span=60)),
    ("ledoit_wolf", {}, lambda p: pypfopt_risk.CovarianceShrinkage(p).ledoit_wolf()),
    ("ledoit_wolf", {"shrinkage_target": "single_factor"}, lambda p: pypfopt_risk.CovarianceShrinkage(p).ledoit_wolf("single_factor")),
])
def test_risk_models_are_pypfopt_estimators(prices: pd.DataFrame, method: str, options: dict, direct) -> None:
    ours = risk_model(prices, method, **options)
    np.testing.assert_allclose(ours.to_numpy(), direct(prices).to_numpy(), rtol=1e-9, atol=1e-12)
    assert np.linalg.eigvalsh(ours.to_numpy()).min() >= -1e-12


def test_factor_covariance_equals_a_hand_regression(prices: pd.DataFrame) -> None:
    returns = prices.pct_change(fill_method=None).iloc[1:]
    spy = pd.read_csv(DATA / "tests-spy_prices.csv.gz", parse_dates=["date"], index_col="date")["SPY"]
    factors = pd.DataFrame({"market": spy.pct_change(), "size": returns[["AAPL", "GE"]].mean(axis=1) - returns["XOM"]})
    dates = returns.dropna().index.intersection(factors.dropna().index)[-750:]
    returns, factors = returns.loc[dates], factors.loc[dates]

    design = np.column_stack([np.ones(len(dates)), factors.to_numpy()])
    coefficients, *_ = np.linalg.lstsq(design, returns.to_numpy(), rcond=None)
    residuals = returns.to_numpy() - design @ coefficients
    loadings = coefficients[1:].T  # asset x factor
    residual_variance = (residuals ** 2).sum(axis=0) / (len(dates) - 3)
    expected = (loadings @ np.cov(factors.to_numpy().T) @ loadings.T + np.diag(residual_variance)) * 252

    np.testing.assert_allclose(factor_covariance(returns, factors).to_numpy(), expected, rtol=1e-10)
    through_prices = risk_model(prices.loc[:dates[-1]].iloc[-751:], "factor_model", factor_returns=factors)
    np.testing.assert_allclose(through_prices.to_numpy(), expected, rtol=1e-10)


def test_a_covariance_with_a_negative_eigenvalue_is_made_positive_semidefinite(cov: pd.DataFrame) -> None:
    from quantdesk.portfolio.estimators import positive_semidefinite

    values, vectors = np.linalg.eigh(cov.to_numpy())
    values[0] = -0.01
    broken = pd.DataFrame(vectors @ np.diag(values) @ vectors.T, index=cov.index, columns=cov.columns)
    fixed = positive_semidefinite(broken)
    values[0] = 0.0  # clipping the negative eigenvalue keeps the eigenvectors
    np.testing.assert_allclose(fixed.to_numpy(), vectors @ np.diag(values) @ vectors.T, atol=1e-12)


@pytest.mark.parametrize(("call", "words"), [
    (lambda p: expected_returns(p, "median"), "Unknown expected-returns method 'median'"),
    (lambda p: risk_model(p, "garch"), "Unknown risk model 'garch'"),
    (lambda p: risk_model(p.iloc[:0]), "No prices"),
    (lambda p: risk_model(p.assign(GE=np.nan)), "Assets GE have fewer than 2 prices"),
    (lambda p: expected_returns(p.assign(GE=-1.0)), "Assets GE have prices at or below zero"),
    (lambda p: risk_model(p, "factor_model"), "needs exactly one of factor_returns="),
    (lambda p: risk_model(p, "exponential", spam=3), "Unknown option(s) spam for risk model 'exponential': it takes span"),
    (lambda p: risk_model(p, "ledoit_wolf", shrinkage_target="zero"), "Unknown shrinkage_target 'zero'"),
])
def test_bad_estimator_input_is_one_clear_message(prices, call, words) -> None:
    with pytest.raises(QuantDeskError) as raised:
        call(prices)
    assert words in str(raised.value)


# Methods against PyPortfolioOpt ----------------------------------------------------------------


@pytest.mark.parametrize(("method", "target", "call"), [
    ("max_sharpe", {}, lambda ef: ef.max_sharpe(risk_free_rate=0.02)),
    ("min_volatility", {}, lambda ef: ef.min_volatility()),
    ("efficient_return", {"target_return": 0.25}, lambda ef: ef.efficient_return(0.25)),
    ("efficient_risk", {"target_volatility": 0.2}, lambda ef: ef.efficient_risk(0.2)),
])
def test_mean_variance_methods_equal_pypfopt(mu, cov, method, target, call) -> None:
    ours = optimize(mu, cov, method, risk_free_rate=0.02, **target)
    ef = reference(mu, cov)
    call(ef)
    np.testing.assert_allclose(ours.weights.to_numpy(), ef.weights, atol=TOLERANCE)
    expected_return, volatility, sharpe = ef.portfolio_performance(risk_free_rate=0.02)
    assert ours.expected_return == pytest.approx(expected_return, abs=1e-5)
    assert ours.volatility == pytest.approx(volatility, abs=1e-5)
    assert ours.sharpe == pytest.approx(sharpe, abs=1e-4)


def test_risk_contributions_sum_to_the_volatility(mu, cov) -> None:
    result = optimize(mu, cov, "max_sharpe", Constraints(weight_bounds=(0.0, 0.15)))
    w = result.weights.to_numpy()
    hand_volatility = np.sqrt(w @ cov.to_numpy() @ w)
    assert result.volatility == pytest.approx(hand_volatility, rel=1e-12)
    assert result.risk_contribution.sum() == pytest.approx(hand_volatility, rel=1e-10)
    # Each contribution is the weight times the marginal risk d(vol)/dw_i.
    step = 1e-7
    for i in np.flatnonzero(w > 0.01)[:3]:
        bumped = w.copy()
        bumped[i] += step
        marginal = (np.sqrt(bumped @ cov.to_numpy() @ bumped) - hand_volatility) / step
        assert result.risk_contribution.iloc[i] == pytest.approx(w[i] * marginal, rel=1e-4)


def test_multi_objective_without_a_score_is_pypfopt_quadratic_utility(mu, cov) -> None:
    ours = optimize(mu, cov, "multi_objective", weights={"return": 1.0, "risk": 1.5})
    ef = reference(mu, cov)
    ef.max_quadratic_utility(risk_aversion=3.0)  # PyPortfolioOpt maximizes w'mu - risk_aversion / 2 w'Sw
    np.testing.assert_allclose(ours.weights.to_numpy(), ef.weights, atol=TOLERANCE)


def test_multi_objective_score_weight_shifts_returns_by_the_scores(mu, cov) -> None:
    scores = pd.Series(np.linspace(0.0, 1.0, len(mu)), index=mu.index)
    ours = optimize(mu, cov, "multi_objective", scores=scores.to_dict(), weights={"return": 2.0, "risk": 1.0, "score": 0.3})
    ef = reference(mu + 0.3 / 2.0 * scores, cov)  # the same objective divided by the return weight
    ef.max_quadratic_utility(risk_aversion=1.0)
    np.testing.assert_allclose(ours.weights.to_numpy(), ef.weights, atol=TOLERANCE)
    plain = optimize(mu, cov, "multi_objective", weights={"return": 2.0, "risk": 1.0})
    assert ours.weights @ scores > plain.weights @ scores


def test_black_litterman_equals_pypfopt(prices, mu, cov) -> None:
    spy = pd.read_csv(DATA / "tests-spy_prices.csv.gz", parse_dates=["date"], index_col="date")["SPY"]
    caps = {asset: float(i + 1) * 1e10 for i, asset in enumerate(mu.index)}
    views = [{"weights": {"AAPL": 1.0}, "return": 0.12}, {"weights": {"GOOG": 1.0, "XOM": -1.0}, "return": 0.05}]
    ours = optimize(mu, cov, "black_litterman", views=views, market_caps=caps, market_prices=spy)

    delta = black_litterman.market_implied_risk_aversion(spy)
    prior = black_litterman.market_implied_prior_returns(pd.Series(caps), delta, cov)
    p = np.zeros((2, len(mu)))
    p[0, mu.index.get_loc("AAPL")] = 1.0
    p[1, mu.index.get_loc("GOOG")], p[1, mu.index.get_loc("XOM")] = 1.0, -1.0
    model = BlackLittermanModel(cov, pi=prior, P=p, Q=np.array([0.12, 0.05]), risk_aversion=delta)
    ef = reference(model.bl_returns(), model.bl_cov())
    ef.max_sharpe()
    np.testing.assert_allclose(ours.weights.to_numpy(), ef.weights, atol=TOLERANCE)
    assert ours.expected_return == pytest.approx(float(model.bl_returns() @ ef.weights), abs=1e-5)


def test_hrp_matches_the_weights_pypfopt_tests_expect(prices, mu, cov) -> None:
    expected = pd.read_csv(DATA / "tests-weights_hrp.csv", index_col=0).iloc[:, 0]
    returns = prices.pct_change(fill_method=None).dropna(how="all")
    result = optimize(mu, cov, "hrp", returns=returns)
    np.testing.assert_allclose(result.weights[expected.index].to_numpy(), expected.to_numpy(), atol=1e-10)


def test_hrp_from_a_covariance_equals_pypfopt_hrpopt(prices, monkeypatch) -> None:
    returns = prices.pct_change(fill_method=None).dropna(how="all")
    # HRPOpt only fails on the private name scipy 1.18 dropped; restoring it lets it serve as the reference.
    monkeypatch.setattr(hierarchy, "_LINKAGE_METHODS", {"single": 0, "complete": 1, "average": 2}, raising=False)
    for linkage in ("single", "complete", "average"):
        direct = pd.Series(HRPOpt(cov_matrix=returns.cov()).optimize(linkage))
        ours = optimize(returns.mean(), returns.cov(), "hrp", linkage=linkage).weights
        np.testing.assert_allclose(ours[direct.index].to_numpy(), direct.to_numpy(), atol=1e-12)


def test_risk_parity_contributions_are_equal_or_follow_the_budget(mu, cov) -> None:
    equal = optimize(mu, cov, "risk_parity")
    assert equal.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(equal.risk_contribution, equal.volatility / len(mu), rtol=1e-5)
    budget = pd.Series(np.arange(1, len(mu) + 1, dtype=float), index=mu.index)
    budgeted = optimize(mu, cov, "risk_parity", risk_budget=budget.to_dict())
    np.testing.assert_allclose(budgeted.risk_contribution / budgeted.volatility, budget / budget.sum(), rtol=1e-5)



def test_hrp_and_risk_parity_take_inputs_that_restrict_nothing(prices, mu, cov, sectors) -> None:
    last = prices.ffill().iloc[-1]
    # A sector map without limits, holdings without a turnover limit, scores without a minimum, the default bounds
    # spelled out, and liquidity caps of 10% of 1e9 shares a day at 1e6 capital (far above any weight of 1).
    ordinary = Constraints(weight_bounds=(0.0, 1.0), sectors=sectors, current_weights={"AAPL": 1.0},
                           scores=dict.fromkeys(mu.index, 1.0), capital=1e6, prices=last.to_dict(),
                           average_daily_volume=dict.fromkeys(mu.index, 1e9), volume_share=0.1)
    # Capital, prices and volumes without volume_share are no caps at all, however thin the volume.
    trading = Constraints(capital=1e6, prices=last.to_dict(), average_daily_volume=dict.fromkeys(mu.index, 1.0))
    assert ordinary.active() == [] and trading.active() == []
    for method in ("hrp", "risk_parity"):
        unconstrained = optimize(mu, cov, method).weights
        pd.testing.assert_series_equal(optimize(mu, cov, method, ordinary).weights, unconstrained)
        pd.testing.assert_series_equal(optimize(mu, cov, method, trading).weights, unconstrained)


@pytest.mark.parametrize(("changes", "named"), [
    ({"weight_bounds": (0.0, 0.2)}, "weight_bounds"),
    ({"weight_bounds": {"AAPL": (0.05, 1.0)}}, "weight_bounds"),
    ({"long_only": False, "gross_limit": 1.6}, "gross_limit"),
    ({"net_exposure": 0.8}, "net_exposure"),
    ({"sector_limits": {"Tech": (None, 0.3)}}, "sector_limits"),
    ({"turnover_limit": 0.5}, "turnover_limit"),
    ({"minimum_score": 0.5}, "minimum_score"),
    ({"average_daily_volume": {"AAPL": 1e9, "FB": 1e3}}, "volume_share"),  # 10% of 1,000 FB shares: a cap below 1
])
def test_hrp_and_risk_parity_name_the_constraints_they_cannot_honour(prices, mu, cov, sectors, changes, named) -> None:
    given = {"sectors": sectors, "capital": 1e6, "prices": prices.ffill().iloc[-1].to_dict(), "volume_share": 0.1,
             "average_daily_volume": dict.fromkeys(mu.index, 1e9), "scores": dict.fromkeys(mu.index, 1.0)}
    constraints = Constraints(**{**given, **changes})
    assert constraints.active() == [named]
    for method in ("hrp", "risk_parity"):
        with pytest.raises(QuantDeskError, match=rf"Method {method} is long-only and fully invested and cannot honour "
                                                 rf"the constraints set \({named}\): clear them or use a mean-variance"):
            optimize(mu, cov, method, constraints)

# One test per constraint type ------------------------------------------------------------------


def test_global_weight_bounds_hold_and_equal_pypfopt(mu, cov) -> None:
    result = optimize(mu, cov, "max_sharpe", Constraints(weight_bounds=(0.02, 0.12)))
    assert result.weights.min() >= 0.02 - SLACK and result.weights.max() <= 0.12 + SLACK
    ef = reference(mu, cov, weight_bounds=(0.02, 0.12))
    ef.max_sharpe()
    np.testing.assert_allclose(result.weights.to_numpy(), ef.weights, atol=TOLERANCE)


def test_per_asset_bounds_hold(mu, cov) -> None:
    free = optimize(mu, cov, "min_volatility").weights
    result = optimize(mu, cov, "min_volatility", Constraints(weight_bounds={"AAPL": (0.1, 0.2), "XOM": (0.0, 0.05)})).weights
    assert free["AAPL"] < 0.1 and free["XOM"] > 0.05  # both bounds bind
    assert 0.1 - SLACK <= result["AAPL"] <= 0.2 + SLACK
    assert result["XOM"] <= 0.05 + SLACK and result.min() >= -SLACK


def test_sector_limits_hold_and_equal_pypfopt_sector_constraints(mu, cov, sectors) -> None:
    limits = {"Tech": (0.05, 0.2)}
    result = optimize(mu, cov, "max_sharpe", Constraints(sectors=sectors, sector_limits=limits))
    assert result.sector_weights(sectors)["Tech"] == pytest.approx(0.2, abs=SLACK)
    assert optimize(mu, cov, "max_sharpe").sector_weights(sectors)["Tech"] > 0.2  # the limit binds
    ef = reference(mu, cov)
    ef.add_sector_constraints(sectors, {"Tech": 0.05}, {"Tech": 0.2})
    ef.max_sharpe()
    np.testing.assert_allclose(result.weights.to_numpy(), ef.weights, atol=TOLERANCE)


def test_liquidity_caps_hold(prices, mu, cov) -> None:
    capital = 1e8
    last = prices.ffill().iloc[-1]
    volume = pd.Series(1e7, index=mu.index)
    volume[["MA", "FB"]] = [2e5, 1e5]  # thinly traded: caps of about 0.069 and 0.033
    caps = 0.1 * volume * 2.0 * last / capital  # 10% of average daily volume over 2 days, as weights
    constraints = Constraints(capital=capital, prices=last.to_dict(), average_daily_volume=volume.to_dict(),
                              volume_share=0.1, liquidation_days=2.0)
    result = optimize(mu, cov, "max_sharpe", constraints).weights
    assert (result <= caps + SLACK).all()
    assert (optimize(mu, cov, "max_sharpe").weights[["MA", "FB"]] > caps[["MA", "FB"]]).all()  # the caps bind
    np.testing.assert_allclose(result[["MA", "FB"]], caps[["MA", "FB"]], atol=SLACK)
    # Without volume_share the same capital, prices and volumes cap nothing (capital also sizes whole-share trades).
    inputs_only = dataclasses.replace(constraints, volume_share=None)
    pd.testing.assert_series_equal(optimize(mu, cov, "max_sharpe", inputs_only).weights, optimize(mu, cov, "max_sharpe").weights)
    with pytest.raises(QuantDeskError, match=r"Liquidity caps \(volume_share=0.1\) need capital: give them, or drop volume_share"):
        optimize(mu, cov, "max_sharpe", dataclasses.replace(constraints, capital=None))


def test_turnover_limit_holds_and_max_sharpe_stays_optimal(mu, cov) -> None:
    current = pd.Series(1.0 / len(mu), index=mu.index)
    constraints = Constraints(current_weights=current.to_dict(), turnover_limit=0.3)
    result = optimize(mu, cov, "max_sharpe", constraints)
    assert (result.weights - current).abs().sum() <= 0.3 + SLACK
    assert result.weights.sum() == pytest.approx(1.0)
    # No portfolio on the turnover-limited frontier has a higher Sharpe ratio than the one found.
    frontier = efficient_frontier(mu, cov, constraints, points=25)
    assert frontier["sharpe"].max() <= result.sharpe + 1e-6
    assert frontier["sharpe"].max() >= result.sharpe - 5e-3
    assert ((frontier[list(mu.index)] - current).abs().sum(axis=1) <= 0.3 + SLACK).all()


def test_long_short_gross_and_net_limits_hold(mu, cov) -> None:
    constraints = Constraints(long_only=False, gross_limit=1.6)
    result = optimize(mu, cov, "max_sharpe", constraints).weights
    assert result.abs().sum() <= 1.6 + SLACK and result.sum() == pytest.approx(1.0, abs=SLACK)
    assert result.min() < -0.01  # it does go short
    scaled = optimize(mu, cov, "min_volatility", Constraints(long_only=False, gross_limit=1.5, net_exposure=0.8)).weights
    assert scaled.sum() == pytest.approx(0.8, abs=SLACK) and scaled.abs().sum() <= 1.5 + SLACK
    # A net exposure other than 1 is solved in units of the net: the best Sharpe ratio is still the frontier's best.
    levered = Constraints(long_only=False, gross_limit=2.0, net_exposure=1.2)
    best = optimize(mu, cov, "max_sharpe", levered, risk_free_rate=0.03)
    assert best.weights.sum() == pytest.approx(1.2, abs=SLACK) and best.weights.abs().sum() <= 2.0 + SLACK
    frontier = efficient_frontier(mu, cov, levered, points=30, risk_free_rate=0.03)
    assert frontier["sharpe"].max() <= best.sharpe + 1e-6
    assert np.allclose(frontier[list(mu.index)].sum(axis=1), 1.2)
    # Without a gross limit the long-short max Sharpe is PyPortfolioOpt's with bounds (-1, 1).
    ef = reference(mu, cov, weight_bounds=(-1, 1))
    ef.max_sharpe()
    np.testing.assert_allclose(optimize(mu, cov, "max_sharpe", Constraints(long_only=False)).weights, ef.weights, atol=TOLERANCE)


def test_minimum_score_holds(mu, cov) -> None:
    scores = pd.Series(np.linspace(1.0, 10.0, len(mu)), index=mu.index)
    free = optimize(mu, cov, "max_sharpe").weights @ scores
    result = optimize(mu, cov, "max_sharpe", Constraints(scores=scores.to_dict(), minimum_score=free + 1.0)).weights
    assert result @ scores >= free + 1.0 - SLACK


# Errors ---------------------------------------------------------------------------------------


def test_infeasible_constraints_are_named(mu, cov, sectors) -> None:
    constraints = Constraints(weight_bounds=(0.01, 1.0), sectors=sectors, sector_limits={"Tech": (None, 0.2)},
                              current_weights={"AAPL": 0.5, "XOM": 0.5}, turnover_limit=5.0)
    with pytest.raises(QuantDeskError) as raised:
        optimize(mu, cov, "min_volatility", dataclasses.replace(constraints, weight_bounds=(0.05, 1.0)))
    message = str(raised.value)
    assert "sector Tech at most 0.2" in message and "weight bounds (0.05, 1)" in message
    assert "turnover" not in message and "status" not in message.lower()
    assert optimize(mu, cov, "min_volatility", constraints).weights.min() >= 0.01 - SLACK  # looser bounds do hold


def test_bounds_summing_past_the_net_exposure_are_named(mu, cov) -> None:
    with pytest.raises(QuantDeskError, match=r"weights summing to 1 and weight bounds \(0.1, 1\)"):
        optimize(mu, cov, "max_sharpe", Constraints(weight_bounds=(0.1, 1.0)))


def test_unreachable_targets_say_what_is_reachable(mu, cov) -> None:
    highest = f"({mu.max():.4g})"  # long-only, the best single asset
    with pytest.raises(QuantDeskError, match=rf"target_return=2 is above the highest expected return .* \{highest[:-1]}\)"):
        optimize(mu, cov, "efficient_return", target_return=2.0)
    with pytest.raises(QuantDeskError, match="minimum volatility"):
        optimize(mu, cov, "efficient_risk", target_volatility=0.01)


@pytest.mark.parametrize(("call", "words"), [
    (lambda mu, cov: optimize(mu, cov, "max_return"), "Unknown optimization method 'max_return'"),
    (lambda mu, cov: optimize(mu, cov, "hrp", linkage="nearest"), "Unknown linkage 'nearest'"),
    (lambda mu, cov: optimize(mu, cov, "max_sharpe", gamma=1), "Unknown option(s) gamma"),
    (lambda mu, cov: optimize(mu.drop("AAPL"), cov), "only in the covariance: AAPL"),
    (lambda mu, cov: optimize(mu, cov, constraints=Constraints(weight_bounds={"TSLA": (0, 1)})), "outside the universe: TSLA"),
    (lambda mu, cov: optimize(mu, cov, "hrp", Constraints(turnover_limit=0.1)), "cannot honour the constraints set (turnover_limit)"),
    (lambda mu, cov: optimize(mu, cov, "black_litterman", views={"TSLA": 0.1}), "outside the universe: TSLA"),
    (lambda mu, cov: optimize(mu, cov * np.outer(mu.index != "GE", mu.index != "GE"), "risk_parity"), "GE have none (zero variance)"),
])
def test_bad_input_is_one_clear_message(mu, cov, call, words) -> None:
    with pytest.raises(QuantDeskError) as raised:
        call(mu, cov)
    assert words in str(raised.value)


# Scale ---------------------------------------------------------------------------------------


def test_max_sharpe_solves_at_500_assets() -> None:
    rng = np.random.default_rng(7)
    days, assets = 1000, 500
    market = rng.normal(0.0004, 0.01, days)
    returns = market[:, None] * rng.uniform(0.5, 1.5, assets) + rng.normal(0.0002, 0.015, (days, assets))
    names = [f"S{i:03d}" for i in range(assets)]
    frame = pd.DataFrame(returns, columns=names)
    mu = frame.mean() * 252
    cov = frame.cov() * 252
    result = optimize(mu, cov, "max_sharpe", risk_free_rate=0.02)
    w = result.weights.to_numpy()
    assert w.sum() == pytest.approx(1.0) and w.min() >= -SLACK
    # Optimality (long-only tangency): every held asset has the same excess return per unit of marginal
    # variance, and no asset left out has more.
    ratio = (mu.to_numpy() - 0.02) / (cov.to_numpy() @ w)
    held = w > 1e-4
    level = (result.expected_return - 0.02) / result.volatility ** 2
    np.testing.assert_allclose(ratio[held], level, rtol=1e-3)
    assert (ratio[w < 1e-7] <= level * (1 + 1e-3)).all()
