"""Monte Carlo resampling: reproducible draws, band widths against the 1/sqrt(n) law, hand-built paths."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest.monte_carlo import (
    block_indices,
    bootstrap_returns,
    bootstrap_trades,
    default_block_size,
    equity_from_pnl,
    max_drawdowns,
    probability_of_drawdown,
    run_monte_carlo,
    simulate_run,
)
from quantdesk.backtest.statistics import TRADING_DAYS, drawdown
from quantdesk.config.monte_carlo import MonteCarloConfig
from quantdesk.errors import QuantDeskError


def _spread(values: np.ndarray) -> float:
    low, high = np.quantile(values, [0.05, 0.95])
    return float(high - low)


# --- reproducibility ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["trades", "returns"])
def test_same_seed_gives_identical_numbers_and_another_seed_does_not(method: str) -> None:
    data = np.random.default_rng(3).normal(0.001, 0.01, 200)

    def simulate(seed: int):
        if method == "trades":
            return bootstrap_trades(data * 1000, 10_000.0, simulations=300, seed=seed, trades_per_year=50)
        return bootstrap_returns(data, 10_000.0, block_size=5, simulations=300, seed=seed)

    first, again, other = simulate(11), simulate(11), simulate(12)
    for name in ("final_equity", "max_drawdown", "sharpe"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
        assert not np.array_equal(getattr(first, name), getattr(other, name))
    pd.testing.assert_frame_equal(first.bands, again.bands)
    pd.testing.assert_frame_equal(first.summary, again.summary)
    assert first.drawdown_probability == again.drawdown_probability


# --- band widths -------------------------------------------------------------------------


def test_bands_widen_with_fewer_trades() -> None:
    # Same per-trade distribution, 16x fewer trades: ``many`` repeats ``few`` 16 times,
    # so both empirical distributions are identical. The bootstrap mean of n draws has
    # standard deviation sigma / sqrt(n) (sigma: population std of the sample), so the
    # band of the mean P&L per trade is sqrt(400 / 25) = 4 times wider with 25 trades.
    few = np.random.default_rng(0).normal(200.0, 1000.0, 25)
    many = np.tile(few, 16)
    capital, simulations = 1e6, 4000
    small = bootstrap_trades(few, capital, simulations=simulations, seed=1, trades_per_year=12)
    large = bootstrap_trades(many, capital, simulations=simulations, seed=1, trades_per_year=12)
    mean_small = (small.final_equity - capital) / len(few)
    mean_large = (large.final_equity - capital) / len(many)
    sigma = few.std()
    # The standard deviation of 4000 draws is itself within about 1/sqrt(2*4000) = 1.1%.
    assert mean_small.std() == pytest.approx(sigma / math.sqrt(25), rel=0.05)
    assert mean_large.std() == pytest.approx(sigma / math.sqrt(400), rel=0.05)
    assert 3.6 < _spread(mean_small) / _spread(mean_large) < 4.4
    # The Sharpe ratio's standard error also falls like 1/sqrt(n); with 25 trades the
    # noise of the sample std adds a little more spread, never less.
    assert 3.6 < _spread(small.sharpe) / _spread(large.sharpe) < 5.0
    summary_width = small.summary.loc["sharpe", "95%"] - small.summary.loc["sharpe", "5%"]
    assert summary_width == pytest.approx(_spread(small.sharpe))


def test_shorter_horizon_and_earlier_steps_give_wider_per_trade_bands() -> None:
    pnl = np.random.default_rng(5).normal(50.0, 500.0, 40)
    short = bootstrap_trades(pnl, 1e5, simulations=4000, seed=2, horizon=40)
    long = bootstrap_trades(pnl, 1e5, simulations=4000, seed=2, horizon=160)
    per_trade = _spread((short.final_equity - 1e5) / 40) / _spread((long.final_equity - 1e5) / 160)
    assert 1.8 < per_trade < 2.2  # sqrt(160 / 40) = 2
    # In currency, the fan opens like sqrt(steps): 16 trades in, it is twice as wide as 4 in.
    width = long.bands["95%"] - long.bands["5%"]
    assert width.iloc[0] == 0.0 and width.index.name == "trade"
    assert 1.8 < width.iloc[16] / width.iloc[4] < 2.2
    assert len(long.bands) == 161 and long.horizon == 160


# --- block bootstrap ---------------------------------------------------------------------


def test_blocks_are_runs_of_consecutive_days_that_wrap() -> None:
    indices = block_indices(length=10, block_size=3, simulations=200, horizon=10, rng=4)
    assert indices.shape == (200, 10)
    assert indices.min() >= 0 and indices.max() <= 9
    steps = (np.diff(indices, axis=1) % 10)
    within_block = np.ones(9, dtype=bool)
    within_block[[2, 5, 8]] = False  # positions 3, 6 and 9 start new blocks
    assert (steps[:, within_block] == 1).all()
    assert ((indices[:, :-1] == 9) & (indices[:, 1:] == 0))[:, within_block].any()  # some block wraps
    assert not (steps[:, ~within_block] == 1).all()  # blocks start independently


def test_full_length_blocks_are_rotations_of_the_original() -> None:
    returns = np.array([0.01, -0.02, 0.03, 0.005, -0.01, 0.02])
    indices = block_indices(length=6, block_size=6, simulations=200, horizon=6, rng=8)
    rotations = {tuple(np.roll(returns, -k)) for k in range(6)}
    drawn = {tuple(row) for row in returns[indices]}
    assert drawn == rotations  # every path is a rotation, and all six turn up in 200 draws
    result = bootstrap_returns(returns, 1000.0, block_size=6, simulations=200, seed=8)
    # A rotation reorders the days: same product, same mean and std, so the same
    # final equity and Sharpe ratio (computed here by pandas, independently).
    np.testing.assert_allclose(result.final_equity, 1000.0 * np.prod(1.0 + returns), rtol=1e-12)
    series = pd.Series(returns)
    np.testing.assert_allclose(result.sharpe, series.mean() / series.std() * math.sqrt(TRADING_DAYS), rtol=1e-9)
    assert result.original["sharpe"] == pytest.approx(series.mean() / series.std() * math.sqrt(TRADING_DAYS))


def test_block_bootstrap_keeps_the_mean_return_on_average() -> None:
    # Skewed in time (small early, large late): a bootstrap that under-drew the ends, as
    # a non-wrapping moving-block one does, would miss the mean by about 6 standard errors here.
    generator = np.random.default_rng(9)
    returns = np.linspace(0.0, 1.0, 300) ** 2 * 0.01 - 0.002 + generator.normal(0.0, 0.01, 300)
    simulations = 20_000
    indices = block_indices(len(returns), block_size=10, simulations=simulations, horizon=295, rng=1)
    path_means = returns[indices].mean(axis=1)
    standard_error = path_means.std() / math.sqrt(simulations)
    assert abs(path_means.mean() - returns.mean()) < 4 * standard_error


def test_default_block_size_is_the_cube_root() -> None:
    assert default_block_size(2012) == 13
    assert default_block_size(1) == 1
    result = bootstrap_returns(np.full(27, 0.001), 100.0, simulations=2, seed=0)
    assert result.block_size == 3


# --- drawdowns and their probability -----------------------------------------------------


def test_max_drawdown_of_hand_made_paths() -> None:
    path = np.array([100.0, 120.0, 90.0, 130.0, 65.0, 70.0])
    # Peaks 100, 120, 120, 130, 130, 130: the deepest fall is 130 -> 65, i.e. -50%.
    assert max_drawdowns(path) == pytest.approx(-0.5)
    assert max_drawdowns(path) == pytest.approx(drawdown(pd.Series(path)).min())
    np.testing.assert_allclose(
        max_drawdowns(np.array([path, [100.0, 101.0, 102.0, 103.0, 104.0, 105.0], [100.0, 80.0, 90.0, 60.0, 60.0, 200.0]])),
        [-0.5, 0.0, -0.4],
    )


def test_drawdown_probability_is_one_when_every_trade_loses_and_zero_when_every_trade_wins() -> None:
    losing = bootstrap_trades([-1500.0, -2500.0], 10_000.0, simulations=500, seed=0, horizon=5, drawdown_threshold=0.2)
    assert losing.drawdown_probability == 1.0  # five losses cost at least 7,500 of 10,000
    winning = bootstrap_trades([1500.0, 2500.0], 10_000.0, simulations=500, seed=0, horizon=5, drawdown_threshold=0.01)
    assert winning.drawdown_probability == 0.0
    assert (winning.max_drawdown == 0.0).all()
    assert probability_of_drawdown(np.array([-0.1, -0.2, -0.3, 0.0]), 0.2) == 0.25  # deeper than, not equal


def test_drawdown_probability_matches_exact_enumeration() -> None:
    pnl, capital, horizon, threshold = [1000.0, -1000.0], 10_000.0, 4, 0.15

    def deepest(sequence: tuple[float, ...]) -> float:
        equity, peak, worst = capital, capital, 0.0
        for step in sequence:
            equity += step
            peak = max(peak, equity)
            worst = min(worst, equity / peak - 1.0)
        return worst

    # All 16 equally likely sequences: a drawdown deeper than 15% takes two losses in a
    # row (2,000 below a peak of at most 12,000), and 8 of the 16 have that.
    exact = np.mean([deepest(s) < -threshold for s in itertools.product(pnl, repeat=horizon)])
    assert exact == 0.5
    simulations = 20_000
    result = bootstrap_trades(pnl, capital, simulations=simulations, seed=3, horizon=horizon, drawdown_threshold=threshold)
    assert abs(result.drawdown_probability - exact) < 4 * math.sqrt(exact * (1 - exact) / simulations)


def test_a_ruined_account_stays_at_zero() -> None:
    paths = equity_from_pnl(np.array([[-6000.0, -6000.0, 9000.0]]), 10_000.0)
    np.testing.assert_array_equal(paths, [[10_000.0, 4000.0, 0.0, 0.0]])
    result = bootstrap_trades([-6000.0, -7000.0], 10_000.0, simulations=50, seed=0, horizon=3)
    assert (result.final_equity == 0.0).all() and (result.max_drawdown == -1.0).all()
    assert np.isfinite(result.sharpe).all()


# --- trade Sharpe and the original run ---------------------------------------------------


def test_trade_sharpe_and_original_values_by_hand() -> None:
    result = bootstrap_trades([100.0, 300.0, -200.0], 10_000.0, simulations=10, seed=0, trades_per_year=4)
    # Per-trade returns on the equity before each trade: 100/10000, 300/10100, -200/10400.
    returns = pd.Series([100 / 10_000, 300 / 10_100, -200 / 10_400])
    assert result.original["sharpe"] == pytest.approx(returns.mean() / returns.std() * 2.0)
    assert result.original["final_equity"] == 10_200.0
    assert result.original["max_drawdown"] == pytest.approx(10_200 / 10_400 - 1)
    assert result.summary.loc["final_equity", "original"] == 10_200.0
    assert list(result.summary.columns) == ["5%", "50%", "95%", "mean", "original"]
    assert list(result.summary.index) == ["final_equity", "total_return", "max_drawdown", "sharpe"]
    assert "P(max drawdown deeper than 20.0%)" in result.report()


def test_flat_paths_have_no_sharpe_ratio() -> None:
    # Trades that neither win nor lose: every return is 0, so std is 0 and Sharpe undefined.
    result = bootstrap_trades([0.0, 0.0], 1000.0, simulations=5, seed=0)
    np.testing.assert_array_equal(result.final_equity, 1000.0)
    assert np.isnan(result.sharpe).all() and np.isnan(result.summary.loc["sharpe", "50%"])
    assert "n/a" in result.report()


def test_pure_functions_reject_bad_inputs() -> None:
    with pytest.raises(QuantDeskError, match="needs at least 2 closed trade P&L values, got 1"):
        bootstrap_trades([5.0], 1000.0)
    with pytest.raises(QuantDeskError, match="non-finite returns"):
        bootstrap_returns([0.01, float("nan"), 0.0], 1000.0)
    with pytest.raises(QuantDeskError, match=r"block_size=7 must be between 1 and the number of returns \(3\)"):
        bootstrap_returns([0.01, 0.02, 0.0], 1000.0, block_size=7)
    with pytest.raises(QuantDeskError, match="lower simulations or horizon"):
        bootstrap_trades([1.0, 2.0], 1000.0, simulations=1_000_000, horizon=1000)


# --- config ------------------------------------------------------------------------------


def test_config_is_frozen_hashable_and_round_trips() -> None:
    config = MonteCarloConfig.from_mapping({"run_id": "abc123", "method": "returns", "block_size": 5, "seed": 7})
    again = MonteCarloConfig.parse(config.json())
    assert again == config and hash(again) == hash(config) and again.id == config.id
    assert json.loads(config.json())["quantiles"] == [0.05, 0.5, 0.95]
    assert MonteCarloConfig.from_mapping({"run_id": "abc123", "method": "returns", "seed": 8}).id != config.id
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "bootstrap"}, "Unknown Monte Carlo method 'bootstrap': use one of trades, returns"),
        ({"simulations": 0}, "simulations=0 must be at least 1"),
        ({"method": "returns", "block_size": 0}, "block_size=0 must be at least 1 day"),
        ({"block_size": 5}, "block_size=5 applies to method 'returns' only"),
        ({"drawdown_threshold": 1.5}, "drawdown_threshold=1.5 must be a fraction between 0 and 1"),
        ({"drawdown_threshold": 0.0}, "drawdown_threshold=0.0 must be a fraction between 0 and 1"),
        ({"quantiles": [0.05, 95]}, r"Quantile 95.0 is outside \[0, 1\]"),
        ({"quantiles": []}, "quantiles is empty"),
        ({"quantiles": [0.5, 0.5]}, "repeat a level"),
        ({"horizon": 1}, "horizon=1 must be at least 2 trades"),
        ({"seed": -1}, "seed=-1 must be zero or positive"),
        ({"run_id": " "}, "run_id is empty"),
        ({"simulations": "many"}, "field 'simulations': Expected `int`, got `str`"),
        ({"sims": 10}, "unknown field `sims`"),
    ],
)
def test_config_rejects_bad_fields(fields: dict, message: str) -> None:
    with pytest.raises(QuantDeskError, match=message):
        MonteCarloConfig.from_mapping({"run_id": "abc123", **fields})


# --- a real run --------------------------------------------------------------------------


def test_trade_bootstrap_of_the_demo_run_is_centred_on_its_result(demo_result) -> None:
    simulations = 4000
    config = MonteCarloConfig(run_id=demo_result.run_id, simulations=simulations, seed=1)
    result = simulate_run(demo_result, config)
    ending = demo_result.summary["ending_equity"]
    # Net trade P&L adds up to the run's ending equity (the demo ends flat).
    assert result.original["final_equity"] == pytest.approx(ending, abs=1e-6)
    assert result.horizon == demo_result.summary["round_trips"] == 27
    final = result.final_equity
    sigma = final.std()
    # The sum of n draws with replacement has exactly the original sum as its mean.
    assert abs(final.mean() - ending) < 4 * sigma / math.sqrt(simulations)
    # Its median sits below the mean by about skewness / 6 standard deviations (Pearson;
    # trade P&L skewness g over sqrt(n) trades), give or take the median's sampling
    # error 1.2533 sigma / sqrt(simulations), taken 3 times.
    pnl = demo_result.positions["realized_pnl"].to_numpy()
    skewness = np.mean((pnl - pnl.mean()) ** 3) / pnl.std() ** 3
    tolerance = (skewness / math.sqrt(len(pnl)) / 6 + 3 * 1.2533 / math.sqrt(simulations)) * sigma
    assert abs(np.median(final) - ending) < tolerance
    assert tolerance < 0.03 * ending  # a band this narrow still says something
    assert result.summary.loc["final_equity", "5%"] < ending < result.summary.loc["final_equity", "95%"]


def test_full_length_blocks_of_the_demo_run_reproduce_its_statistics(demo_result) -> None:
    days = len(demo_result.equity) - 1  # daily bars: one return per bar after the first
    config = MonteCarloConfig(run_id=demo_result.run_id, method="returns", block_size=days, simulations=50, seed=0)
    result = simulate_run(demo_result, config)
    np.testing.assert_allclose(result.final_equity, demo_result.summary["ending_equity"], rtol=1e-10)
    np.testing.assert_allclose(result.sharpe, demo_result.summary["sharpe"], rtol=1e-9)
    assert result.original["max_drawdown"] == pytest.approx(demo_result.summary["max_drawdown"])


def test_stored_run_is_found_by_prefix_and_a_bad_id_is_one_clear_line(demo_result, catalog_root) -> None:
    config = MonteCarloConfig(run_id=demo_result.run_id[:10], simulations=200, seed=4)
    result = run_monte_carlo(config, catalog=catalog_root)
    assert result.run_id == demo_result.run_id
    np.testing.assert_array_equal(result.final_equity, simulate_run(demo_result, config).final_equity)
    with pytest.raises(QuantDeskError) as error:
        run_monte_carlo(MonteCarloConfig(run_id="feedbeef"), catalog=catalog_root)
    message = str(error.value)
    assert "'feedbeef'" in message and "quantdesk backtest list" in message and "\n" not in message


def test_a_run_with_one_closed_trade_asks_for_the_returns_method(demo_result) -> None:
    one_trade = dataclasses.replace(demo_result, positions=demo_result.positions.head(1))
    with pytest.raises(QuantDeskError, match=f"Run {demo_result.run_id[:12]} has 1 closed trade: .*method 'returns'"):
        simulate_run(one_trade, MonteCarloConfig(run_id=demo_result.run_id))
    too_long = MonteCarloConfig(run_id=demo_result.run_id, method="returns", block_size=10_000)
    with pytest.raises(QuantDeskError, match="block_size=10000 is longer than run"):
        simulate_run(demo_result, too_long)
