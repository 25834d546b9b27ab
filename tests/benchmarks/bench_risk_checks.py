"""Pre-trade check latency: one order against every limit with 1,000 open positions.

The book: 500 instruments in 10 sectors, each held by two strategies (1,000 positions).
The limits: all 13 types globally, a position and an order-quantity limit per instrument,
gross, net and sector-concentration limits per sector, gross exposure and order rate per
strategy (1,000+ limits, about 25 applying to any one order). Levels sit well above the book
so most orders run every limit to the end, as accepted orders do.

Two ways, same process, same orders:

* ``incremental``: :class:`quantdesk.risk.PreTradeChecker` as it is (sums kept up to date);
* ``naive``: the same checker re-summing all positions before each order (``resync()`` + ``check()``).

Prints p50 / p99 / max in microseconds, whether p99 <= 100 us, and naive / incremental; then
what keeping the sums current costs per price tick and per fill. Tails beyond p99 follow the
machine's load (2 cores shared): a collector-free run shows the same spikes.

    .venv/bin/python tests/benchmarks/bench_risk_checks.py [--orders 100000] [--naive-orders 5000]
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from quantdesk.risk import LimitBook, LimitConfig, Order, PreTradeChecker, RiskLimitsConfig

INSTRUMENTS = [f"S{number:03d}.XNAS" for number in range(500)]
SECTORS = [f"Sector{number}" for number in range(10)]
STRATEGIES = ["Momentum-001", "MeanReversion-002"]
EQUITY = 100_000_000.0
TARGET_MICROSECONDS = 100.0


def limits() -> RiskLimitsConfig:
    sectors = {instrument: SECTORS[number % len(SECTORS)] for number, instrument in enumerate(INSTRUMENTS)}
    declared = [
        LimitConfig(limit_id="order-quantity", type="order_quantity", soft=4_000, hard=5_000),
        LimitConfig(limit_id="order-notional", type="order_notional", soft=800_000, hard=1_000_000),
        LimitConfig(limit_id="position", type="position", soft=40_000, hard=50_000),
        LimitConfig(limit_id="gross", type="gross_exposure", soft=180_000_000, hard=200_000_000),
        LimitConfig(limit_id="net", type="net_exposure", soft=80_000_000, hard=100_000_000),
        LimitConfig(limit_id="instrument-share", type="concentration", soft=0.04, hard=0.05, minimum_gross=1e6),
        LimitConfig(limit_id="sector-share", type="concentration", by="sector", soft=0.3, hard=0.4),
        LimitConfig(limit_id="leverage", type="leverage", soft=1.8, hard=2.0),
        LimitConfig(limit_id="daily-loss", type="daily_loss", soft=2_000_000, hard=3_000_000),
        LimitConfig(limit_id="drawdown", type="drawdown", soft=0.08, hard=0.1),
        LimitConfig(limit_id="var", type="var", soft=4_000_000, hard=5_000_000),
        LimitConfig(limit_id="expected-shortfall", type="expected_shortfall", soft=6_000_000, hard=7_000_000),
        LimitConfig(limit_id="orders-per-second", type="order_rate", window_seconds=1, soft=800, hard=1_000),
        LimitConfig(limit_id="orders-per-minute", type="order_rate", window_seconds=60, soft=50_000, hard=60_000),
        LimitConfig(limit_id="collar", type="price_collar", soft=400, hard=500),
    ]
    for instrument in INSTRUMENTS:
        declared.append(LimitConfig(limit_id=f"position-{instrument}", type="position", scope="instrument",
                                    target=instrument, hard=30_000))
        declared.append(LimitConfig(limit_id=f"order-{instrument}", type="order_quantity", scope="instrument",
                                    target=instrument, hard=3_000))
    for sector in SECTORS:
        declared += [
            LimitConfig(limit_id=f"gross-{sector}", type="gross_exposure", scope="sector", target=sector, hard=40_000_000),
            LimitConfig(limit_id=f"net-{sector}", type="net_exposure", scope="sector", target=sector, hard=20_000_000),
            LimitConfig(limit_id=f"share-{sector}", type="concentration", scope="sector", target=sector, by="sector",
                        hard=0.35),
        ]  # fmt: skip
    for strategy in STRATEGIES:
        declared += [
            LimitConfig(limit_id=f"gross-{strategy}", type="gross_exposure", scope="strategy", target=strategy,
                        hard=120_000_000),
            LimitConfig(limit_id=f"rate-{strategy}", type="order_rate", scope="strategy", target=strategy,
                        window_seconds=1, hard=600),
        ]  # fmt: skip
    return RiskLimitsConfig(instrument_sectors=sectors, limits=declared)


def checker(seed: int) -> tuple[PreTradeChecker, dict[str, float]]:
    generator = random.Random(seed)
    prices = {instrument: generator.uniform(10, 500) for instrument in INSTRUMENTS}
    positions = []
    for instrument in INSTRUMENTS:
        for strategy in STRATEGIES:
            quantity = generator.choice([-1, 1]) * generator.randint(10, 1_000)
            positions.append((instrument, strategy, float(quantity), prices[instrument]))
    risk = PreTradeChecker(LimitBook(limits()), equity=EQUITY, peak_equity=EQUITY * 1.01)
    risk.load_positions(positions)
    risk.set_risk(value_at_risk=1_500_000, expected_shortfall=2_000_000)
    return risk, prices


def orders(count: int, prices: dict[str, float], seed: int) -> list[Order]:
    generator = random.Random(seed)
    made = []
    for number in range(count):
        instrument = generator.choice(INSTRUMENTS)
        market = prices[instrument] * generator.uniform(0.99, 1.01)
        limit = None if generator.random() < 0.5 else market * generator.uniform(0.97, 1.03)
        made.append(Order(instrument, generator.choice(STRATEGIES), generator.choice(["BUY", "SELL"]),
                          float(generator.randint(1, 2_000)), market, limit, 1_700_000_000.0 + number * 0.004))  # fmt: skip
    return made


def timed(risk: PreTradeChecker, batch: list[Order], naive: bool) -> tuple[np.ndarray, dict[str, int]]:
    latencies = np.empty(len(batch))
    actions = {"accept": 0, "warn": 0, "reject": 0}
    clock, check, resync = time.perf_counter_ns, risk.check, risk.resync
    for number, order in enumerate(batch):
        started = clock()
        if naive:
            resync()
        decision = check(order)
        latencies[number] = clock() - started
        actions[decision.action] += 1
    return latencies / 1_000.0, actions


def report(name: str, latencies: np.ndarray, actions: dict[str, int]) -> float:
    p50, p99, p999 = np.percentile(latencies, [50, 99, 99.9])
    print(f"{name:12s} {len(latencies):7,d} checks  p50 {p50:7.1f} us  p99 {p99:7.1f} us  p99.9 {p999:7.1f} us"
          f"  max {latencies.max():8.1f} us"
          f"  (accept {actions['accept']:,}, warn {actions['warn']:,}, reject {actions['reject']:,})")
    return p50


def updates(risk: PreTradeChecker, prices: dict[str, float], count: int) -> None:
    """Time what keeps the sums current: a price tick (every quote) and a fill."""
    generator = random.Random(3)
    ticks = [(generator.choice(INSTRUMENTS), generator.uniform(0.99, 1.01)) for _ in range(count)]
    clock = time.perf_counter_ns
    for name, call in (("on_price", lambda i, m: risk.on_price(i, prices[i] * m)),
                       ("on_fill", lambda i, m: risk.on_fill(i, STRATEGIES[0], "BUY" if m > 1 else "SELL", 10.0, prices[i] * m))):
        latencies = np.empty(len(ticks))
        for number, (instrument, move) in enumerate(ticks):
            started = clock()
            call(instrument, move)
            latencies[number] = clock() - started
        p50, p99 = np.percentile(latencies / 1_000.0, [50, 99])
        print(f"{name:12s} {len(ticks):7,d} calls   p50 {p50:7.1f} us  p99 {p99:7.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--naive-orders", type=int, default=5_000)
    arguments = parser.parse_args()
    risk, prices = checker(seed=1)
    targets = {STRATEGIES[0], INSTRUMENTS[0], risk.book.config.instrument_sectors[INSTRUMENTS[0]]}
    applying = sum(limit.scope == "global" or limit.target in targets for limit in risk.book.limits)
    print(f"book: {len(INSTRUMENTS)} instruments, {len(SECTORS)} sectors, {risk.summary().open_positions} instruments open "
          f"({len(risk.positions())} positions); {len(risk.book.limits)} limits, {applying} apply to each order")
    timed(risk, orders(2_000, prices, seed=99), naive=False)  # warm-up
    risk, prices = checker(seed=1)
    batch = orders(arguments.orders, prices, seed=2)
    latencies, actions = timed(risk, batch, naive=False)
    fast = report("incremental", latencies, actions)
    p99 = float(np.percentile(latencies, 99))
    print(f"target p99 <= {TARGET_MICROSECONDS:.0f} us: {'met' if p99 <= TARGET_MICROSECONDS else 'NOT met'} ({p99:.1f} us)")
    updates(risk, prices, arguments.orders)
    risk, prices = checker(seed=1)
    naive, naive_actions = timed(risk, batch[: arguments.naive_orders], naive=True)
    slow = report("naive", naive, naive_actions)
    print(f"naive / incremental (p50): {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
