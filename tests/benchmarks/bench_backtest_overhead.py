"""One trade-heavy backtest: quantdesk's run_backtest vs a stock Nautilus BacktestEngine, same fills.

EMA 10/20 crossover on 200,070 simulated one-minute AAPL bars (about 8,800 orders, a position
opened and closed 4,400 times under NETTING). Three sides, each run in a fresh process
(Nautilus's logger is set once per process, by the first engine in it):

* ``stock``: a BacktestEngine with its default configuration, logging to stdout at INFO
  (sent to /dev/null), then its fills report;
* ``stock-quiet``: the same with logging lowered to ERROR, the fairest stock baseline;
* ``quantdesk``: ``run_backtest`` end to end (catalog read, BacktestNode, order/fill/position
  tables, equity curve, statistics including Nautilus's own set, atomic store and read-back).

Each side's time covers only its run (imports excluded); the fills must be identical.
Prints medians and the speedups; the target is >= 2x over the stock default.

    make bench      # or: .venv/bin/python tests/benchmarks/bench_backtest_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quantdesk.backtest import run_backtest
from quantdesk.backtest.examples import demo_spec
from quantdesk.backtest.extract import fills_table
from quantdesk.catalog import build_sample_catalog, load_instrument
from quantdesk.strategies.ema_cross import EMACross, EMACrossConfig

SESSIONS = 513  # x 390 minutes = 200,070 bars
BAR_TYPE = "AAPL.XNAS-1-MINUTE-LAST-EXTERNAL"
CAPITAL = 1_000_000.0  # enough cash for every trade: neither side halts early
PARAMETERS = {"trade_size": 100, "fast_period": 10, "slow_period": 20}
FILL_COLUMNS = ["ts_event", "side", "quantity", "price", "trade_id"]


def stock_nautilus(root: Path, quiet: bool) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    catalog = ParquetDataCatalog(str(root))
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")) if quiet else None)
    engine.add_venue(
        venue=Venue("XNAS"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(CAPITAL, USD)],
        bar_execution=True,
    )
    engine.add_instrument(load_instrument(catalog, "AAPL.XNAS"))
    engine.add_data(catalog.bars(bar_types=[BAR_TYPE]))
    engine.add_strategy(
        EMACross(
            EMACrossConfig(
                instrument_id=InstrumentId.from_str("AAPL.XNAS"),
                bar_type=BarType.from_str(BAR_TYPE),
                trade_size=Decimal(PARAMETERS["trade_size"]),
                fast_period=PARAMETERS["fast_period"],
                slow_period=PARAMETERS["slow_period"],
            )
        )
    )
    engine.run()
    engine.trader.generate_fills_report()
    elapsed = time.perf_counter() - started
    fills = fills_table(engine.cache.orders())  # outside the clock: only for the comparison
    engine.dispose()
    return elapsed, fills


def quantdesk_run(root: Path) -> tuple[float, pd.DataFrame]:
    spec = msgspec.structs.replace(
        demo_spec(), bar_spec="1-MINUTE-LAST", start=None, end=None, parameters=PARAMETERS, starting_capital=CAPITAL
    )
    started = time.perf_counter()
    result = run_backtest(spec, catalog=root, force=True)
    return time.perf_counter() - started, result.fills


SIDES = {
    "stock": lambda root: stock_nautilus(root, quiet=False),
    "stock-quiet": lambda root: stock_nautilus(root, quiet=True),
    "quantdesk": quantdesk_run,
}


def run_side(side: str, root: Path, out: Path) -> None:
    """Child process: run one side once and write its time, order count and a digest of its fills."""
    seconds, fills = SIDES[side](root)
    digest = hashlib.sha256(pd.util.hash_pandas_object(fills[FILL_COLUMNS], index=False).to_numpy().tobytes()).hexdigest()
    out.write_text(json.dumps({"seconds": seconds, "fills": len(fills), "orders": int(fills["client_order_id"].nunique()),
                               "digest": digest}))


def spawn(side: str, root: Path, folder: Path) -> dict:
    out = folder / f"{side}.json"
    command = [sys.executable, __file__, "--side", side, "--catalog", str(root), "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side, each in a fresh process")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_side(args.side, args.catalog, args.out)
        return
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "catalog"
        print(f"building a catalog with {SESSIONS * 390:,} simulated one-minute bars ...", flush=True)
        build_sample_catalog(root, simulated_sessions=SESSIONS)
        spawn("quantdesk", root, Path(folder))  # warm-up: file cache, compiled bytecode
        for round_number in range(args.repeat):
            # Rotate the order so that drift on a shared machine falls on every side.
            order = list(SIDES)[round_number % 3:] + list(SIDES)[: round_number % 3]
            results = {side: spawn(side, root, Path(folder)) for side in order}
            digests = {result["digest"] for result in results.values()}
            assert len(digests) == 1, f"fills differ between sides: {results}"
            for side, result in results.items():
                times[side].append(result["seconds"])
            print("  round", round_number + 1, ", ".join(f"{side} {results[side]['seconds']:.3f} s" for side in SIDES), flush=True)
    medians = {side: statistics.median(values) for side, values in times.items()}
    print(f"bars: {SESSIONS * 390:,}   orders: {results['quantdesk']['orders']:,}   fills: {results['quantdesk']['fills']:,}"
          " (identical on every side)")
    for side, median in medians.items():
        print(f"{side:12s} median {median:7.3f} s  ({SESSIONS * 390 / median:,.0f} bars/s)")
    ours = medians["quantdesk"]
    print(f"speedup over stock (default configuration): {medians['stock'] / ours:.2f}x  (target >= 2x)")
    print(f"speedup over stock with logging at ERROR:   {medians['stock-quiet'] / ours:.2f}x")


if __name__ == "__main__":
    main()
