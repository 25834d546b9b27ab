"""Factor synthesis at scale: every built-in variant on 500 synthetic assets x 2,520 days, computed, stored and scored.

Part 1 runs ``run_factors`` end to end on a LocalCluster of two single-threaded workers (the
platform's own cluster), from an in-memory synthetic panel to a scored Zarr store, and prints:
seconds, factor series (variant x asset), values per second, the peak resident memory of this
process and its workers together, and the share of the memory-bandwidth floor (the time this
machine takes just to write that many float64 values once). Targets: <= 30 s, <= 8 GiB.

Part 2 computes the same 50-variant subset three ways on 500 assets x 2,520 days: pandas
rolling computations column by column (a Series per asset, written here, independently; whole-
frame pandas is printed too), quantdesk's kernels in this process on one thread, and quantdesk
on the LocalCluster (values kept on the workers), each the best of three runs; the target is
quantdesk >= 10x pandas per value.

    .venv/bin/python tests/benchmarks/bench_factors.py [--assets N] [--days N] [--part {1,2}]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import psutil
from distributed import Client, wait

from quantdesk.compute import start_local_cluster
from quantdesk.config import FactorRunConfig, settings
from quantdesk.factors.panel import arrays, synthetic_panel
from quantdesk.factors.pipeline import build_values, run_factors
from quantdesk.factors.registry import get_factor, registry

WORKERS = 2
REPEATS = 3  # part 2 reports each way's best of this many runs: one run on this machine varies by a third


class PeakMemory:
    """Sample the resident memory of this process and its children (the Dask workers) until stopped."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    def _sample(self, interval: float) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bandwidth_floor(values: int) -> float:
    """Return the seconds this machine takes to write ``values`` float64 once (measured on 256 MB, scaled)."""
    block = np.empty(32 * 1024 * 1024)  # 256 MB: far beyond the caches
    block.fill(1.0)  # fault the pages in before timing
    started = time.perf_counter()
    for repeat in range(8):
        block.fill(float(repeat))
    per_value = (time.perf_counter() - started) / (8 * block.size)
    return per_value * values


def end_to_end(assets: int, days: int, client: Client) -> None:
    panel = synthetic_panel(assets, days, seed=7)
    rng = np.random.default_rng(8)
    for name in ("rates", "inflation", "vix"):  # the macro factors' external series, simulated
        panel[name] = ("time", 2.0 + np.cumsum(rng.normal(0.0, 0.02, days)))
    variants = sum(len(f.variants()) for f in registry().values())
    values = variants * assets * days
    config = FactorRunConfig(universe=["synthetic"], factors={})  # default blocks: 500 assets x 32 factors
    print(f"part 1: {variants} variants x {assets} assets x {days} days = {variants * assets:,} factor series, "
          f"{values:,} values", flush=True)
    with tempfile.TemporaryDirectory() as folder, PeakMemory() as memory:
        started = time.perf_counter()
        run = run_factors(config, catalog=folder, client=client, progress=True, panel=panel)
        seconds = time.perf_counter() - started
    assert run.complete, run.problems
    floor = bandwidth_floor(values)
    print(f"  end to end        {seconds:8.2f} s   (target <= 30 s)")
    print(f"  values per second {values / seconds:14,.0f}")
    print(f"  peak memory       {memory.peak / 2**30:8.2f} GiB (this process and its workers; target <= 8 GiB)")
    print(f"  bandwidth floor   {floor:8.2f} s to write {values:,} float64 once: the run takes {seconds / floor:.1f}x that")
    if run.problems:
        print(f"  left out: {len(run.problems)} ({run.problems[0]} ...)")


PANDAS_FORMULAS = {
    "momentum": lambda close, returns, volume, w: close / close.shift(w) - 1.0,
    "volatility": lambda close, returns, volume, w: np.log(close).diff().rolling(w).std(),
    "volume_zscore": lambda close, returns, volume, w: (volume - volume.rolling(w).mean()) / volume.rolling(w).std(),
    "skewness": lambda close, returns, volume, w: returns.rolling(w).skew(),
    "price_to_sma": lambda close, returns, volume, w: close / close.rolling(w).mean() - 1.0,
}


def pandas_subset(panel, per_column: bool) -> list[pd.DataFrame]:
    """Return the pandas computations of part 2 in :data:`BENCH_SUBSET` order: per column (a Series per asset), or whole frames."""
    frames = [panel[name].to_pandas() for name in ("close", "returns", "volume")]
    results = []
    for name, _, windows in BENCH_SUBSET:
        for window in windows:
            formula = PANDAS_FORMULAS[name]
            if per_column:
                results.append(pd.concat({asset: formula(*(f[asset] for f in frames), window) for asset in frames[0]}, axis=1))
            else:
                results.append(formula(*frames, window))
    return results


def best_of(run, repeats: int = REPEATS):
    """Return the fastest of ``repeats`` timed calls of ``run`` and its last result (each way is timed alike)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def three_ways(assets: int, days: int, client: Client, subset: list) -> None:
    panel = synthetic_panel(assets, days, seed=11)
    values = len(subset) * assets * days
    print(f"part 2: {len(subset)} variants x {assets} assets x {days} days = {values:,} values", flush=True)
    pandas_seconds, references = best_of(lambda: pandas_subset(panel, per_column=True))
    frame_seconds, _ = best_of(lambda: pandas_subset(panel, per_column=False))
    data = arrays(panel)
    numba.set_num_threads(1)
    for variant in subset:
        variant.compute({name: values[:300] for name, values in data.items()})  # compile outside the clock
    single, ours = best_of(lambda: [variant.compute(data) for variant in subset])
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for variant, mine, reference in zip(subset, ours, references):
        np.testing.assert_allclose(mine, reference.to_numpy(), rtol=1e-7, atol=1e-9, equal_nan=True, err_msg=variant.label)
    # The panel is scattered to the workers here, before the clock, as a session's data already is;
    # one graph per run (fresh keys), so no run can reuse another's results.
    graphs = [build_values(panel, subset, assets_per_chunk=max(1, assets // (2 * WORKERS)),
                           factors_per_chunk=len(subset), client=client) for _ in range(REPEATS)]
    client.compute(graphs[0].isel(time=slice(0, 2))).result()  # the workers compile their kernels outside the clock

    def on_cluster() -> None:
        wait(client.persist(graphs.pop().data))  # kept where computed, as the pipeline writes them from there

    cluster_seconds, _ = best_of(on_cluster)
    print(f"  pandas, column by column     {pandas_seconds:7.2f} s  {values / pandas_seconds:14,.0f} values/s")
    print(f"  (pandas, whole frames        {frame_seconds:7.2f} s  {values / frame_seconds:14,.0f} values/s)")
    print(f"  quantdesk, one thread        {single:7.2f} s  {values / single:14,.0f} values/s  "
          f"{pandas_seconds / single:6.1f}x pandas  (same values as pandas)")
    print(f"  quantdesk, LocalCluster({WORKERS})  {cluster_seconds:7.2f} s  {values / cluster_seconds:14,.0f} values/s  "
          f"{pandas_seconds / cluster_seconds:6.1f}x pandas  (target >= 10x)")


def subset_variants() -> list:
    """Return the 50 registry variants matching :func:`pandas_subset` (names from the built-in library)."""
    from quantdesk.factors.registry import Variant

    chosen = []
    for name, parameter, windows in BENCH_SUBSET:
        factor = get_factor(name)
        defaults = {p: values[0] for p, values in factor.grid.items() if p != parameter}
        for window in windows:
            chosen.append(Variant(name, tuple(sorted({**defaults, parameter: window}.items()))))
    return chosen


# (registry name, window parameter, windows) of the part-2 subset, in pandas_subset's order.
BENCH_SUBSET: list[tuple[str, str, tuple[int, ...]]] = [
    ("momentum", "window", (3, 5, 10, 15, 21, 42, 63, 126, 189, 252)),
    ("volatility", "window", (5, 10, 15, 21, 30, 42, 63, 90, 126, 252)),
    ("volume_zscore", "window", (5, 10, 15, 21, 30, 42, 63, 90, 126, 252)),
    ("skewness", "window", (21, 30, 42, 60, 63, 90, 120, 126, 180, 252)),
    ("price_to_sma", "window", (5, 10, 20, 30, 40, 50, 60, 100, 150, 200)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--part", type=int, choices=(1, 2), help="run only this part (default: both)")
    args = parser.parse_args()
    cluster_settings = dataclasses.replace(settings(), dask_workers=WORKERS, dask_dashboard_port=0, host="127.0.0.1")
    with start_local_cluster(cluster_settings) as cluster, Client(cluster) as client:
        if args.part in (None, 1):
            end_to_end(args.assets, args.days, client)
        if args.part in (None, 2):
            three_ways(args.assets, args.days, client, subset_variants())


if __name__ == "__main__":
    main()
