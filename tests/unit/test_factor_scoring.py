"""Factor scoring against independent references: scipy, numpy, pandas, statsmodels and hand counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from quantdesk.errors import QuantDeskError
from quantdesk.factors.panel import synthetic_panel
from quantdesk.factors.scoring import (
    factor_correlation,
    forward_returns,
    leaderboard,
    load_scores,
    prepare_forward,
    redundant_clusters,
    save_scores,
    score,
    score_block,
    select_representatives,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # as tests/conftest.py defines it

HORIZONS = (1, 5)
QUANTILES = 5


def pandas_forward(close: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Forward return written independently of the module: close h bars ahead over today's close."""
    return close.shift(-horizon) / close - 1.0


@pytest.fixture(scope="module")
def market() -> dict:
    """A seeded synthetic panel with holes in the closes, and factors covering every case the kernel branches on."""
    panel = synthetic_panel(40, 160, seed=11)
    close = panel["close"].to_pandas()
    close.iloc[50:60, 3] = np.nan  # a trading halt: forward returns missing where the factor has values
    close.iloc[120:, 7] = np.nan  # a delisting
    close.iloc[:30, 9] = np.nan  # a late listing
    rng = np.random.default_rng(5)
    times, assets = close.shape
    oracle = pandas_forward(close, 1)
    noise = pd.DataFrame(rng.normal(size=(times, assets)), index=close.index, columns=close.columns)
    momentum = close.pct_change(10, fill_method=None)
    holey = noise.where(rng.random((times, assets)) > 0.3) * 2.0 + 1.0
    holey.iloc[20:25, 4:] = np.nan  # 4 names: too few to score
    holey.iloc[30, 5:] = np.nan  # exactly 5 names, 5 pairs
    holey.iloc[30, :5] = [0.3, -1.0, 2.0, 0.1, 0.5]
    tied = noise.copy()
    tied[:] = rng.integers(0, 4, size=(times, assets)).astype(float)
    empty = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    frames = {
        "oracle": oracle,
        "noise": noise,
        "momentum(window=10)": momentum,
        "holey": holey,
        "tied": tied,
        "empty": empty,
    }
    values = xr.DataArray(
        np.stack([frame.to_numpy() for frame in frames.values()], axis=-1),
        dims=("time", "asset", "factor"),
        coords={"time": close.index, "asset": close.columns, "factor": list(frames)},
    )
    close_array = xr.DataArray(
        close.to_numpy(), dims=("time", "asset"), coords={"time": close.index, "asset": close.columns}
    )
    return {
        "close": close,
        "close_array": close_array,
        "frames": frames,
        "values": values,
        "forward": {h: pandas_forward(close, h) for h in HORIZONS},
        "scores": score(values, close_array, HORIZONS, QUANTILES),
    }


def test_forward_returns_match_pandas_shift(market) -> None:
    forward = forward_returns(market["close_array"], HORIZONS)
    for h in HORIZONS:
        np.testing.assert_allclose(forward.sel(horizon=h).to_numpy(), market["forward"][h].to_numpy(), rtol=1e-14)
    assert np.isnan(forward.sel(horizon=5).to_numpy()[-5:]).all()
    delayed = forward_returns(market["close_array"], (1,), delay=1).sel(horizon=1).to_numpy()
    np.testing.assert_allclose(delayed[:-1], market["forward"][1].to_numpy()[1:], rtol=1e-14)


def test_rank_ic_equals_scipy_spearmanr_and_ic_numpy_corrcoef(market) -> None:
    scores = market["scores"]
    checked = {"rank": 0, "unscored": 0}
    for name, frame in market["frames"].items():
        for h in HORIZONS:
            forward = market["forward"][h].to_numpy()
            rank_ic = scores["rank_ic"].sel(factor=name, horizon=h).to_numpy()
            ic = scores["ic"].sel(factor=name, horizon=h).to_numpy()
            for t in range(frame.shape[0]):
                x, y = frame.to_numpy()[t], forward[t]
                both = np.isfinite(x) & np.isfinite(y)
                if both.sum() < 5:
                    assert np.isnan(rank_ic[t]) and np.isnan(ic[t]), (name, h, t)
                    checked["unscored"] += 1
                    continue
                assert rank_ic[t] == pytest.approx(stats.spearmanr(x[both], y[both]).statistic, abs=1e-12), (name, h, t)
                assert ic[t] == pytest.approx(np.corrcoef(x[both], y[both])[0, 1], abs=1e-12), (name, h, t)
                checked["rank"] += 1
    assert checked["rank"] > 1500 and checked["unscored"] > 100


def test_dates_with_too_few_names_are_not_scored(market) -> None:
    holey = market["scores"].sel(factor="holey", horizon=1)
    assert np.isnan(holey["rank_ic"].to_numpy()[20:25]).all()
    assert np.isfinite(holey["rank_ic"].to_numpy()[30])  # exactly min_pairs names
    stricter = score(market["values"].sel(factor=["holey"]), market["close_array"], (1,), QUANTILES, min_pairs=6)
    assert np.isnan(stricter["rank_ic"].to_numpy()[0, 0, 30])


def test_hand_picked_slice_against_spearmanr(market) -> None:
    """The issue's check: one date, the first 12 assets, by hand through score_block."""
    t = 77
    x = market["frames"]["momentum(window=10)"].to_numpy()[t:t + 1, :12, None]
    y = np.stack([market["forward"][h].to_numpy()[t:t + 1, :12] for h in HORIZONS])
    result = score_block(x, y, 3, horizons=HORIZONS)
    for row, h in enumerate(HORIZONS):
        expected = stats.spearmanr(x[0, :, 0], y[row, 0]).statistic
        assert result["rank_ic"][0, row, 0] == pytest.approx(expected, abs=1e-13)


def test_quantile_returns_match_pandas_qcut(market) -> None:
    scores = market["scores"]
    for name in ("noise", "momentum(window=10)", "holey", "oracle"):
        frame = market["frames"][name]
        for h in HORIZONS:
            forward = market["forward"][h]
            bucket_means, spreads = [], []
            for t in range(frame.shape[0]):
                table = pd.DataFrame({"x": frame.iloc[t].to_numpy(), "y": forward.iloc[t].to_numpy()}).dropna()
                if len(table) < max(5, QUANTILES):
                    spreads.append(np.nan)
                    continue
                table["bucket"] = pd.qcut(table["x"], QUANTILES, labels=False)
                means = table.groupby("bucket")["y"].mean().reindex(range(QUANTILES))
                bucket_means.append(means)
                spreads.append(means.iloc[-1] - means.iloc[0])
            expected = pd.concat(bucket_means, axis=1).mean(axis=1).to_numpy()
            at = scores.sel(factor=name, horizon=h)
            np.testing.assert_allclose(at["quantile_return"].to_numpy(), expected, rtol=1e-10)
            np.testing.assert_allclose(at["spread"].to_numpy(), spreads, rtol=1e-10, atol=1e-15)
            assert scores["spread_mean"].sel(factor=name, horizon=h) == pytest.approx(np.nanmean(spreads), rel=1e-10)


def test_tied_values_share_a_bucket_by_the_qcut_rule(market) -> None:
    """With ties qcut may refuse (duplicate edges); the documented rule is its own: count interior edges below."""
    frame, forward = market["frames"]["tied"], market["forward"][1]
    means = []
    for t in range(frame.shape[0]):
        x, y = frame.to_numpy()[t], forward.to_numpy()[t]
        both = np.isfinite(x) & np.isfinite(y)
        if both.sum() < 5:
            continue
        edges = np.quantile(x[both], np.linspace(0, 1, QUANTILES + 1))[1:-1]
        bucket = np.searchsorted(edges, x[both], side="left")
        means.append(pd.Series(y[both]).groupby(bucket).mean().reindex(range(QUANTILES)))
    expected = pd.concat(means, axis=1).mean(axis=1).to_numpy()
    got = market["scores"]["quantile_return"].sel(factor="tied", horizon=1).to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("quantiles", [2, 3, 5, 10])
def test_buckets_equal_qcut_for_many_cross_section_sizes(quantiles: int) -> None:
    rng = np.random.default_rng(quantiles)
    # Sizes where no interior edge falls exactly on a data point; there, qcut's floating-point
    # edge can land a hair below the point (next test).
    sizes = [size for size in range(quantiles + 5, 120) if np.gcd(size - 1, quantiles) == 1]
    assert len(sizes) > 20
    for size in sizes:
        x = rng.normal(size=(1, size, 1))
        y = rng.normal(size=(1, 1, size))
        result = score_block(x, y, quantiles, horizons=(1,))
        buckets = pd.qcut(x[0, :, 0], quantiles, labels=False)
        expected = pd.Series(y[0, 0]).groupby(buckets).mean().reindex(range(quantiles)).to_numpy()
        np.testing.assert_allclose(result["quantile_return"][0, 0], expected, rtol=1e-12, err_msg=f"{size} assets")


def test_a_value_on_an_edge_belongs_to_the_lower_bucket() -> None:
    # 7 assets in 3 buckets: edges at positions 7 * 1/3 ... exactly 2 and 4 of 0..6, i.e. on the
    # values 30 and 50; bins are right-closed as in qcut, so the buckets are {10,20,30} {40,50} {60,70}.
    x = np.array([[70.0, 10.0, 50.0, 20.0, 40.0, 60.0, 30.0]])[:, :, None]
    y = np.array([[[7.0, 1.0, 5.0, 2.0, 4.0, 6.0, 3.0]]])
    result = score_block(x, y, 3, horizons=(1,))
    np.testing.assert_allclose(result["quantile_return"][0, 0], [2.0, 4.5, 6.5])
    assert result["spread"][0, 0, 0] == pytest.approx(4.5)


def test_turnover_of_the_top_bucket_by_hand() -> None:
    # Six assets, two buckets: the top bucket is the three highest values each date.
    #   date 0: top {A, B, C}
    #   date 1: top {A, B, D}  -> D is new: 1/3
    #   date 2: top {D, E, F}  -> E, F are new: 2/3
    #   date 3: top {D, E, F}  -> 0
    values = np.array(
        [
            [6, 5, 4, 3, 2, 1],
            [6, 5, 1, 4, 3, 2],
            [1, 2, 3, 6, 5, 4],
            [3, 2, 1, 4, 5, 6],
        ],
        dtype=float,
    )[:, :, None]
    forward = np.zeros((1, 4, 6)) + np.arange(6) * 0.01
    result = score_block(values, forward, 2, horizons=(1,))
    assert result["turnover"][0] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert result["coverage"][0] == 1.0


def test_tstats_by_formula_and_newey_west_against_statsmodels(market) -> None:
    import statsmodels.api as sm

    scores = market["scores"]
    for h in HORIZONS:
        series = scores["rank_ic"].sel(factor="momentum(window=10)", horizon=h).to_numpy()
        series = series[np.isfinite(series)]
        n = series.size
        stats_at = scores.sel(factor="momentum(window=10)", horizon=h)
        assert int(stats_at["rank_ic_dates"]) == n
        assert float(stats_at["rank_ic_mean"]) == pytest.approx(series.mean(), rel=1e-12)
        assert float(stats_at["rank_ic_ir"]) == pytest.approx(series.mean() / series.std(ddof=1), rel=1e-12)
        tstat = series.mean() / series.std(ddof=1) * np.sqrt(n)
        assert float(stats_at["rank_ic_tstat"]) == pytest.approx(tstat, rel=1e-12)
        fit = sm.OLS(series, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": h - 1, "use_correction": False})
        assert float(stats_at["rank_ic_tstat_nw"]) == pytest.approx(fit.tvalues[0], rel=1e-10)


def test_oracle_factor_has_rank_ic_one_and_noise_about_zero(market) -> None:
    scores = market["scores"]
    oracle = scores["rank_ic"].sel(factor="oracle", horizon=1).to_numpy()
    scored = oracle[np.isfinite(oracle)]
    assert scored.size > 150 and np.allclose(scored, 1.0, atol=1e-12)
    assert float(scores["rank_ic_mean"].sel(factor="oracle", horizon=1)) == pytest.approx(1.0)
    returns = scores["quantile_return"].sel(factor="oracle", horizon=1).to_numpy()
    assert np.all(np.diff(returns) > 0)
    noise = scores.sel(factor="noise", horizon=1)
    standard_error = float(noise["rank_ic_std"]) / np.sqrt(float(noise["rank_ic_dates"]))
    assert abs(float(noise["rank_ic_mean"])) < 4 * standard_error
    assert abs(float(noise["rank_ic_mean"])) < 0.05
    # a random factor's top fifth is redrawn daily: about 80% of it is new
    assert float(scores["turnover"].sel(factor="noise")) == pytest.approx(0.8, abs=0.05)


def test_factor_without_values_does_not_stop_the_others(market) -> None:
    scores = market["scores"]
    assert str(scores["problem"].sel(factor="empty").item()) == "no values"
    assert float(scores["coverage"].sel(factor="empty")) == 0.0
    assert np.isnan(scores["rank_ic_mean"].sel(factor="empty")).all()
    assert (scores["problem"].drop_sel(factor="empty") == "").all()
    expected_coverage = np.isfinite(market["frames"]["momentum(window=10)"].to_numpy()).mean()
    assert float(scores["coverage"].sel(factor="momentum(window=10)")) == pytest.approx(expected_coverage)
    # the same value for every asset: covered, yet never scorable, and said so
    constant = np.ones((30, 8, 2))
    constant[:, :, 1] = np.random.default_rng(1).normal(size=(30, 8))
    result = score_block(constant, np.random.default_rng(2).normal(size=(1, 30, 8)), 2, horizons=(1,))
    assert result["coverage"][0] == 1.0 and result["problem"][0].startswith("no date scored")
    assert result["problem"][1] == "" and result["rank_ic_dates"][1, 0] == 30


def test_dask_backed_and_float32_values_score_the_same(market) -> None:
    values = market["values"]
    lazy = values.astype("float32").chunk({"factor": 2})
    in_memory = score(values.astype("float32"), market["close_array"], HORIZONS, QUANTILES)
    from_dask = score(lazy, market["close_array"], HORIZONS, QUANTILES)
    xr.testing.assert_identical(in_memory, from_dask)
    # float32 values rank like the float64 ones they round from, up to ties the rounding creates
    np.testing.assert_allclose(
        in_memory["rank_ic_mean"].sel(factor="noise"), market["scores"]["rank_ic_mean"].sel(factor="noise"), rtol=1e-6
    )


def test_bad_inputs_name_the_bad_value(market) -> None:
    values, close = market["values"], market["close_array"]
    with pytest.raises(QuantDeskError, match="quantiles 1 must be"):
        score(values, close, HORIZONS, 1)
    with pytest.raises(QuantDeskError, match="quantiles 41 is more than the 40 assets"):
        score(values, close, HORIZONS, 41)
    with pytest.raises(QuantDeskError, match="Horizon 200 .* the data has 160"):
        score(values, close, (1, 200), QUANTILES)
    with pytest.raises(QuantDeskError, match="Horizon 0 is not"):
        forward_returns(close, (0,))
    with pytest.raises(QuantDeskError, match="repeat"):
        forward_returns(close, (5, 5))
    with pytest.raises(QuantDeskError, match="min_pairs 2"):
        score(values, close, HORIZONS, QUANTILES, min_pairs=2)
    with pytest.raises(QuantDeskError, match="values has dimensions"):
        score(values.rename(factor="variant"), close)
    with pytest.raises(QuantDeskError, match="pass horizons"):
        score_block(values.to_numpy(), np.zeros((2, 160, 40)))


def test_leaderboard_ranks_by_magnitude_with_unscored_last(market) -> None:
    table = leaderboard(market["scores"], horizon=1)
    assert table.index[0] == "oracle" and table.index[-1] == "empty"
    assert list(table["rank"]) == list(range(1, 7))
    strength = table["rank_ic_ir"].abs().to_numpy()[:-1]
    assert np.all(np.diff(strength) <= 0)
    headline = {"rank_ic_mean_1", "rank_ic_mean_5", "turnover", "coverage", "spread_mean", "rank_ic_tstat_nw"}
    assert headline <= set(table.columns)
    assert table.loc["empty", "problem"] == "no values"
    with pytest.raises(QuantDeskError, match="Cannot rank by 'sharpe'"):
        leaderboard(market["scores"], by="sharpe")
    with pytest.raises(QuantDeskError, match="Horizon 21 was not scored"):
        leaderboard(market["scores"], horizon=21)


def test_factor_correlation_and_redundant_clusters() -> None:
    rng = np.random.default_rng(3)
    times, assets = 40, 30
    base = rng.normal(size=(times, assets))
    other = rng.normal(size=(times, assets))
    factors = {
        "a": base,
        "a_scaled": 3.0 * base + 1.0,  # same ranks as a
        "a_reversed": -base,  # rho = -1: redundant once reversed
        "b": other,
        "b_noisy": other + 0.05 * rng.normal(size=(times, assets)),
        "c": rng.normal(size=(times, assets)),
    }
    values = xr.DataArray(
        np.stack(list(factors.values()), axis=-1), dims=("time", "asset", "factor"), coords={"factor": list(factors)}
    )
    correlation = factor_correlation(values, sample_dates=10)
    picked = np.unique(np.linspace(0, times - 1, 10).round().astype(int))
    for first in factors:
        for second in factors:
            expected = np.mean([stats.spearmanr(factors[first][t], factors[second][t]).statistic for t in picked])
            assert float(correlation.sel(factor=first, other_factor=second)) == pytest.approx(expected, abs=1e-12)
    clusters = redundant_clusters(correlation, threshold=0.9)
    assert sorted(map(sorted, clusters)) == [["a", "a_reversed", "a_scaled"], ["b", "b_noisy"], ["c"]]

    close = xr.DataArray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (times, assets)), axis=0)), dims=("time", "asset"))
    forward = forward_returns(close, (1,)).sel(horizon=1).to_numpy()
    factors_scored = values.copy()
    factors_scored.loc[{"factor": "b_noisy"}] = np.nan_to_num(forward, nan=0.0) + 1e-4 * other  # predictive
    scores = score(factors_scored, close, (1,), 5)
    chosen = select_representatives(clusters, scores, horizon=1)
    assert "b_noisy" in chosen and len(chosen) == 3
    with pytest.raises(QuantDeskError, match="threshold 1.5"):
        redundant_clusters(correlation, threshold=1.5)


def test_momentum_on_real_prices_matches_scipy() -> None:
    path = SHARED_DATA / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz"
    prices = pd.read_csv(path, index_col="date", parse_dates=True)
    prices = prices.loc["2010":"2014"].rename_axis("time")  # listings start inside this window: NaN before them
    momentum = prices.pct_change(21, fill_method=None)
    reversal = -prices.pct_change(5, fill_method=None)
    values = xr.DataArray(
        np.stack([momentum.to_numpy(), reversal.to_numpy()], axis=-1),
        dims=("time", "asset", "factor"),
        coords={"time": prices.index, "asset": prices.columns, "factor": ["momentum(window=21)", "reversal(window=5)"]},
    )
    close = xr.DataArray(
        prices.to_numpy(), dims=("time", "asset"), coords={"time": prices.index, "asset": prices.columns}
    )
    scores = score(values, close, (1, 5), 5)
    forward = {h: pandas_forward(prices, h) for h in (1, 5)}
    dates = ["2010-03-01", "2011-06-15", "2012-05-18", "2012-05-21", "2013-09-03", "2014-12-01"]
    for when in dates:
        t = prices.index.get_loc(pd.Timestamp(when))
        for h in (1, 5):
            x, y = momentum.iloc[t].to_numpy(), forward[h].iloc[t].to_numpy()
            both = np.isfinite(x) & np.isfinite(y)
            expected = stats.spearmanr(x[both], y[both]).statistic
            got = float(scores["rank_ic"].sel(factor="momentum(window=21)", horizon=h).isel(time=t))
            assert got == pytest.approx(expected, abs=1e-12), (when, h)
    # FB lists in May 2012: before, 19 or fewer names have a momentum value
    t = prices.index.get_loc(pd.Timestamp("2012-05-18"))
    assert np.isfinite(momentum.iloc[t]).sum() < np.isfinite(prices.iloc[t]).sum()
    assert (scores["rank_ic_dates"] > 1000).all()


def test_prepared_forward_reused_across_blocks_gives_the_whole(market) -> None:
    values = market["values"].to_numpy()
    forward = forward_returns(market["close_array"], HORIZONS)
    ranked = prepare_forward(forward)
    whole = score_block(values, ranked, QUANTILES)
    parts = [score_block(values[:, :, i:i + 1], ranked, QUANTILES, parallel=False) for i in range(values.shape[2])]
    for name in ("rank_ic", "ic", "quantile_return", "turnover", "rank_ic_tstat_nw"):
        np.testing.assert_array_equal(whole[name], np.concatenate([part[name] for part in parts]))


def test_scores_round_trip_through_zarr(market, tmp_path) -> None:
    path = save_scores(market["scores"], tmp_path / "scores.zarr")
    again = load_scores(path)
    xr.testing.assert_identical(again.drop_vars("problem"), market["scores"].drop_vars("problem"))
    assert list(again["problem"].to_numpy()) == list(market["scores"]["problem"].to_numpy())
    with pytest.raises(QuantDeskError, match="No scores at"):
        load_scores(tmp_path / "missing.zarr")


def test_factors_on_fewer_dates_use_closes_beyond_them(market) -> None:
    """A horizon may reach past the factors' last date: the closes after it still count."""
    first = market["values"].isel(time=slice(0, 100), asset=slice(5, 35))
    part = score(first, market["close_array"], HORIZONS, QUANTILES)
    recomputed = score(market["values"].isel(asset=slice(5, 35)), market["close_array"], HORIZONS, QUANTILES)
    np.testing.assert_array_equal(part["rank_ic"].to_numpy(), recomputed["rank_ic"].isel(time=slice(0, 100)).to_numpy())
    assert np.isfinite(part["rank_ic"].sel(factor="noise", horizon=5).to_numpy()[-1])
