"""A live Nautilus TradingNode run in the background of a notebook, a dashboard server or its own process.

:class:`LiveNode` builds the node from a :class:`~quantdesk.live.config.NodeConfig`, runs it
on its own thread and event loop, and offers what the platform needs from outside: health,
order entry through the node's risk engine, cancels, and snapshots of orders, positions and
the account. Every event the node produces goes to an in-process event hub
(:mod:`quantdesk.streaming`), which feeds dashboards and the trade history; with a Redis URL a
Redis stream writer takes them from the hub too, for dashboards in other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from concurrent.futures import Future
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import LiveExecEngineConfig, LiveRiskEngineConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import order_type_to_str, time_in_force_to_str
from nautilus_trader.model.identifiers import InstrumentId, Venue

from quantdesk.backtest.strategy_loading import build_strategy_config, resolve_strategy
from quantdesk.catalog import catalog_root
from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError
from quantdesk.live.config import NodeConfig
from quantdesk.live.orders import OrderEntry, OrderRequest
from quantdesk.streaming.hub import hub

SWITCH_INTERVAL = 0.001  # seconds a thread may keep the GIL while the node waits for it
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
RISK_HISTORY_DAYS = 2520  # daily returns VaR/ES of the book are measured over (ten years)
# Without data for this many bar intervals (at least this many seconds) a running node is degraded.
STALE_BARS, STALE_SECONDS = 10, 5.0


@dataclass(frozen=True)
class NodeHealth:
    """What a dashboard shows about a node.

    Attributes
    ----------
    state : str
        ``starting``, ``running``, ``degraded`` (a client is disconnected or data stopped
        arriving), ``stopped`` or ``failed``.
    last_event_time : pandas.Timestamp or None
        When the node last published market data (UTC).
    connections : dict
        Client name -> connected.
    detail : str
        Why the node is degraded or failed; empty otherwise.
    started : pandas.Timestamp or None
    bars : int
        Bars the replay has published.
    """

    state: str
    last_event_time: pd.Timestamp | None
    connections: dict[str, bool] = field(default_factory=dict)
    detail: str = ""
    started: pd.Timestamp | None = None
    bars: int = 0


class _NodeLoop(asyncio.SelectorEventLoop):
    """The node's event loop: signals stay with whoever owns the process (a shell, Jupyter, Panel)."""

    def add_signal_handler(self, sig, callback, *args) -> None:  # noqa: D102
        pass

    def remove_signal_handler(self, sig) -> bool:  # noqa: D102
        return False


@contextlib.contextmanager
def _signals_left_alone():
    """Keep Nautilus's kernel from resetting SIGINT: it may be built off the main thread or inside Jupyter."""
    import nautilus_trader.system.kernel as kernel

    class _Signals:
        def __getattr__(self, name: str) -> Any:
            import signal

            return getattr(signal, name)

        @staticmethod
        def signal(*args: Any) -> None:
            return None

    original = kernel.signal
    kernel.signal = _Signals()
    try:
        yield
    finally:
        kernel.signal = original


class LiveNode:
    """One live node and the thread it runs on.

    Parameters
    ----------
    config : NodeConfig
    hub : str, optional
        Name of the in-process event hub the node publishes to (default: the node's name).

    Examples
    --------
    >>> with LiveNode(paper_node_config()) as node:  # doctest: +SKIP
    ...     order_id = node.submit_order(OrderRequest("AAPL.XNAS", "BUY", 100))
    """

    def __init__(self, config: NodeConfig, hub: str | None = None) -> None:
        self.config = config.check()
        self.hub_name = hub or config.name
        self.catalog = str(catalog_root(config.catalog))
        self.redis_url = config.redis_url or settings().redis_url
        self._node: TradingNode | None = None
        self._entry: OrderEntry | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._state = "stopped"
        self._started: pd.Timestamp | None = None
        self._recorder = None
        self._redis_writer = None
        self._redis_subscription = None
        self._known_instruments: dict[str, Any] = {}
        self.risk_gate = self.risk_monitor = None
        self.forecast_problem: str | None = None
        self._forecast_stop = threading.Event()
        self._forecast_thread: threading.Thread | None = None
        self._preflight()

    # ------------------------------------------------------------------ lifecycle

    def _preflight(self) -> None:
        """Fail before starting anything: a replay without data, a gateway that does not answer."""
        if self.config.data == "replay":
            from quantdesk.live.replay import load_timeline

            replay = self.config.replay
            self.timeline = load_timeline(self.catalog, replay.bar_types, replay.start, replay.end)
        if "ib" in (self.config.data, self.config.execution):
            from quantdesk.live.interactive_brokers import check_gateway

            check_gateway(self.config.ib)
        if self.redis_url:
            from quantdesk.streaming import check_redis

            check_redis(self.redis_url)
        self.limits = None
        if self.config.risk_limits:
            from quantdesk.risk import AuditTrail, LimitBook

            # The audit trail lives in the store beside the node's catalog, as its trade history does.
            store = dataclasses.replace(settings(), catalog_path=Path(self.catalog)).store_location
            self.limits = LimitBook.load(self.config.risk_limits, self.config.instrument_ids, audit=AuditTrail(store))
        self.dynamic = None
        if self.config.dynamic_limits:
            from quantdesk.risk.dynamic import DynamicLimits, DynamicLimitsConfig

            self.dynamic = DynamicLimits(DynamicLimitsConfig.load(self.config.dynamic_limits))
            declared = {limit.limit_id for limit in self.limits.limits}
            unknown = [rule.limit_id for rule in self.dynamic.config.rules if rule.limit_id not in declared]
            if unknown:
                raise QuantDeskError(f"Dynamic rules in {self.config.dynamic_limits!r} name limits {unknown} that "
                                     f"{self.config.risk_limits!r} does not declare: add them there or drop the rules")

    def start(self, timeout: float = START_TIMEOUT) -> LiveNode:
        """Build and start the node on its own thread; return once it runs.

        Raises
        ------
        QuantDeskError
            When the node fails to build or start within ``timeout`` seconds (it is stopped again).
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        self._ready.clear()
        # Other threads of this process (trade recorder, Redis writer, a dashboard server) hold the
        # GIL for up to the switch interval before the node's loop gets it back: 5 ms by default,
        # which shows directly in order-to-fill latency. 1 ms bounds that wait at a small cost.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        if self.redis_url:
            from quantdesk.streaming.redis import WRITE_WINDOW, RedisStreamWriter

            # One more subscriber of the node's hub: the stream carries what in-process dashboards get.
            self._redis_writer = RedisStreamWriter(self.redis_url, self.config.stream_key).start()
            self._redis_subscription = hub(self.hub_name).subscribe(self._redis_writer.take, window=WRITE_WINDOW)
        self._error = None
        self._state = "starting"
        self._thread = threading.Thread(target=self._run, name=f"quantdesk-node-{self.config.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise QuantDeskError(f"Node {self.config.name!r} did not start within {timeout:.0f} s: see its log")
        if self._error is not None:
            error, self._error = self._error, None
            self._state = "failed"
            self._thread.join(STOP_TIMEOUT)
            self._stop_redis_writer(timeout=0)
            if isinstance(error, QuantDeskError):
                raise error
            raise QuantDeskError(f"Node {self.config.name!r} failed to start: {type(error).__name__}: {error}") from error
        self._start_recorder()
        # Everything built so far (the node, its caches, the libraries) lives as long as the
        # process: out of the collector's reach, a full collection no longer walks it mid-session.
        gc.freeze()
        return self

    def _run(self) -> None:
        loop = _NodeLoop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            with _signals_left_alone():
                node = TradingNode(config=self._node_config(), loop=loop)
            self._register_factories(node)
            node.build()
            self._install_risk_gate(node)
            self._entry = OrderEntry()
            node.trader.add_strategy(self._entry)
            for strategy in self._strategies():
                node.trader.add_strategy(strategy)
            self._node = node
            loop.run_until_complete(self._run_node(node))
        except BaseException as error:  # reported to start(); the thread ends
            self._error = error
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                if self._node is not None:
                    self._node.dispose()
            with contextlib.suppress(Exception):
                if not loop.is_closed():
                    loop.close()
            self._state = "failed" if self._state == "failed" else "stopped"

    def _install_risk_gate(self, node: TradingNode) -> None:
        """Put the limits file's checks in front of Nautilus's risk engine and start the risk monitor's cycles."""
        self.risk_gate = self.risk_monitor = None
        if self.limits is None:
            return
        from quantdesk.risk import (
            CircuitBreaker, NautilusControls, PreTradeChecker, RiskMonitor, ScenarioMatrix, install_gate,
        )  # fmt: skip

        equity = sum(float(balance.split()[0]) for balance in self.config.starting_balances)
        checker = PreTradeChecker(self.limits, equity=equity, audit=self.limits.audit)
        self.risk_gate = install_gate(node.kernel, checker)
        controls = NautilusControls(node.kernel)
        closes = self._daily_closes()
        scenarios = ScenarioMatrix(closes.pct_change(fill_method=None).iloc[1:]) if len(closes) > 1 else None
        self.risk_monitor = RiskMonitor(checker, scenarios=scenarios, controls=controls,
                                        breaker=CircuitBreaker(self.limits.audit, self.limits.authorize))
        if len(closes) > 1:
            self._start_forecasts(closes)
        self.risk_gate.breaker = self.risk_monitor.breaker
        events = hub(self.hub_name)

        def cycle(_event) -> None:
            # On the node's own loop, like every check: the checker is never touched by two threads.
            controls.mark(checker)
            self.risk_gate.roll_day(node.kernel.clock.timestamp())
            self.risk_gate.refresh_equity()
            snapshot = self.risk_monitor.cycle()
            checker.flush_audit()  # the audit write takes milliseconds: here, never in an order's path
            events.publish(snapshot.as_event(), urgent=bool(snapshot.alerts))

        node.kernel.clock.set_timer("quantdesk-risk-monitor", pd.Timedelta(seconds=self.config.risk_interval),
                                    callback=cycle)

    def _daily_closes(self) -> pd.DataFrame:
        """Return the catalog's daily closes of those of the node's instruments that have them, the last ten years."""
        from quantdesk.catalog import open_catalog
        from quantdesk.catalog.queries import bar_types, load_bars

        stored = bar_types(open_catalog(self.catalog))
        daily = [i for i in self.config.instrument_ids if f"{i}-1-DAY-LAST-EXTERNAL" in stored]
        if not daily:
            return pd.DataFrame()
        return load_bars(daily, catalog=self.catalog)[0].sort_index().tail(RISK_HISTORY_DAYS + 1)

    def _start_forecasts(self, closes: pd.DataFrame) -> None:
        """Refresh the risk forecaster now and every ``forecast_interval`` seconds, on a thread of its own.

        A refresh replays the book and fits GARCH (and the first time a breach model): seconds of work
        that must not stall the node's loop. It reads the monitor's latest snapshot, never the live checker.
        """
        from quantdesk.risk.forecast import RiskForecaster

        forecaster = RiskForecaster(closes, self.limits, self.dynamic)
        if not forecaster.predicted_limits() and self.dynamic is None:
            return
        self.risk_monitor.forecaster = forecaster
        self._forecast_stop.clear()

        def refresh_forever() -> None:
            while not self._forecast_stop.is_set():
                snapshot = self.risk_monitor.last
                exposures = None if snapshot is None or snapshot.exposures.empty else \
                    snapshot.exposures.set_index("instrument_id")["exposure"]
                try:
                    forecaster.refresh(exposures, equity=None if snapshot is None else snapshot.equity)
                    self.forecast_problem = None
                except Exception as error:  # noqa: BLE001  e.g. too short a history: the monitor goes on without
                    self.forecast_problem = f"{type(error).__name__}: {error}"  # forecasts, and says why
                self._forecast_stop.wait(self.config.forecast_interval)

        self._forecast_thread = threading.Thread(
            target=refresh_forever, name=f"quantdesk-risk-forecast-{self.config.name}", daemon=True
        )
        self._forecast_thread.start()

    def reset_circuit_breaker(self, actor: str, note: str = "") -> None:
        """Reset the risk monitor's tripped circuit breaker (audited) so trading may resume.

        Raises
        ------
        QuantDeskError
            When the node has no risk limits, the breaker is not tripped, or ``actor`` may not reset it.
        """
        if self.risk_monitor is None:
            raise QuantDeskError(f"Node {self.config.name!r} runs without risk limits: there is no circuit breaker")
        self.call(self.risk_monitor.reset, actor, note)

    async def _run_node(self, node: TradingNode) -> None:
        run = asyncio.ensure_future(node.run_async())
        # Ready once the trader runs and every client is connected (a replay connects in an instant).
        while not run.done() and not (node.is_running and all(self._connections(node).values())):
            await asyncio.sleep(0.01)
        if run.done() and run.exception() is not None:
            raise run.exception()
        self._started = pd.Timestamp.now(tz="UTC")
        self._state = "running"
        self._ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the node, close its clients and join its thread (a no-op when stopped)."""
        thread, loop, node = self._thread, self._loop, self._node
        if thread is None:
            return
        self._forecast_stop.set()
        if self._forecast_thread is not None:
            self._forecast_thread.join(timeout)  # a refresh in progress finishes first (seconds at most)
            self._forecast_thread = None
        if loop is not None and node is not None and loop.is_running():
            async def stop_all() -> None:
                await node.stop_async()
                for task in asyncio.all_tasks(loop):
                    if task is not asyncio.current_task():
                        task.cancel()

            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop_all(), loop).result(timeout)
        thread.join(timeout)
        if thread.is_alive():
            raise QuantDeskError(f"Node {self.config.name!r} did not stop within {timeout:.0f} s")
        self._stop_recorder()
        self._stop_redis_writer()
        self._thread = self._node = self._loop = self._entry = None
        self._state = "stopped"

    def _stop_redis_writer(self, timeout: float = 5.0) -> None:
        """Hand the writer the hub's last events, write them (for at most ``timeout`` seconds) and stop it."""
        if self._redis_writer is None:
            return
        with contextlib.suppress(QuantDeskError):  # a hub that cannot deliver: write what it has
            self._redis_subscription.flush(timeout)
        hub(self.hub_name).unsubscribe(self._redis_subscription)
        self._redis_writer.close(timeout)
        self._redis_writer = self._redis_subscription = None

    def __enter__(self) -> LiveNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ building

    def _node_config(self) -> TradingNodeConfig:
        from quantdesk.streaming import BridgeActorConfig

        config = self.config
        data_clients, exec_clients = {}, {}
        if config.data == "replay":
            from quantdesk.live.replay import REPLAY_CLIENT, ReplayDataClientConfig

            replay = config.replay
            data_clients[REPLAY_CLIENT] = ReplayDataClientConfig(
                catalog=self.catalog, bar_types=replay.bar_types, start=replay.start, end=replay.end,
                speed=replay.speed, loop=replay.loop, spread_ticks=replay.spread_ticks,
            )
        if config.execution == "sandbox":
            for venue in config.venues:
                exec_clients[venue] = SandboxExecutionClientConfig(
                    venue=venue, starting_balances=list(config.starting_balances), account_type=config.account_type,
                    oms_type="NETTING", bar_execution=True,
                )
        if "ib" in (config.data, config.execution):
            from quantdesk.live.interactive_brokers import client_configs

            ib_data, ib_exec = client_configs(config)
            data_clients.update(ib_data)
            exec_clients.update(ib_exec)
        bar_types = config.replay.bar_types if config.data == "replay" else []
        return TradingNodeConfig(
            trader_id=f"{config.name.upper()}-001",
            logging=LoggingConfig(log_level=config.log_level, use_pyo3=False),
            data_clients=data_clients,
            exec_clients=exec_clients,
            risk_engine=LiveRiskEngineConfig(
                max_order_submit_rate=config.max_order_submit_rate,
                max_notional_per_order={k: int(v) for k, v in config.max_notional_per_order.items()},
            ),
            exec_engine=LiveExecEngineConfig(reconciliation=config.execution != "sandbox"),
            actors=[BridgeActorConfig.importable(hub=self.hub_name, instrument_ids=config.instrument_ids, bar_types=bar_types)],
            timeout_connection=30.0,
            timeout_reconciliation=5.0,
            timeout_portfolio=5.0,
            timeout_disconnection=5.0,
            timeout_post_stop=1.0,
        )

    def _register_factories(self, node: TradingNode) -> None:
        if self.config.data == "replay":
            from quantdesk.live.replay import REPLAY_CLIENT, ReplayDataClientFactory

            node.add_data_client_factory(REPLAY_CLIENT, ReplayDataClientFactory)
        if self.config.execution == "sandbox":
            for venue in self.config.venues:
                node.add_exec_client_factory(venue, SandboxLiveExecClientFactory)
        if "ib" in (self.config.data, self.config.execution):
            from quantdesk.live.interactive_brokers import register_factories

            register_factories(node, self.config)

    def _strategies(self) -> list:
        strategies = []
        bar_types = self.config.replay.bar_types if self.config.replay else []
        for entry in self.config.strategies:
            strategy_class, config_class = resolve_strategy(entry["strategy"])
            parameters = dict(entry.get("parameters", {}))
            fields = set(config_class.__struct_fields__)
            if "instrument_id" in fields and self.config.instrument_ids:
                parameters.setdefault("instrument_id", self.config.instrument_ids[0])
            if "bar_type" in fields and bar_types:
                parameters.setdefault("bar_type", bar_types[0])
            strategies.append(strategy_class(build_strategy_config(config_class, parameters)))
        return strategies

    # ------------------------------------------------------------------ trade history

    def _start_recorder(self) -> None:
        if not self.config.record_trades:
            return
        from quantdesk.live.history import TradeRecorder

        self._recorder = TradeRecorder(self.hub_name, catalog=self.catalog)
        self._recorder.start()

    def _stop_recorder(self) -> None:
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None

    # ------------------------------------------------------------------ outside view

    @property
    def node(self) -> TradingNode:
        """Return the running TradingNode (read its cache only through :meth:`call`)."""
        if self._node is None:
            raise QuantDeskError(f"Node {self.config.name!r} is not running: call start() first")
        return self._node

    def call(self, function, *args: Any, timeout: float = 10.0) -> Any:
        """Run ``function(*args)`` on the node's event loop and return its result (thread-safe cache reads)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise QuantDeskError(f"Node {self.config.name!r} is not running: call start() first")
        result: Future = Future()

        def run() -> None:
            try:
                result.set_result(function(*args))
            except BaseException as error:
                result.set_exception(error)

        loop.call_soon_threadsafe(run)
        return result.result(timeout)

    def health(self) -> NodeHealth:
        """Return the node's state, connections and last market data time."""
        node, state = self._node, self._state
        if node is None or state != "running":
            return NodeHealth(state=state if self._thread is not None or state == "failed" else "stopped",
                              last_event_time=None, started=self._started)
        connections = self._connections(node)
        if self._redis_writer is not None:
            connections["redis"] = self._redis_writer.connected or not self._redis_writer.last_error
        replay = self._replay_client()
        last = pd.Timestamp(replay.last_published_ns, tz="UTC") if replay is not None and replay.last_published_ns else None
        detail = ""
        if not node.is_running:
            state, detail = "degraded", "the node's engines are not running"
        elif not all(connections.values()):
            down = ", ".join(name for name, up in connections.items() if not up)
            state, detail = "degraded", f"disconnected: {down}"
        elif replay is not None and not self._replay_finished(replay):
            interval = replay.timeline.bar_interval_ns / 1e9 / max(self.config.replay.speed, 1e-9)
            stale_after = max(STALE_SECONDS, STALE_BARS * interval) if self.config.replay.speed > 0 else STALE_SECONDS
            since = time.time() - (last.value / 1e9 if last is not None else self._started.value / 1e9)
            if since > stale_after:
                state, detail = "degraded", f"no market data for {since:.0f} s"
        return NodeHealth(state, last, connections, detail, self._started, replay.published if replay else 0)

    @staticmethod
    def _connections(node: TradingNode) -> dict[str, bool]:
        """Return each data and execution client's connection state."""
        return {
            str(client.id): bool(client.is_connected)
            for engine in (node.kernel.data_engine, node.kernel.exec_engine)
            for client in engine._clients.values()
        }

    def _replay_client(self):
        from quantdesk.live.replay import REPLAY_CLIENT, ReplayDataClient

        node = self._node
        if node is None:
            return None
        for client in node.kernel.data_engine._clients.values():
            if isinstance(client, ReplayDataClient) and str(client.id) == REPLAY_CLIENT:
                return client
        return None

    def _replay_finished(self, replay) -> bool:
        return not self.config.replay.loop and replay.laps > 0

    @property
    def instruments(self) -> dict[str, Any]:
        """Return the instruments in the node's cache by id."""
        return {str(i.id): i for i in self.call(lambda: self.node.cache.instruments())}

    def submit_order(self, request: OrderRequest | None = None, **fields: Any) -> str:
        """Check an order and submit it through the node's risk engine; return its client order id.

        Give an :class:`OrderRequest` or its fields (``instrument_id``, ``side``, ``quantity``,
        ``order_type``, ``price``, ``time_in_force``). Whether the venue accepted, filled or the
        risk engine denied it arrives as events (see :meth:`wait_for_order`).

        Raises
        ------
        QuantDeskError
            For bad input (nothing is sent) or a node that is not running.
        """
        request = request or OrderRequest(**fields)
        # The known instruments are kept between orders (a read on the node's loop costs a hop);
        # an id not among them is looked up again, since a live venue may have added it since.
        if str(request.instrument_id).strip() not in self._known_instruments:
            self._known_instruments = self.instruments
        instrument, quantity, price = request.checked(self._known_instruments)
        entry = self._entry
        if entry is None:
            raise QuantDeskError(f"Node {self.config.name!r} is not running: call start() first")
        result: Future = Future()
        self._loop.call_soon_threadsafe(entry.submit, instrument, request.side, quantity, price,
                                        request.time_in_force, result)
        return result.result(10.0)

    def cancel_order(self, client_order_id: str) -> None:
        """Cancel a working order (the venue confirms with an ``OrderCanceled`` event).

        Raises
        ------
        QuantDeskError
            When no such order exists or it is no longer working.
        """
        entry = self._entry
        if entry is None:
            raise QuantDeskError(f"Node {self.config.name!r} is not running: call start() first")
        result: Future = Future()
        self._loop.call_soon_threadsafe(entry.cancel, client_order_id, result)
        result.result(10.0)

    def order_status(self, client_order_id: str) -> dict[str, Any]:
        """Return one order's status, filled quantity, average price and the last rejection/denial reason."""
        from nautilus_trader.model.identifiers import ClientOrderId

        def read() -> dict[str, Any]:
            order = self.node.cache.order(ClientOrderId(client_order_id))
            if order is None:
                raise QuantDeskError(f"Unknown order {client_order_id!r}: no order with this id on this node")
            reason = ""
            for event in reversed(order.events):
                if hasattr(event, "reason") and event.reason:
                    reason = str(event.reason)
                    break
            return {"client_order_id": client_order_id, "status": order.status_string(),
                    "filled_qty": float(order.filled_qty), "avg_px": float(order.avg_px or 0.0),
                    "is_open": bool(order.is_open), "reason": reason}

        return self.call(read)

    def wait_for_order(self, client_order_id: str, until: tuple[str, ...] = ("FILLED", "CANCELED", "REJECTED", "DENIED", "ACCEPTED"),
                       timeout: float = 10.0) -> dict[str, Any]:
        """Wait until an order reaches one of ``until``; return :meth:`order_status`.

        Raises
        ------
        QuantDeskError
            When the order does not get there within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.order_status(client_order_id)
            if status["status"] in until:
                return status
            if time.monotonic() > deadline:
                raise QuantDeskError(f"Order {client_order_id} is still {status['status']} after {timeout:.0f} s")
            time.sleep(0.01)

    def orders(self) -> pd.DataFrame:
        """Return every order of the session: id, instrument, side, type, quantity, price, status, filled."""
        def read() -> list[dict[str, Any]]:
            return [{
                "client_order_id": str(o.client_order_id), "strategy_id": str(o.strategy_id),
                "instrument_id": str(o.instrument_id), "side": o.side_string(), "type": order_type_to_str(o.order_type),
                "quantity": float(o.quantity), "price": float(o.price) if getattr(o, "has_price", False) and o.has_price else None,
                "time_in_force": time_in_force_to_str(o.time_in_force), "status": o.status_string(), "filled_qty": float(o.filled_qty),
                "avg_px": float(o.avg_px) if o.avg_px else None, "is_open": bool(o.is_open),
                "ts_last": pd.Timestamp(o.ts_last, tz="UTC"),
            } for o in self.node.cache.orders()]

        return pd.DataFrame(self.call(read), columns=["client_order_id", "strategy_id", "instrument_id", "side", "type",
                                                      "quantity", "price", "time_in_force", "status", "filled_qty",
                                                      "avg_px", "is_open", "ts_last"])

    def positions(self) -> pd.DataFrame:
        """Return open positions: instrument, strategy, side, quantity, average price, realized and unrealized P&L."""
        def read() -> list[dict[str, Any]]:
            rows = []
            for p in self.node.cache.positions_open():
                last = self.node.cache.quote_tick(p.instrument_id)
                mark = last.bid_price if last is not None and p.is_long else (last.ask_price if last is not None else None)
                unrealized = float(p.unrealized_pnl(mark)) if mark is not None else None
                rows.append({"instrument_id": str(p.instrument_id), "strategy_id": str(p.strategy_id), "side": p.side.name,
                             "quantity": float(p.signed_qty), "avg_px_open": float(p.avg_px_open),
                             "realized_pnl": float(p.realized_pnl) if p.realized_pnl is not None else 0.0,
                             "unrealized_pnl": unrealized})
            return rows

        return pd.DataFrame(self.call(read), columns=["instrument_id", "strategy_id", "side", "quantity", "avg_px_open",
                                                      "realized_pnl", "unrealized_pnl"])

    def account(self) -> pd.DataFrame:
        """Return the balances of every account: venue, currency, total, locked, free."""
        def read() -> list[dict[str, Any]]:
            rows = []
            for venue in self.config.venues:
                account = self.node.cache.account_for_venue(Venue(venue))
                if account is None:
                    continue
                for currency, balance in account.balances().items():
                    rows.append({"venue": venue, "currency": str(currency), "total": float(balance.total),
                                 "locked": float(balance.locked), "free": float(balance.free)})
            return rows

        return pd.DataFrame(self.call(read), columns=["venue", "currency", "total", "locked", "free"])

    def last_quote(self, instrument_id: str) -> tuple[float, float] | None:
        """Return the latest (bid, ask) of an instrument, or None before its first quote."""
        def read():
            quote = self.node.cache.quote_tick(InstrumentId.from_str(instrument_id))
            return None if quote is None else (float(quote.bid_price), float(quote.ask_price))

        return self.call(read)

