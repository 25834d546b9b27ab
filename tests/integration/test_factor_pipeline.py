"""The factor pipeline: lazy until asked, right values in the store, bad input left out by name, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from quantdesk.config import FactorRunConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.panel import load_panel, synthetic_panel
from quantdesk.factors.pipeline import build_values, open_factor_run, plan_variants, run_factors
from quantdesk.factors.scoring import score
from quantdesk.testing import factors as test_factors
from quantdesk.testing import subprocess_env

USER = "quantdesk.testing.factors"
UNIVERSE = ["AAPL.XNAS", "MSFT.XNAS", "IBM.XNYS", "GOOG.XNAS", "FB.XNAS"]


def test_building_the_graph_computes_nothing() -> None:
    panel = synthetic_panel(30, 400, seed=1)
    config = FactorRunConfig(universe=["synthetic"], factors={f"{USER}:counted_momentum": {"window": [5, 10, 20]}})
    variants, problems = plan_variants(config, panel)
    assert len(variants) == 3 and not problems
    before = test_factors.CALLS["count"]
    values = build_values(panel, variants, assets_per_chunk=7, factors_per_chunk=2)
    assert test_factors.CALLS["count"] == before  # a graph, not values
    assert values.shape == (400, 30, 3) and values.chunks == ((400,), (7, 7, 7, 7, 2), (2, 1))
    computed = values.sel(factor=f"{USER}:counted_momentum(window=10)").compute(scheduler="synchronous")  # here, to count
    assert test_factors.CALLS["count"] > before
    close = panel["close"].to_numpy()
    expected = close[10:] / close[:-10] - 1.0
    np.testing.assert_allclose(computed.to_numpy()[10:], expected, rtol=1e-6)  # float32 in the store
    assert np.isnan(computed.to_numpy()[:10]).all()


def test_run_on_the_catalog_stores_values_and_names_what_it_left_out(catalog_root: Path, dask_client) -> None:
    config = FactorRunConfig(
        universe=[*UNIVERSE, "NOPE.XNAS"],
        start="2005-01-01",
        end="2012-12-31",
        factors={
            f"{USER}:window_return": None,  # the decorator's grid: 5 and 20
            f"{USER}:broken": None,
            "no_such_factor": None,
            f"{USER}:counted_momentum": {"window": [5000]},  # longer than the data
        },
        factors_per_chunk=1,
    )
    run = run_factors(config, catalog=catalog_root, client=dask_client, progress=False)
    assert run.complete
    assert list(run.values["factor"].values) == [f"{USER}:window_return(window=5)", f"{USER}:window_return(window=20)"]
    assert list(run.values["asset"].values) == UNIVERSE
    text = "\n".join(run.problems)
    for expected in ("NOPE.XNAS", "broken", "ZeroDivisionError", "no_such_factor", "5000-bar window"):
        assert expected in text, expected
    # The stored values equal a pandas computation on the same bars.
    panel = load_panel(UNIVERSE, "2005-01-01", "2012-12-31", catalog_root).panel
    close = panel["close"].to_pandas()
    expected = close / close.shift(20) - 1.0
    stored = run.values.sel(factor=f"{USER}:window_return(window=20)").to_pandas()
    np.testing.assert_allclose(stored.to_numpy(), expected.to_numpy(), rtol=1e-6, equal_nan=True)
    assert (run.path / "values.zarr").is_dir() and run.path.parent.name == "factors"
    # Scored, ranked and regime-labelled beside the values; a date's rank IC equals scipy's.
    label = f"{USER}:window_return(window=20)"
    assert list(run.leaderboard.index) and set(run.leaderboard.index) == set(run.values["factor"].values)
    assert set(run.regimes.columns) == {"volatility", "trend"} and run.regimes["volatility"].notna().any()
    forward = close.shift(-1) / close - 1.0
    day = stored.index[stored.notna().all(axis=1) & forward.notna().all(axis=1)][20]  # all five assets, FB listed
    expected_ic = spearmanr(stored.loc[day], forward.loc[day]).statistic
    assert float(run.scores["rank_ic"].sel(factor=label, horizon=1, time=day)) == pytest.approx(expected_ic, abs=1e-6)
    again = open_factor_run(run.path)
    assert again.complete and again.leaderboard.equals(run.leaderboard)


def test_an_interrupted_run_resumes_without_redoing_finished_blocks(tmp_path: Path, catalog_root: Path, dask_client) -> None:
    panel = synthetic_panel(40, 300, seed=2)
    config = FactorRunConfig(
        universe=["synthetic"], factors={f"{USER}:window_return": {"window": [2, 3, 4, 5, 6, 7]}},
        factors_per_chunk=1, assets_per_chunk=20,
    )
    stop = threading.Event()

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            stop.set()

    first = run_factors(config, catalog=tmp_path, client=dask_client, progress=stop_after_two, stop=stop, panel=panel)
    done = json.loads((first.path / "done.json").read_text())
    assert not first.complete and 2 <= len(done) < 6
    stamps = _chunk_times(first.path, done)
    second = run_factors(config, catalog=tmp_path, client=dask_client, progress=False, panel=panel)
    assert second.complete
    assert _chunk_times(second.path, done) == stamps  # finished blocks were not written again
    close = panel["close"].to_numpy()
    for window in range(2, 8):
        stored = second.values.sel(factor=f"{USER}:window_return(window={window})").to_numpy()
        np.testing.assert_allclose(stored[window:], close[window:] / close[:-window] - 1.0, rtol=1e-6)
    # Scored on the workers, resumed blocks read back from the store and fresh ones as computed:
    # the same as scoring the stored values in memory in one call.
    whole = score(second.values.load(), panel["close"], config.horizons, config.quantiles)
    for name in ("ic", "rank_ic", "spread", "quantile_return", "turnover", "coverage", "rank_ic_tstat_nw"):
        np.testing.assert_allclose(second.scores[name].to_numpy(), whole[name].to_numpy(), rtol=1e-12, equal_nan=True,
                                   err_msg=name)


def _chunk_times(path: Path, blocks: list[int]) -> dict[str, int]:
    """Return the modification times of the stored chunk files of factor ``blocks``."""
    chunks = [p for p in (path / "values.zarr" / "values").rglob("*") if p.is_file() and "zarr.json" not in p.name]
    mine = {str(p.relative_to(path)): p.stat().st_mtime_ns for p in chunks if int(p.name) in blocks}
    assert mine, "no chunk files found for the finished blocks"
    return mine


def test_an_empty_universe_is_refused() -> None:
    with pytest.raises(QuantDeskError, match="universe is empty"):
        FactorRunConfig(universe=[]).check()


def test_cli_runs_a_factor_file_and_warns_of_what_it_left_out(catalog_root: Path, tmp_path: Path) -> None:
    spec = {"universe": ["AAPL.XNAS", "NOPE.XNAS"], "start": "2008-01-01", "end": "2009-12-31",
            "factors": {f"{USER}:window_return": {"window": [3]}}}
    (tmp_path / "factors.yaml").write_text(yaml.safe_dump(spec))
    done = subprocess.run([sys.executable, "-m", "quantdesk.cli", "factors", "run", str(tmp_path / "factors.yaml")],
                          capture_output=True, text=True, timeout=600,
                          env=subprocess_env(QUANTDESK_CATALOG=str(catalog_root), QUANTDESK_DASK_WORKERS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 variants x 1 assets x 505 bars" in done.stdout
    assert "NOPE.XNAS: no 1-DAY-LAST bars" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "quantdesk.cli", "factors", "run", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=120, env=subprocess_env(QUANTDESK_CATALOG=str(catalog_root)))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.yaml" in bad.stderr
