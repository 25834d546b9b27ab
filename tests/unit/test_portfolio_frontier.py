"""The efficient frontier under constraints, serial and on a two-worker Dask LocalCluster, against PyPortfolioOpt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier
from pypfopt import expected_returns as pypfopt_returns
from pypfopt import risk_models as pypfopt_risk

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio import Constraints, efficient_frontier, optimize

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "daily" / "pyportfolioopt"


@pytest.fixture(scope="module")
def inputs() -> tuple[pd.Series, pd.DataFrame]:
    prices = pd.read_csv(DATA / "tests-stock_prices.csv.gz", parse_dates=["date"], index_col="date")
    return pypfopt_returns.mean_historical_return(prices), pypfopt_risk.sample_cov(prices)


CONSTRAINTS = Constraints(weight_bounds=(0.0, 0.3), sectors={"GOOG": "Tech", "AAPL": "Tech", "FB": "Tech", "AMZN": "Tech"},
                          sector_limits={"Tech": (None, 0.25)})


def sectors(assets: pd.Index) -> dict[str, str]:
    return {asset: CONSTRAINTS.sectors.get(asset, "Other") for asset in assets}


def test_frontier_points_equal_pypfopt_efficient_return(inputs) -> None:
    mu, cov = inputs
    constraints = dataclasses.replace(CONSTRAINTS, sectors=sectors(mu.index))
    frontier = efficient_frontier(mu, cov, constraints, points=8)
    assert len(frontier) == 8
    lowest = optimize(mu, cov, "min_volatility", constraints)
    assert frontier["target_return"].iloc[0] == pytest.approx(lowest.expected_return, abs=1e-6)
    assert frontier["volatility"].iloc[0] == pytest.approx(lowest.volatility, abs=1e-6)
    assert np.all(np.diff(frontier["volatility"]) > 0) and np.all(np.diff(frontier["expected_return"]) > 0)
    for _, row in frontier.iloc[1:-1].iterrows():
        ef = EfficientFrontier(mu, cov, weight_bounds=(0.0, 0.3), solver="CLARABEL")
        ef.add_sector_constraints(sectors(mu.index), {"Tech": 0.0}, {"Tech": 0.25})
        ef.efficient_return(float(row["target_return"]))
        np.testing.assert_allclose(row[list(mu.index)].to_numpy(dtype=float), ef.weights, atol=1e-4)
        assert row["volatility"] == pytest.approx(ef.portfolio_performance()[1], abs=1e-6)


def test_frontier_on_dask_equals_the_serial_frontier(inputs, dask_client) -> None:
    mu, cov = inputs
    constraints = dataclasses.replace(CONSTRAINTS, sectors=sectors(mu.index))
    serial = efficient_frontier(mu, cov, constraints, points=7, risk_free_rate=0.01)
    spread = efficient_frontier(mu, cov, constraints, points=7, risk_free_rate=0.01, client=dask_client)
    pd.testing.assert_frame_equal(spread, serial, atol=1e-7, rtol=0)


def test_a_frontier_needs_two_points(inputs) -> None:
    with pytest.raises(QuantDeskError, match="points=1"):
        efficient_frontier(*inputs, points=1)
