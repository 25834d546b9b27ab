"""Resampled frontiers and bootstrap weight intervals on real prices, serially and on a two-worker LocalCluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models
from pypfopt.base_optimizer import portfolio_performance

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.robustness import resampled_frontier, weight_confidence

STOCKS = "/work/shared/data/daily/pyportfolioopt/tests-stock_prices.csv.gz"
SECTORS = {"GOOG": "tech", "AAPL": "tech", "FB": "tech", "AMZN": "tech", "GE": "industrial",
           "AMD": "tech", "WMT": "consumer", "BAC": "financial", "GM": "industrial", "T": "telecom"}
CONSTRAINTS = Constraints(weight_bounds=(0.0, 0.25), sectors=SECTORS, sector_limits={"tech": (None, 0.5)})


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    """Ten real stocks over their last 600 trading days (every one listed throughout)."""
    frame = pd.read_csv(STOCKS, index_col=0, parse_dates=True)
    return frame[list(SECTORS)].iloc[-600:]


def test_resampled_frontier_is_reproducible_and_the_same_on_a_cluster(prices: pd.DataFrame, dask_client) -> None:
    options = {"constraints": CONSTRAINTS, "points": 5, "resamples": 10, "seed": 7, "progress": False}
    serial = resampled_frontier(prices, **options)
    again = resampled_frontier(prices, **options, batch_size=4)
    clustered = resampled_frontier(prices, **options, client=dask_client, batch_size=3)
    pd.testing.assert_frame_equal(serial.frontier, again.frontier, check_exact=True)
    pd.testing.assert_frame_equal(serial.frontier, clustered.frontier, check_exact=True)
    pd.testing.assert_frame_equal(serial.weight_std, clustered.weight_std, check_exact=True)
    other_seed = resampled_frontier(prices, **{**options, "seed": 8})
    assert not np.allclose(serial.weights.to_numpy(), other_seed.weights.to_numpy())
    assert (serial.resamples, serial.failed) == (10, 0)

    # Averaged weights keep the constraints (all convex), rank by rank.
    weights = serial.weights
    tech = [asset for asset, sector in SECTORS.items() if sector == "tech"]
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert (weights >= -1e-6).all().all() and (weights <= 0.25 + 1e-6).all().all()
    assert (weights[tech].sum(axis=1) <= 0.5 + 1e-6).all()
    # Risk rises along the ranks, and the figures are the averaged weights under the original
    # estimates, as PyPortfolioOpt computes them.
    assert serial.frontier["volatility"].is_monotonic_increasing
    mu = expected_returns.mean_historical_return(prices)
    cov = risk_models.CovarianceShrinkage(prices).ledoit_wolf()
    for rank, row in weights.iterrows():
        expected, volatility, sharpe = portfolio_performance(row.to_dict(), mu, cov, risk_free_rate=0.0)
        figures = serial.frontier.loc[rank]
        assert (figures.expected_return, figures.volatility, figures.sharpe) == pytest.approx((expected, volatility, sharpe))


def test_bootstrap_intervals_hold_the_point_estimate(prices: pd.DataFrame, dask_client) -> None:
    options = {"method": "min_volatility", "resamples": 10, "level": 0.9, "seed": 3, "progress": False}
    serial = weight_confidence(prices, **options)
    clustered = weight_confidence(prices, **options, client=dask_client, batch_size=4)
    pd.testing.assert_frame_equal(serial.table(), clustered.table(), check_exact=True)
    table = serial.table()
    assert ((table["lower"] <= table["point"] + 1e-6) & (table["point"] <= table["upper"] + 1e-6)).all()
    assert (table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all()
    assert serial.samples.shape == (10, 10)
    assert np.allclose(serial.samples.sum(axis=1), 1.0, atol=1e-6)
    assert table["lower"].to_dict() == pytest.approx(serial.samples.quantile(0.05).to_dict())

    # The point estimate is PyPortfolioOpt's own minimum-volatility portfolio on the same estimates.
    reference = EfficientFrontier(expected_returns.mean_historical_return(prices),
                                  risk_models.CovarianceShrinkage(prices).ledoit_wolf(), solver="CLARABEL")
    expected = pd.Series(reference.min_volatility())
    assert serial.point.to_dict() == pytest.approx(expected.to_dict(), abs=1e-4)


def test_parametric_and_bootstrap_sampling_differ_and_each_is_reproducible(prices: pd.DataFrame) -> None:
    options = {"method": "min_volatility", "resamples": 4, "seed": 11, "progress": False}
    bootstrap = weight_confidence(prices, sampling="bootstrap", **options)
    parametric = weight_confidence(prices, sampling="parametric", **options)
    assert not np.allclose(bootstrap.samples.to_numpy(), parametric.samples.to_numpy())
    pd.testing.assert_frame_equal(parametric.samples, weight_confidence(prices, sampling="parametric", **options).samples)


def test_progress_counts_every_resample(prices: pd.DataFrame) -> None:
    seen: list[tuple[int, int]] = []
    weight_confidence(prices, "min_volatility", resamples=6, batch_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 6), (6, 6)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: weight_confidence(p, sampling="jackknife"), "Unknown sampling 'jackknife'"),
        (lambda p: weight_confidence(p, resamples=0), "resamples=0"),
        (lambda p: weight_confidence(p, level=1.5), "level=1.5"),
        (lambda p: resampled_frontier(p, points=1), "points=1"),
        (lambda p: resampled_frontier(p.iloc[:1]), "fewer than 2"),
        (lambda p: resampled_frontier(p, risk_method="factor_model"), "cannot redraw factor returns"),
    ],
)
def test_bad_input_is_one_clear_error(prices: pd.DataFrame, call, message: str) -> None:
    with pytest.raises(QuantDeskError) as raised:
        call(prices)
    assert message in str(raised.value)


def test_dates_missing_a_price_are_dropped_for_the_original_estimates_too() -> None:
    # BABA listed in September 2014: the first 112 of these dates have no BABA price.
    history = pd.read_csv(STOCKS, index_col=0, parse_dates=True)[["AAPL", "BABA", "WMT", "XOM"]].iloc[-1008:]
    assert history["BABA"].isna().sum() == 112
    confidence = weight_confidence(history, "min_volatility", resamples=2, progress=False)
    complete = history.dropna()
    reference = EfficientFrontier(expected_returns.mean_historical_return(complete),
                                  risk_models.CovarianceShrinkage(complete).ledoit_wolf(), solver="CLARABEL")
    assert confidence.point.to_dict() == pytest.approx(reference.min_volatility(), abs=1e-4)
