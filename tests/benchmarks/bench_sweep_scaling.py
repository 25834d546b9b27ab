"""A 16-run sweep on 100,000 one-minute bars: serial in one process vs a LocalCluster of two workers.

Both sides run the same 16 specs from an empty result store (stored runs would be read
back, not run). Workers are started and have imported Nautilus before the clock starts,
as in a session where the cluster is already up. Prints both times and the speedup;
the target is >= 1.8x on a two-core machine.

    .venv/bin/python tests/benchmarks/bench_sweep_scaling.py
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

from distributed import Client

from quantdesk.backtest import run_backtest, run_specs
from quantdesk.catalog import build_sample_catalog
from quantdesk.compute import start_local_cluster
from quantdesk.config import BacktestSpec, SweepConfig, settings

SESSIONS = 257  # x 390 minutes = 100,230 bars
WORKERS = 2


def sweep() -> SweepConfig:
    base = BacktestSpec(
        strategy="quantdesk.strategies.ema_cross:EMACross", instrument_ids=["AAPL.XNAS"], bar_spec="1-MINUTE-LAST",
        parameters={"trade_size": 100}, starting_capital=1_000_000.0,
    )
    return SweepConfig(base=base, grid={"fast_period": [5, 10, 15, 20], "slow_period": [30, 45, 60, 90]})


def _spin(_: int) -> int:
    total = 0
    for i in range(20_000_000):
        total += i % 7
    return total


def machine_ceiling() -> float:
    """Return how much faster two processes do two pure-Python loops than one process: this machine's limit."""
    started = time.perf_counter()
    _spin(0), _spin(1)
    serial = time.perf_counter() - started
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        pool.map(_spin, [0])  # workers up before the clock starts
        started = time.perf_counter()
        pool.map(_spin, range(WORKERS), chunksize=1)
        parallel = time.perf_counter() - started
    return serial / parallel


def main() -> None:
    ceiling = machine_ceiling()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"building a catalog with {SESSIONS * 390:,} simulated one-minute bars ...", flush=True)
        build_sample_catalog(root, simulated_sessions=SESSIONS)
        specs = sweep().specs()

        started = time.perf_counter()
        serial_fills = [run_backtest(spec, catalog=root).summary["fills"] for spec in specs]
        serial = time.perf_counter() - started
        print(f"serial, one process        {serial:7.2f} s", flush=True)
        shutil.rmtree(root / "backtests")

        cluster_settings = dataclasses.replace(settings(), dask_workers=WORKERS, dask_dashboard_port=0, host="127.0.0.1")
        with start_local_cluster(cluster_settings) as cluster, Client(cluster) as client:
            client.run(lambda: __import__("quantdesk.backtest.run"))  # warm workers: imports done
            started = time.perf_counter()
            outcomes = run_specs(specs, root, client=client, progress=False)
            parallel = time.perf_counter() - started
        assert [o.status for o in outcomes] == ["finished"] * len(specs), [o.error for o in outcomes]
        assert [o.summary["fills"] for o in outcomes] == serial_fills, "the cluster's runs differ from the serial ones"
    print(f"LocalCluster, {WORKERS} workers    {parallel:7.2f} s")
    print(f"runs: {len(specs)}   bars per run: {SESSIONS * 390:,}   fills: {sum(serial_fills):,}")
    print(f"speedup serial/cluster     {serial / parallel:.2f}x  (target >= 1.8x; "
          f"two plain processes on this machine just now: {ceiling:.2f}x)")


if __name__ == "__main__":
    main()
