"""One risk-monitor cycle over 1,000 positions: exposures, P&L history, historical and parametric VaR/ES.

The book holds 1,000 positions spread over 500 assets (several per asset, long and short);
the history is 2,520 days (ten years) of seeded synthetic returns with a common market factor.
The asset returns are loaded once into a :class:`quantdesk.risk.measures.ScenarioMatrix` (a
contiguous float64 matrix), as a monitor would keep them between cycles. Each cycle marks the
positions to slightly different values (so nothing is reused from the previous cycle), nets
them by asset, computes the book's P&L on every day of history (one matrix-vector product)
and the 99% one-day historical and parametric VaR and ES.

The baseline computes the same figures the plain pandas way in the same process: ``groupby``
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
from scipy.stats import norm

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


def quantdesk_cycle(scenarios: ScenarioMatrix, positions: pd.Series) -> tuple[float, float, float, float]:
    exposures = scenarios.exposures(positions)
    gross, net = float(np.abs(exposures).sum()), float(exposures.sum())  # what the monitor shows beside VaR
    estimates = scenarios.estimate(positions, CONFIDENCE, 1, ("historical", "parametric"))
    historical, parametric = estimates["historical"], estimates["parametric"]
    assert gross >= abs(net)
    return (historical.value_at_risk, historical.expected_shortfall,
            parametric.value_at_risk, parametric.expected_shortfall)


def pandas_cycle(returns: pd.DataFrame, positions: pd.Series) -> tuple[float, float, float, float]:
    exposures = positions.groupby(level=0).sum()
    pnl = returns[exposures.index].dot(exposures)
    cutoff = pnl.quantile(1 - CONFIDENCE, interpolation="lower")
    mean, deviation = pnl.mean(), pnl.std()
    quantile = norm.ppf(CONFIDENCE)
    return (-cutoff, -pnl[pnl <= cutoff].mean(),
            quantile * deviation - mean, norm.pdf(quantile) / (1 - CONFIDENCE) * deviation - mean)


def timed_cycles(cycle, data, books: list[pd.Series]) -> tuple[list[float], list[tuple[float, ...]]]:
    seconds, results = [], []
    for positions in books:
        start = time.perf_counter()
        results.append(cycle(data, positions))
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
    books = [base * generator.normal(1.0, 0.01, POSITIONS) for _ in range(arguments.cycles)]
    quantdesk_cycle(scenarios, books[0])  # warm-up: first-call imports and page faults
    pandas_cycle(returns, books[0])
    ours, our_results = timed_cycles(quantdesk_cycle, scenarios, books)
    theirs, their_results = timed_cycles(pandas_cycle, returns, books)
    np.testing.assert_allclose(our_results, their_results, rtol=1e-9)
    p50, worst = statistics.median(ours), max(ours)
    baseline = statistics.median(theirs)
    print(f"monitor cycle: {POSITIONS} positions over {ASSETS} assets x {DAYS} days, {arguments.cycles} cycles")
    print(f"  returns loaded into the scenario matrix once: {loading * 1e3:.1f} ms")
    print(f"  quantdesk: p50 {p50 * 1e3:.2f} ms, max {worst * 1e3:.2f} ms; "
          f"target <= {TARGET_SECONDS:.0f} s: {'met' if worst <= TARGET_SECONDS else 'NOT met'}")
    print(f"  pandas baseline: p50 {baseline * 1e3:.2f} ms, max {max(theirs) * 1e3:.2f} ms")
    print(f"  ratio pandas / quantdesk (p50): {baseline / p50:.1f}x; both give the same VaR and ES")
    historical_var, historical_es, parametric_var, parametric_es = our_results[-1]
    print(f"  last cycle: historical VaR {historical_var:,.0f} ES {historical_es:,.0f}; "
          f"parametric VaR {parametric_var:,.0f} ES {parametric_es:,.0f} (currency, 99%, one day)")


if __name__ == "__main__":
    main()
