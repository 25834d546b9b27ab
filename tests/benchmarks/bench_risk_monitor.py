"""One risk-monitor cycle over 1,000 positions: exposures, P&L history, VaR/ES and every limit's utilization.

The book holds 1,000 positions (two strategies' holdings) spread over 500 assets in 10 sectors,
long and short; the history is 2,520 days (ten years) of seeded synthetic returns with a common
market factor, loaded once into a :class:`quantdesk.risk.measures.ScenarioMatrix` (a
contiguous float64 matrix), as a monitor keeps them between cycles. The limits are every
book-measured type globally, per sector and per strategy, plus a position limit per asset
(557 limits). Each cycle first re-marks all 500 assets at new prices (so nothing is reused),
then runs :meth:`quantdesk.risk.monitor.RiskMonitor.cycle`: exposures by instrument, sector
and strategy, the book's P&L on every day of history (one matrix-vector product), the 99%
one-day historical VaR and ES, and each limit's value, utilization and level.

The baseline computes the VaR and ES alone the plain pandas way in the same process: ``groupby``
to net the positions, ``DataFrame.dot`` for the P&L history, ``Series.quantile`` with
``interpolation="lower"`` (the same order statistic here) and a boolean mask for ES. Both must
agree. Prints p50 and max of 20 cycles, whether the 1 s target is met, and the ratio.

    .venv/bin/python tests/benchmarks/bench_risk_monitor.py [--cycles 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import pandas as pd

from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.risk import LimitBook, PreTradeChecker, RiskMonitor
from quantdesk.risk.measures import ScenarioMatrix

ASSETS = 500
DAYS = 2_520
POSITIONS = 1_000
CONFIDENCE = 0.99
TARGET_SECONDS = 1.0
SEED = 20261202


def asset_returns(generator: np.random.Generator) -> pd.DataFrame:
    """Return seeded daily returns: beta x market (1% a day) + an idiosyncratic part (1.5% a day)."""
    market = generator.normal(0.0003, 0.01, DAYS)
    betas = generator.uniform(0.5, 1.5, ASSETS)
    idiosyncratic = generator.standard_t(5, (DAYS, ASSETS)) * 0.015 / math.sqrt(5 / 3)
    names = [f"ASSET{number:03d}" for number in range(ASSETS)]
    index = pd.bdate_range("2016-01-04", periods=DAYS)
    return pd.DataFrame(np.outer(market, betas) + idiosyncratic, index=index, columns=names)


def book(generator: np.random.Generator, names: pd.Index) -> pd.Series:
    """Return 1,000 positions (asset -> market value), several per asset, long and short."""
    assets = generator.choice(names, POSITIONS)
    return pd.Series(generator.normal(0.0, 100_000.0, POSITIONS), index=assets)


SECTORS = 10
STRATEGIES = ("Alpha", "Beta")


def limits(names: pd.Index) -> RiskLimitsConfig:
    """Return every book-measured limit type globally, per sector and per strategy, and a position limit per asset."""
    sectors = {name: f"Sector{number % SECTORS}" for number, name in enumerate(names)}
    big = 1e12  # levels nobody reaches: the cycle measures every limit without escalating
    limits = [LimitConfig(limit_id=f"global-{kind}", type=kind, hard=1.0 if kind in ("concentration", "drawdown") else big)
              for kind in ("position", "gross_exposure", "net_exposure", "leverage", "concentration", "daily_loss",
                           "drawdown", "var", "expected_shortfall")]
    for scope, targets in (("sector", sorted(set(sectors.values()))), ("strategy", STRATEGIES)):
        for target in targets:
            for kind in ("position", "gross_exposure", "net_exposure", "leverage"):
                limits.append(LimitConfig(limit_id=f"{target}-{kind}", type=kind, scope=scope, target=target, hard=big))
    limits += [LimitConfig(limit_id=f"{name}-position", type="position", scope="instrument", target=name, hard=big)
               for name in names]
    return RiskLimitsConfig(instrument_sectors=sectors, limits=limits)


def monitor_for(scenarios: ScenarioMatrix, positions: pd.Series) -> RiskMonitor:
    """Return a monitor whose checker holds ``positions`` (market values) as quantities at a price of 100."""
    checker = PreTradeChecker(LimitBook(limits(scenarios.assets)), equity=1e9)
    strategies = np.resize(STRATEGIES, len(positions))
    checker.load_positions(zip(positions.index, strategies, positions.to_numpy() / 100.0, np.full(len(positions), 100.0)))
    return RiskMonitor(checker, scenarios=scenarios, confidence=CONFIDENCE)


def quantdesk_cycle(monitor: RiskMonitor, prices: pd.Series) -> tuple[float, float]:
    for name, price in prices.items():
        monitor.checker.on_price(name, price)
    snapshot = monitor.cycle()
    assert len(snapshot.limits) == len(monitor.checker.book.limits) and not snapshot.alerts
    return snapshot.value_at_risk, snapshot.expected_shortfall


def pandas_cycle(returns: pd.DataFrame, positions: pd.Series) -> tuple[float, float]:
    """The VaR part of a cycle the plain pandas way: net by asset, P&L history by ``dot``, the lower quantile."""
    exposures = positions.groupby(level=0).sum()
    pnl = returns[exposures.index].dot(exposures)
    cutoff = pnl.quantile(1 - CONFIDENCE, interpolation="lower")
    return -cutoff, -pnl[pnl <= cutoff].mean()


def timed_cycles(cycle, data, inputs: list) -> tuple[list[float], list[tuple[float, ...]]]:
    seconds, results = [], []
    for each in inputs:
        start = time.perf_counter()
        results.append(cycle(data, each))
        seconds.append(time.perf_counter() - start)
    return seconds, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    arguments = parser.parse_args()
    generator = np.random.default_rng(SEED)
    returns = asset_returns(generator)
    start = time.perf_counter()
    scenarios = ScenarioMatrix(returns)
    loading = time.perf_counter() - start
    base = book(generator, returns.columns)
    monitor = monitor_for(scenarios, base)
    # Each cycle marks every asset at a new price; the same marks give the baseline its market values.
    moves = [pd.Series(100.0 * generator.normal(1.0, 0.01, len(returns.columns)), index=returns.columns)
             for _ in range(arguments.cycles)]
    books = [base * (move[base.index].to_numpy() / 100.0) for move in moves]
    quantdesk_cycle(monitor, moves[0])  # warm-up: first-call imports and page faults
    pandas_cycle(returns, books[0])
    ours, our_results = timed_cycles(quantdesk_cycle, monitor, moves)
    theirs, their_results = timed_cycles(pandas_cycle, returns, books)
    np.testing.assert_allclose(our_results, their_results, rtol=1e-9)
    p50, worst = statistics.median(ours), max(ours)
    baseline = statistics.median(theirs)
    print(f"monitor cycle: {POSITIONS} positions over {ASSETS} assets x {DAYS} days, "
          f"{len(monitor.checker.book.limits)} limits, {arguments.cycles} cycles")
    print(f"  returns loaded into the scenario matrix once: {loading * 1e3:.1f} ms")
    print(f"  quantdesk RiskMonitor.cycle (re-marking included): p50 {p50 * 1e3:.2f} ms, max {worst * 1e3:.2f} ms; "
          f"target <= {TARGET_SECONDS:.0f} s: {'met' if worst <= TARGET_SECONDS else 'NOT met'}")
    print(f"  pandas baseline, VaR/ES only: p50 {baseline * 1e3:.2f} ms, max {max(theirs) * 1e3:.2f} ms")
    print(f"  ratio pandas VaR-only / quantdesk whole cycle (p50): {baseline / p50:.2f}x; both give the same VaR and ES")
    historical_var, historical_es = our_results[-1]
    print(f"  last cycle: historical VaR {historical_var:,.0f} ES {historical_es:,.0f} (currency, 99%, one day)")


if __name__ == "__main__":
    main()
