"""Platform backtest vs a raw Nautilus BacktestEngine on the same 200,000 one-minute bars.

Both sides run the same strategy (EMA crossover) in this process, alternately, and
each timing covers everything from catalog to result: the raw side reads the bars
from the catalog, runs a BacktestEngine and builds its fills report; the platform
side runs ``run_backtest`` (BacktestNode, statistics, equity curve, atomic store and
read-back). Prints both medians and the ratio; the target is a ratio <= 1.05.

    make bench      # or: .venv/bin/python tests/benchmarks/bench_backtest_overhead.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec
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
from quantdesk.catalog import build_sample_catalog, load_instrument
from quantdesk.strategies.ema_cross import EMACross, EMACrossConfig

SESSIONS = 513  # x 390 minutes = 200,070 bars
BAR_TYPE = "AAPL.XNAS-1-MINUTE-LAST-EXTERNAL"
CAPITAL = 1_000_000.0  # enough cash for every trade: neither side halts early
PARAMETERS = {"trade_size": 100, "fast_period": 10, "slow_period": 30}


def raw_nautilus(root: Path) -> tuple[float, int]:
    started = time.perf_counter()
    catalog = ParquetDataCatalog(str(root))
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
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
    fills = len(engine.trader.generate_fills_report())
    engine.dispose()
    return time.perf_counter() - started, fills


def platform(root: Path) -> tuple[float, int]:
    spec = msgspec.structs.replace(
        demo_spec(), bar_spec="1-MINUTE-LAST", start=None, end=None, parameters=PARAMETERS, starting_capital=CAPITAL
    )
    started = time.perf_counter()
    result = run_backtest(spec, catalog=root, force=True)
    return time.perf_counter() - started, int(result.summary["fills"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each side (after one warm-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"building a catalog with {SESSIONS * 390:,} simulated one-minute bars ...", flush=True)
        build_sample_catalog(root, simulated_sessions=SESSIONS)
        raw_nautilus(root), platform(root)  # warm-up: imports, file cache
        raw_times, platform_times = [], []
        for round_number in range(args.repeat):
            # Alternate which side goes first and start each from a collected heap, so that
            # drift on a shared machine and garbage left by the previous engine fall on both.
            sides = [raw_nautilus, platform] if round_number % 2 == 0 else [platform, raw_nautilus]
            timings = {}
            for side in sides:
                gc.collect()
                timings[side] = side(root)
            (raw_seconds, raw_fills), (platform_seconds, platform_fills) = timings[raw_nautilus], timings[platform]
            assert raw_fills == platform_fills, f"fills differ: raw {raw_fills}, platform {platform_fills}"
            raw_times.append(raw_seconds)
            platform_times.append(platform_seconds)
            print(f"  round {round_number + 1}: raw {raw_seconds:.3f} s, platform {platform_seconds:.3f} s", flush=True)
    raw, ours = statistics.median(raw_times), statistics.median(platform_times)
    print(f"bars: {SESSIONS * 390:,}   fills: {raw_fills:,}")
    print(f"raw Nautilus BacktestEngine  median {raw:.3f} s  ({SESSIONS * 390 / raw:,.0f} bars/s)")
    print(f"quantdesk run_backtest       median {ours:.3f} s  ({SESSIONS * 390 / ours:,.0f} bars/s)")
    paired = statistics.median(p / r for p, r in zip(platform_times, raw_times))
    print(f"ratio platform/raw           {ours / raw:.3f} of the medians, {paired:.3f} median of the rounds  (target <= 1.05)")


if __name__ == "__main__":
    main()
