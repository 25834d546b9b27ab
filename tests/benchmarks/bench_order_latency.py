"""Order entry to sandbox fill, through the risk engine: the latency of quantdesk's order path.

A paper node (``LiveNode``) replays the sample catalog's AAPL minute bars at speed 60 (one bar
a second, as ``make up`` runs it) with sandbox execution; its risk throttle is raised so it
never holds an order back. Market orders of 100 shares alternate BUY and SELL, one at a time
(each waits for its fill), so the position stays within one order and every figure is an
unloaded latency. All times come from one process; the first ``--warmup`` orders of each
path are not counted.

* ``baseline``: a strategy inside the node creates and submits the orders itself on the node's
  event loop (no thread hop); latency from just before the order is created to the
  ``OrderFilled`` event reaching that strategy's message bus handler. This is stock
  Nautilus's order path: risk engine queue, execution engine queue, the sandbox's simulated
  exchange, the event queue back.
* ``quantdesk``: another thread calls the thread-safe ``LiveNode.submit_order(OrderRequest)``
  (input checks, the hop onto the node's loop, the ``OrderEntry`` strategy); latency from the
  call to

  - ``fill in node``: the ``OrderFilled`` event reaching the same message bus handler in the node,
  - ``fill at hub``: the fill reaching a subscriber of the node's event hub (window 0) on the
    hub's thread, which is what a notebook or a dashboard gets.

  ``node only`` is the part inside the node, order created to fill at the handler, for
  comparison with the baseline; ``call returns`` is how long ``submit_order`` blocks its caller.

The node runs the platform's pre-trade gate (:mod:`quantdesk.risk.gate`) on every limit type of
the packaged default limits, with levels raised so that none bites (orders come back to back,
faster than the default order-rate limit allows), and the risk monitor's cycle every 5 s: the
``quantdesk`` figures include evaluating all of them; the baseline's orders pass the same gate.

Both sides run with trade recording on (the node writes every order event to the SQLite
trade history, as a user has it) and again with it off (``--recording on`` or ``off`` for
one). Prints p50, p99, max and mean in milliseconds and quantdesk / baseline ratios.
Target: p99 <= 10 ms from the call to the fill. Figures depend on the machine's load: the
script prints the load average before and after.

    .venv/bin/python tests/benchmarks/bench_order_latency.py [--orders 10000] [--recording both]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from concurrent.futures import Future
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

from quantdesk.config.risk import FRACTION_TYPES, RiskLimitsConfig
from quantdesk.live.config import DEFAULT_LIMITS, NodeConfig, ReplayConfig
from quantdesk.live.node import LiveNode
from quantdesk.live.orders import OrderRequest
from quantdesk.streaming import hub
from quantdesk.testing import sample_catalog

INSTRUMENT = "AAPL.XNAS"
QUANTITY = 100
SESSIONS = 5  # simulated days in the catalog: the replay loops, only the first bars are ever played
TARGET_P99_MS = 10.0


class LatencyProbeConfig(StrategyConfig, frozen=True):
    """Config of :class:`LatencyProbe`."""

    instrument_id: str = INSTRUMENT
    order_id_tag: str = "PROBE"


class LatencyProbe(Strategy):
    """Time every fill in the node; on request, submit market orders one at a time as the baseline.

    ``fills`` maps client order id -> (perf_counter_ns when the fill reached the handler,
    nanoseconds from the order's creation to then on the node's clock). Written on the node's
    loop only; the benchmark reads it after the orders are done.
    """

    def __init__(self, config: LatencyProbeConfig) -> None:
        super().__init__(config)
        self.fills: dict[str, tuple[int, int]] = {}
        self._baseline: list[int] = []
        self._remaining = 0
        self._side = OrderSide.BUY
        self._started_ns = 0
        self._pending = ""
        self._done: Future | None = None

    def on_start(self) -> None:
        self.instrument_id = InstrumentId.from_str(self.config.instrument_id)
        # Every strategy's fills (OrderEntry's included) are published on these topics.
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)

    def on_stop(self) -> None:
        self.msgbus.unsubscribe(topic="events.order.*", handler=self._on_order_event)

    def _on_order_event(self, event: Any) -> None:
        if not isinstance(event, OrderFilled):
            return
        now = time.perf_counter_ns()
        order_id = event.client_order_id.value
        order = self.cache.order(event.client_order_id)
        self.fills[order_id] = (now, self.clock.timestamp_ns() - order.ts_init)
        if order_id == self._pending:
            self._baseline.append(now - self._started_ns)
            self._remaining -= 1
            if self._remaining > 0:
                self._submit_next()
            else:
                self._pending = ""
                self._done.set_result(list(self._baseline))

    def run_baseline(self, count: int, done: Future) -> None:
        """Submit ``count`` market orders, each after the previous one filled; ``done`` gets the latencies (ns)."""
        self._baseline, self._remaining, self._done = [], count, done
        self._submit_next()

    def _submit_next(self) -> None:
        self._started_ns = time.perf_counter_ns()
        order = self.order_factory.market(self.instrument_id, self._side, Quantity(Decimal(QUANTITY), 0))
        self._pending = order.client_order_id.value
        self._side = OrderSide.SELL if self._side == OrderSide.BUY else OrderSide.BUY
        self.submit_order(order)


class HubFills:
    """A hub subscriber that timestamps each ``OrderFilled`` as it arrives and lets a caller wait for one."""

    def __init__(self, hub_name: str) -> None:
        self.times: dict[str, int] = {}
        self._condition = threading.Condition()
        self._hub = hub(hub_name)
        self._subscription = self._hub.subscribe(self._receive, window=0.0, kinds={"OrderFilled"})

    def _receive(self, batch: list[dict[str, Any]]) -> None:
        now = time.perf_counter_ns()
        with self._condition:
            for event in batch:
                self.times[event["client_order_id"]] = now
            self._condition.notify_all()

    def wait(self, order_id: str, timeout: float = 10.0) -> int:
        """Return when the fill of ``order_id`` reached the hub (perf_counter_ns)."""
        with self._condition:
            if not self._condition.wait_for(lambda: order_id in self.times, timeout):
                raise TimeoutError(f"no fill for {order_id} at the hub within {timeout} s")
            return self.times[order_id]

    def close(self) -> None:
        """Unsubscribe from the hub."""
        self._hub.unsubscribe(self._subscription)


def limits_that_never_bite(folder: Path) -> str:
    """Write the default limits with every level raised out of reach; return the file's path."""
    config = RiskLimitsConfig.load(DEFAULT_LIMITS)
    limits = [
        {**limit.json_primitives(), "soft": None, "hard": 1.0 if limit.type in FRACTION_TYPES else 1e15}
        for limit in config.limits
    ]
    path = folder / "limits.yaml"
    path.write_text(yaml.safe_dump({"instrument_sectors": dict(config.instrument_sectors), "limits": limits}))
    return str(path)


def node_config(catalog: Path, record_trades: bool) -> NodeConfig:
    """Return the paper node of the benchmark: replay at speed 60, sandbox, a throttle and limits that never bite."""
    return NodeConfig(
        name=f"latency-{'recorded' if record_trades else 'unrecorded'}",
        replay=ReplayConfig(instrument_ids=[INSTRUMENT], speed=60.0),
        strategies=[{"strategy": f"{__name__}:LatencyProbe", "parameters": {"instrument_id": INSTRUMENT}}],
        max_order_submit_rate="100000/00:00:01",
        risk_limits=limits_that_never_bite(catalog.parent),
        catalog=str(catalog),
        record_trades=record_trades,
    )


def probe_of(node: LiveNode) -> LatencyProbe:
    """Return the node's probe strategy."""
    return node.call(lambda: next(s for s in node.node.trader.strategies() if isinstance(s, LatencyProbe)))


def run_quantdesk(node: LiveNode, probe: LatencyProbe, fills: HubFills, count: int) -> dict[str, list[int]]:
    """Submit ``count`` orders through ``LiveNode.submit_order``, each after the previous fill reached the hub."""
    times: dict[str, list[int]] = {"call returns": [], "fill at hub": []}
    order_ids, calls = [], []
    for i in range(count):
        request = OrderRequest(INSTRUMENT, "BUY" if i % 2 == 0 else "SELL", QUANTITY)
        started = time.perf_counter_ns()
        order_id = node.submit_order(request)
        returned = time.perf_counter_ns()
        at_hub = fills.wait(order_id)
        times["call returns"].append(returned - started)
        times["fill at hub"].append(at_hub - started)
        order_ids.append(order_id)
        calls.append(started)
    in_node = node.call(lambda: dict(probe.fills))
    times["fill in node"] = [in_node[order_id][0] - started for order_id, started in zip(order_ids, calls, strict=True)]
    times["node only"] = [in_node[order_id][1] for order_id in order_ids]
    return times


def measure(catalog: Path, record_trades: bool, orders: int, warmup: int) -> dict[str, np.ndarray]:
    """Run both paths on one node; return each measure's latencies in milliseconds."""
    node = LiveNode(node_config(catalog, record_trades))
    node.start()
    fills = HubFills(node.hub_name)
    try:
        deadline = time.monotonic() + 10.0
        while node.last_quote(INSTRUMENT) is None:  # the sandbox fills market orders against the last quote
            if time.monotonic() > deadline:
                raise TimeoutError("the replay published no quote within 10 s")
            time.sleep(0.05)
        probe = probe_of(node)
        for count in (warmup, orders):  # the warm-up round's figures are overwritten by the measured one's
            done: Future = Future()
            node.call(probe.run_baseline, count, done)
            baseline = done.result(timeout=60.0 + count * 0.05)
            quantdesk = run_quantdesk(node, probe, fills, count)
        results = {"baseline": np.array(baseline)} | {name: np.array(v) for name, v in quantdesk.items()}
        status = node.positions()
        assert abs(status["quantity"].sum()) <= QUANTITY, f"the position grew: {status}"
        return {name: values / 1e6 for name, values in results.items()}
    finally:
        fills.close()
        node.stop()


def summary(values: np.ndarray) -> tuple[float, float, float, float]:
    """Return p50, p99, max and mean."""
    return float(np.percentile(values, 50)), float(np.percentile(values, 99)), float(values.max()), float(values.mean())


def report(label: str, results: dict[str, np.ndarray]) -> None:
    """Print one table of latencies and the ratios against the baseline."""
    print(f"\n{label}: {len(results['baseline']):,} orders per path")
    print(f"{'path':<44}{'p50':>8}{'p99':>8}{'max':>8}{'mean':>8}   ms")
    rows = [
        ("baseline   strategy submit -> fill in node", "baseline"),
        ("quantdesk  node only: created -> fill", "node only"),
        ("quantdesk  submit_order call returns", "call returns"),
        ("quantdesk  submit_order -> fill in node", "fill in node"),
        ("quantdesk  submit_order -> fill at hub", "fill at hub"),
    ]
    for text, name in rows:
        print(f"{text:<44}" + "".join(f"{value:8.3f}" for value in summary(results[name])))
    base = summary(results["baseline"])
    for name in ("fill in node", "fill at hub"):
        mine = summary(results[name])
        print(f"ratio {name} / baseline: p50 {mine[0] / base[0]:.2f}x  p99 {mine[1] / base[1]:.2f}x")
    p99 = summary(results["fill at hub"])[1]
    verdict = "met" if p99 <= TARGET_P99_MS else f"missed by {p99 - TARGET_P99_MS:.2f} ms"
    print(f"target p99 submit_order -> fill at hub <= {TARGET_P99_MS:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=10_000, help="measured orders per path")
    parser.add_argument("--warmup", type=int, default=200, help="orders per path before measuring")
    parser.add_argument("--recording", choices=("both", "on", "off"), default="both", help="trade recording")
    options = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="quantdesk-bench-orders-") as folder:
        catalog = sample_catalog(Path(folder) / "catalog", simulated_sessions=SESSIONS)
        for record_trades in (True, False):
            if options.recording in ("both", "on" if record_trades else "off"):
                results = measure(catalog, record_trades, options.orders, options.warmup)
                report(f"trade recording {'on' if record_trades else 'off'}", results)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
