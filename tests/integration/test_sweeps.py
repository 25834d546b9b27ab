"""Sweeps, walk-forward and multi-period runs on a real two-worker Dask LocalCluster."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest import calendar_years, load_sweep, run_backtest, run_periods, run_sweep, run_walk_forward
from quantdesk.backtest.examples import demo_spec
from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config import BacktestSpec, SweepConfig, WalkForwardConfig
from quantdesk.errors import QuantDeskError

pytestmark = pytest.mark.slow

HOLD_ONE_YEAR = "quantdesk.testing.strategies:HoldOneYear"


def _created(catalog_root: Path, run_id: str) -> str:
    return json.loads((catalog_root / "backtests" / run_id / "summary.json").read_text())["created"]


def test_sweep_ranks_every_combination_and_records_failures(catalog_root: Path, dask_client) -> None:
    config = SweepConfig(
        base=demo_spec(), grid={"fast_period": [5, 10, 30], "slow_period": [20, 30]}, objective="sortino"
    )
    result = run_sweep(config, catalog=catalog_root, client=dask_client, progress=False)
    table = result.table
    assert len(table) == 6
    failed = table[table["status"] == "failed"]
    # 30/20 and 30/30 are refused by EMACrossConfig; the sweep finishes the other four.
    assert sorted(zip(failed["fast_period"], failed["slow_period"])) == [(30, 20), (30, 30)]
    assert all("must be smaller than slow_period" in error for error in failed["error"])
    ran = table[table["status"] != "failed"]
    assert len(ran) == 4 and ran["objective"].notna().all()
    assert list(ran["objective"]) == sorted(ran["objective"], reverse=True)
    # Each row is the stored run of its spec: the same numbers as running that spec alone.
    for _, row in ran.iterrows():
        alone = run_backtest(_with(demo_spec(), row), catalog=catalog_root)
        assert alone.run_id == row["run_id"]
        assert alone.summary["sortino"] == pytest.approx(row["objective"])
    stored = load_sweep(catalog_root, config.id)
    pd.testing.assert_frame_equal(stored.table, table)


def _with(spec: BacktestSpec, row: pd.Series) -> BacktestSpec:
    import msgspec

    parameters = {**spec.parameters, "fast_period": int(row["fast_period"]), "slow_period": int(row["slow_period"])}
    return msgspec.structs.replace(spec, parameters=parameters)


def test_a_strategy_that_raises_fails_alone(catalog_root: Path, dask_client) -> None:
    base = BacktestSpec(strategy=HOLD_ONE_YEAR, instrument_ids=["IBM.XNYS"], bar_spec="1-DAY-LAST",
                        parameters={"year": 2010}, start="2009-01-01", end="2011-12-31")
    config = SweepConfig(base=base, grid={"fail_after_bars": [None, 100]}, objective="total_return")
    table = run_sweep(config, catalog=catalog_root, client=dask_client, progress=False).table
    by_setting = table.set_index(table["fail_after_bars"].astype("float64").fillna(-1))
    assert by_setting.loc[-1.0, "status"] == "finished" and by_setting.loc[-1.0, "objective"] is not None
    assert by_setting.loc[100.0, "status"] == "failed"
    assert "told to fail after 100 bars" in by_setting.loc[100.0, "error"]


def test_an_interrupted_sweep_resumes_without_rerunning_finished_runs(catalog_root: Path, dask_client) -> None:
    config = SweepConfig(
        base=BacktestSpec(strategy="quantdesk.strategies.ema_cross:EMACross", instrument_ids=["MSFT.XNAS"],
                          bar_spec="1-DAY-LAST", start="2004-01-01", end="2011-12-31"),
        grid={"fast_period": [3, 4, 5, 6, 7, 8], "slow_period": [25, 35]},
    )
    stop = threading.Event()

    def stop_after_the_first(done: int, total: int) -> None:
        if done >= 1:
            stop.set()

    first = run_sweep(config, catalog=catalog_root, client=dask_client, progress=stop_after_the_first, stop=stop)
    finished = first.table[first.table["status"] == "finished"]
    assert first.cancelled and 1 <= len(finished) < 12
    created = {run_id: _created(catalog_root, run_id) for run_id in finished["run_id"]}
    assert load_sweep(catalog_root, config.id).cancelled  # the partial table is stored too

    seen: list[tuple[int, int]] = []
    second = run_sweep(config, catalog=catalog_root, client=dask_client, progress=lambda d, t: seen.append((d, t)))
    status = second.table.set_index("run_id")["status"]
    assert not second.cancelled and (status != "failed").all()
    stored = set(status[status == "stored"].index)
    # Finished before: read back, not rerun. (A run already executing when the stop came may
    # also have finished and been stored after the first call returned: it is read back too.)
    assert set(created) <= stored
    assert {run_id: _created(catalog_root, run_id) for run_id in created} == created
    assert seen[0] == (len(stored), 12) and seen[-1] == (12, 12)
    assert (status.drop(list(stored)) == "finished").all() and len(stored) < 12


def test_random_search_draws_distinct_combinations_reproducibly() -> None:
    grid = {"fast_period": {"start": 2, "stop": 40}, "slow_period": {"start": 41, "stop": 200, "step": 3}}
    draw = SweepConfig(base=demo_spec(), grid=grid, method="random", samples=25, seed=7).check()
    combos = draw.combinations()
    assert combos == SweepConfig(base=demo_spec(), grid=grid, method="random", samples=25, seed=7).combinations()
    assert combos != SweepConfig(base=demo_spec(), grid=grid, method="random", samples=25, seed=8).combinations()
    assert len({tuple(c.values()) for c in combos}) == 25
    values = draw.values()
    assert values["slow_period"][:3] == [41, 44, 47] and values["slow_period"][-1] == 200 and draw.size() == 39 * 54
    assert all(c["fast_period"] in values["fast_period"] and c["slow_period"] in values["slow_period"] for c in combos)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"fast_periodd": [5]}, "'fast_periodd' is not a field of EMACrossConfig"),
        ({"fast_period": []}, "'fast_period' has no values"),
        ({"fast_period": {"start": 5, "stop": 1, "step": 1}}, "step 1 never gets from 5 to 1"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(catalog_root: Path, grid: dict, message: str) -> None:
    with pytest.raises(QuantDeskError, match=message):
        run_sweep(SweepConfig(base=demo_spec(), grid=grid), catalog=catalog_root, progress=False)


def test_walk_forward_picks_the_known_in_sample_optimum_and_never_peeks(catalog_root: Path, dask_client) -> None:
    base = BacktestSpec(strategy=HOLD_ONE_YEAR, instrument_ids=["AAPL.XNAS"], bar_spec="1-DAY-LAST",
                        parameters={"trade_size": 10}, start="2005-01-01", end="2011-12-31")
    # Every year is a candidate, including each window's out-of-sample year: a walk-forward that
    # looked ahead would pick AAPL's big out-of-sample years (2009: +146%) instead.
    years = list(range(2005, 2012))
    config = WalkForwardConfig(
        sweep=SweepConfig(base=base, grid={"year": years}, objective="total_return"),
        in_sample_months=24, out_of_sample_months=12,
    )
    result = run_walk_forward(config, catalog=catalog_root, client=dask_client, progress=False)
    closes = bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-DAY-LAST-EXTERNAL")["close"]
    windows = result.windows
    assert list(windows["out_start"].dt.year) == [2007, 2008, 2009, 2010, 2011]
    for _, window in windows.iterrows():
        inside = closes[(closes.index >= window["in_start"]) & (closes.index < window["in_end"])]
        # Hand P&L of holding each year in this window: buy at its first close, sell at the
        # next year's first close, or at the window's last close when the year ends it.
        gains = {}
        for year in years:
            held = inside[inside.index.year >= year]
            if held.empty or held.index[0].year != year:
                gains[year] = 0.0
                continue
            later = held[held.index.year > year]
            exit_price = later.iloc[0] if len(later) else held.iloc[-1]
            gains[year] = exit_price - held.iloc[0]
        expected = max(gains, key=gains.get)
        assert window["year"] == expected, (window["in_start"], gains)
        assert window["in_start"].year <= window["year"] < window["out_start"].year
    in_sample = result.in_sample.merge(windows[["window", "out_start"]], on="window")
    summaries = [json.loads((catalog_root / "backtests" / rid / "summary.json").read_text())
                 for rid in in_sample.loc[in_sample["status"] != "failed", "run_id"]]
    last_bars = pd.to_datetime([s["last_bar"] for s in summaries], utc=True)
    assert (last_bars < in_sample.loc[in_sample["status"] != "failed", "out_start"].to_numpy()).all()
    # Out of sample the chosen year is already over: nothing trades, equity stays flat.
    assert (windows["out_round_trips"] == 0).all()
    assert result.equity.iloc[-1] == pytest.approx(base.starting_capital)


def test_walk_forward_stitches_out_of_sample_returns(catalog_root: Path, dask_client) -> None:
    config = WalkForwardConfig(
        sweep=SweepConfig(base=demo_spec(), grid={"fast_period": [5, 10], "slow_period": [20, 40]}),
        in_sample_months=24, out_of_sample_months=12, anchored=True,
    )
    result = run_walk_forward(config, catalog=catalog_root, client=dask_client, progress=False)
    windows = result.windows
    assert (windows["in_start"] == pd.Timestamp("2005-01-01", tz="UTC")).all()  # anchored
    growth = np.prod(1.0 + windows["out_total_return"].to_numpy())
    assert result.equity.iloc[-1] == pytest.approx(demo_spec().starting_capital * growth, rel=1e-9)
    assert result.equity.index.is_monotonic_increasing
    assert result.equity.index[0] >= windows["out_start"].iloc[0]


def test_the_same_spec_over_calendar_years(catalog_root: Path, dask_client) -> None:
    spec = BacktestSpec(strategy=HOLD_ONE_YEAR, instrument_ids=["IBM.XNYS"], bar_spec="1-DAY-LAST",
                        parameters={"year": 2008}, start="2007-01-01", end="2009-12-31")
    table = run_periods(spec, calendar_years(spec), catalog=catalog_root, client=dask_client, progress=False)
    assert list(table.index) == ["2007", "2008", "2009"]
    assert (table["status"] != "failed").all()
    assert list(table["round_trips"]) == [0, 1, 0]  # only 2008's run holds 2008
    closes = bars_frame(open_catalog(catalog_root), "IBM.XNYS-1-DAY-LAST-EXTERNAL", "2008-01-01", "2008-12-31")["close"]
    expected = 100 * (closes.iloc[-1] - closes.iloc[0]) / spec.starting_capital
    assert table.loc["2008", "total_return"] == pytest.approx(expected, abs=2e-5)  # commissions aside


def test_a_configured_scheduler_address_is_used(catalog_root: Path, dask_client, monkeypatch) -> None:
    import quantdesk.compute.cluster as cluster

    monkeypatch.setenv("QUANTDESK_DASK_ADDRESS", dask_client.scheduler.address)
    monkeypatch.setattr(cluster, "_client", None)
    spec = BacktestSpec(strategy=HOLD_ONE_YEAR, instrument_ids=["GOOG.XNAS"], bar_spec="1-DAY-LAST",
                        parameters={"year": 2007}, start="2006-01-01", end="2008-12-31")
    try:
        run_periods(spec, {"all": (spec.start, spec.end)}, catalog=catalog_root, progress=False)
        assert cluster._client.scheduler.address == dask_client.scheduler.address
    finally:
        if cluster._client is not None:
            cluster._client.close()
    prefixes = dask_client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert "backtest" in prefixes
