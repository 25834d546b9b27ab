"""Vectorized screen: 10,000 EMA-crossover combinations over 1,000,000 bars, quantdesk vs vectorbt.

Both sides screen the same (fast, slow) grid on the same seeded random-walk closes in this
process and give, per combination, the trade count and the P&L of one unit, long only, filled
at the close, no costs. quantdesk runs ``ema_cross_screen`` (numba, every core) on the whole
grid. vectorbt runs its documented crossover recipe: ``MA.run(ewm=True)`` for each side,
``ma_crossed_above``/``ma_crossed_below``, ``Portfolio.from_signals``; its trade count includes
the position still open at the end and its ``total_profit`` marks it at the last close, which
is what quantdesk's exit at the last close gives. At this length every float array vectorbt
holds is 8 GB per 1,000 combinations, so it runs in chunks of combinations; the whole grid
would take it about an hour here, so it runs an evenly spread subset and its rate (combinations
x bars per second) is extrapolated to the grid. quantdesk is also timed on that subset, with
all threads and with one (vectorbt's kernels use one core). Both must agree on every compared
combination. Prints the rates and the ratios; the target is quantdesk >= vectorbt.

    .venv/bin/python -m pip install -e '.[bench]'   # vectorbt: only for this benchmark
    .venv/bin/python tests/benchmarks/bench_screen.py [--vectorbt-combinations 100] [--chunk 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import pandas as pd

from quantdesk.backtest import ema_cross_screen

BARS = 1_000_000
FAST = np.arange(2, 102)  # 100 fast periods
SLOW = np.arange(105, 605, 5)  # x 100 slow periods = 10,000 combinations, every one fast < slow
SEED = 20240501


def closes() -> np.ndarray:
    """Return seeded geometric Brownian motion closes (about 1.6% daily volatility at 390 bars a day)."""
    steps = np.random.default_rng(SEED).normal(0.0, 0.0008, BARS)
    return 100.0 * np.exp(np.cumsum(steps))


def grid() -> tuple[np.ndarray, np.ndarray]:
    fast, slow = np.meshgrid(FAST, SLOW, indexing="ij")
    return fast.ravel(), slow.ravel()


def vectorbt_screen(vbt, close: pd.Series, fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return vectorbt's trade counts and P&L of one unit for the (fast, slow) pairs."""
    fast_ma = vbt.MA.run(close, window=list(fast), ewm=True, short_name="fast")
    slow_ma = vbt.MA.run(close, window=list(slow), ewm=True, short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma)
    exits = fast_ma.ma_crossed_below(slow_ma)
    portfolio = vbt.Portfolio.from_signals(close, entries, exits, size=1.0, init_cash=1e9, fees=0.0)
    return portfolio.trades.count().to_numpy(), portfolio.total_profit().to_numpy()


def timed(function, repeat: int = 1):
    """Return (median seconds, last result) of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectorbt-combinations", type=int, default=100,
                        help="combinations vectorbt runs (10000: the whole grid, about an hour)")
    parser.add_argument("--chunk", type=int, default=50, help="combinations per vectorbt call (memory: ~3 GB per 50)")
    args = parser.parse_args()
    try:
        import vectorbt as vbt
    except ImportError as error:
        raise SystemExit(
            f"vectorbt is not importable ({error}): this benchmark compares against it. Install it into this venv "
            "only for benchmarking: .venv/bin/python -m pip install -e '.[bench]'  (or: pip install vectorbt 'pandas<3' 'plotly<6')"
        ) from None

    close = closes()
    fast, slow = grid()
    threads = numba.get_num_threads()
    print(f"{len(fast):,} combinations (fast {FAST[0]}-{FAST[-1]} x slow {SLOW[0]}-{SLOW[-1]}) over {BARS:,} bars; "
          f"numba {numba.__version__} on {threads} threads, vectorbt {vbt.__version__}", flush=True)

    ema_cross_screen(close[:2_000], fast[:4], slow[:4], 1.0)  # compile (or load the cache) before the clock
    seconds, ours = timed(lambda: ema_cross_screen(close, fast, slow, 1.0))
    full_rate = len(fast) * BARS / seconds
    print(f"quantdesk, whole grid, {threads} threads   {seconds:8.2f} s   {full_rate:15,.0f} combination-bars/s", flush=True)

    subset = np.unique(np.linspace(0, len(fast) - 1, min(args.vectorbt_combinations, len(fast))).astype(int))
    series = pd.Series(close)
    vectorbt_screen(vbt, series.iloc[:2_000], fast[:2], slow[:2])  # vectorbt's numba kernels compile here
    counts, profits, vbt_seconds = [], [], 0.0
    for start in range(0, len(subset), args.chunk):
        chunk = subset[start:start + args.chunk]
        elapsed, (count, profit) = timed(lambda: vectorbt_screen(vbt, series, fast[chunk], slow[chunk]))
        vbt_seconds += elapsed
        counts.append(count)
        profits.append(profit)
        print(f"  vectorbt chunk {start // args.chunk + 1}/{-(-len(subset) // args.chunk)}: {len(chunk)} combinations "
              f"in {elapsed:.1f} s", flush=True)
    counts, profits = np.concatenate(counts), np.concatenate(profits)
    vbt_rate = len(subset) * BARS / vbt_seconds

    sub_seconds, sub_ours = timed(lambda: ema_cross_screen(close, fast[subset], slow[subset], 1.0), repeat=3)
    numba.set_num_threads(1)
    one_seconds, _ = timed(lambda: ema_cross_screen(close, fast[subset], slow[subset], 1.0), repeat=3)
    numba.set_num_threads(threads)

    trades_agree = int((sub_ours[:, 0] == counts).sum())
    pnl_agree = int(np.isclose(sub_ours[:, 1], profits, rtol=0, atol=1e-6).sum())
    assert np.array_equal(sub_ours, ours[subset]), "the subset run differs from the whole-grid run"
    print(f"vectorbt, {len(subset)} combinations in chunks of {args.chunk}  {vbt_seconds:8.2f} s   "
          f"{vbt_rate:15,.0f} combination-bars/s  (whole grid extrapolated: {len(fast) * BARS / vbt_rate / 60:,.0f} min)")
    print(f"quantdesk, same {len(subset)}, {threads} threads       {sub_seconds:8.3f} s   "
          f"{len(subset) * BARS / sub_seconds:15,.0f} combination-bars/s")
    print(f"quantdesk, same {len(subset)}, 1 thread        {one_seconds:8.3f} s   "
          f"{len(subset) * BARS / one_seconds:15,.0f} combination-bars/s")
    print(f"agreement on the {len(subset)} compared combinations: trade counts {trades_agree}/{len(subset)}, "
          f"P&L within 1e-6 {pnl_agree}/{len(subset)} (trades per combination {int(counts.min()):,}-{int(counts.max()):,})")
    print(f"quantdesk / vectorbt per combination x bar: whole grid {full_rate / vbt_rate:,.0f}x, "
          f"same subset {vbt_seconds / sub_seconds:,.0f}x, one thread {vbt_seconds / one_seconds:,.0f}x "
          f"(target >= 1x)")
    if trades_agree != len(subset) or pnl_agree != len(subset):
        raise SystemExit("quantdesk and vectorbt disagree on some combinations: the comparison is not like for like")


if __name__ == "__main__":
    main()
