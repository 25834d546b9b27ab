"""Live events from a node to dashboard sessions: throughput, latency and loss of the bridge.

The node side is a real paper node (``LiveNode``: replay of the sample catalog at speed 60,
sandbox execution, trade recording on, the ``BridgeActor``) plus a small strategy that makes
``QuoteTick`` objects on the node's loop at a fixed rate (``--rate`` per second, in a batch
every 5 ms); each carries a sequence number in its bid size and is stamped ``ts_event`` with
the node's clock when it is made. ``--entry`` says where they go in:

* ``data-engine`` (default): to the node's data engine, exactly as a market data adapter hands
  them over, so the cache, the portfolio, the paper venue's matching engine and the bridge all
  handle each one: the ceiling of the whole node;
* ``bridge``: to the bridge itself, the ``BridgeActor``'s quote handler: the bridge's own
  throughput.

Quotes then travel the platform's path: bridge -> event hub -> one ``SessionFeed`` per
dashboard session (or bridge -> event hub -> Redis stream writer -> Redis -> reader -> hub ->
sessions).

The dashboard side is a real Panel server whose page makes a ``SessionFeed`` that streams the
newest quote of each batch (``--rows latest``, what a price chart takes; ``--rows all`` streams
every quote) into a ``ColumnDataSource`` with a bounded rollover. ``--sessions`` headless
clients in a separate process open the page's Bokeh websocket (as a browser does) and read
every document patch the server sends. Latency is measured on the server, in the session's
document update (``add_next_tick_callback``), for every event of the batch: now minus its
``ts_event``. Loss is counted per session from the sequence numbers: quotes published vs
quotes applied, and any gap or reordering.

Two ways from node to server:

* ``hub``: node and Panel server in one process, the bridge publishing to the in-process hub;
* ``redis`` (``--redis``): the node in this process publishes every event through its message
  bus to a real redis-server started here; the Panel server runs in another process and
  follows the stream with ``RedisEventSource``.

Each runs with 1 session and with ``--sessions`` sessions. Prints quotes/s made by the node
side and the rate they reached the bridge (or Redis reader), events/s applied per session,
p50/p99/max latency and lost events. Targets: 50,000 quotes/s sustained for 60 s, no loss,
p99 <= 100 ms with one session. Figures depend on the machine's load: the load average is
printed before and after.

    .venv/bin/python tests/benchmarks/bench_bridge.py [--rate 50000] [--seconds 60] [--sessions 50] [--redis both]
                                                      [--entry data-engine|bridge]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

INSTRUMENT = "AAPL.XNAS"
CATALOG_SESSIONS = 5  # simulated days: the replay only has to keep the node's market open
PERIOD = 0.005  # seconds between the publisher's batches
CATCH_UP = 0.05  # at most this many seconds of quotes in one batch when the node falls behind
BIN_NS = 100_000  # latency histogram bins of 0.1 ms ...
BINS = 100_000  # ... up to 10 s (later ones land in the last bin)
ROLLOVER = 2_000  # rows a session's chart keeps
DRAIN_SECONDS = 30.0  # how long sessions may take to catch up after the last quote
TARGET_RATE, TARGET_P99_MS = 50_000, 100.0
APP = "quotes"

_ANSWERS = None  # where a child process answers the benchmark (its original stdout)
_TS, _BID_SIZE, _ASK_SIZE = itemgetter("ts_event"), itemgetter("bid_size"), itemgetter("ask_size")


# ---------------------------------------------------------------------------------------- node side


class QuotePublisherConfig(StrategyConfig, frozen=True):
    """Config of :class:`QuotePublisher`."""

    instrument_id: str = INSTRUMENT
    order_id_tag: str = "QUOTES"


class QuotePublisher(Strategy):
    """Hand quotes to the node's data engine at a fixed rate, as an adapter does with an exchange's feed.

    The benchmark's quotes have ask size 0 (replayed ones have at least 1) and their sequence
    number as bid size, so a session can tell them apart and count what it missed.
    """

    def __init__(self, config: QuotePublisherConfig) -> None:
        super().__init__(config)
        self._task: asyncio.Task | None = None

    def burst(self, rate: float, seconds: float, send, done: Future) -> None:
        """Start handing quotes to ``send`` on the node's loop; ``done`` receives (quotes published, seconds taken)."""
        self._task = asyncio.get_running_loop().create_task(self._publish(rate, seconds, send, done))

    async def _publish(self, rate: float, seconds: float, send, done: Future) -> None:
        instrument = self.cache.instrument(InstrumentId.from_str(self.config.instrument_id))
        bid, ask = instrument.make_price(100.0), instrument.make_price(100.01)
        empty = Quantity(0, instrument.size_precision)
        clock, instrument_id = self.clock, instrument.id
        started, sent, most = time.monotonic(), 0, max(1, int(rate * CATCH_UP))
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                due = min(int(elapsed * rate), sent + most)
                for sequence in range(sent, due):
                    now = clock.timestamp_ns()
                    send(QuoteTick(instrument_id, bid, ask, Quantity(sequence, 0), empty, now, now))
                sent = max(sent, due)
                await asyncio.sleep(PERIOD)
            done.set_result((sent, time.monotonic() - started))
        except BaseException as error:  # the benchmark waits on done: never leave it hanging
            done.set_exception(error)
            raise


def node_config(catalog: Path, name: str, redis_url: str | None):
    """Return the benchmark's paper node: replay at speed 60, sandbox, recording on, the quote publisher."""
    from quantdesk.live.config import NodeConfig, ReplayConfig

    return NodeConfig(
        name=name,
        replay=ReplayConfig(instrument_ids=[INSTRUMENT], speed=60.0),
        strategies=[{"strategy": f"{__name__}:QuotePublisher", "parameters": {"instrument_id": INSTRUMENT}}],
        catalog=str(catalog),
        redis_url=redis_url,
        stream_key=f"bench-{name}",
    )


def entry_point(node, entry: str):
    """Return the callable each quote is handed to, on the node's loop.

    ``data-engine``: the node's data engine, as an adapter does (cache, portfolio, the paper
    venue's matching engine and the bridge all handle each quote). ``bridge``: the bridge's
    own entry, its actor's quote handler.
    """
    from quantdesk.streaming import BridgeActor

    kernel = node.node.kernel
    if entry == "data-engine":
        return lambda quote: kernel.msgbus.send("DataEngine.process", quote)
    return next(actor for actor in node.node.trader.actors() if isinstance(actor, BridgeActor)).on_quote_tick


def publisher_of(node) -> QuotePublisher:
    """Return the node's quote publisher."""
    return node.call(lambda: next(s for s in node.node.trader.strategies() if isinstance(s, QuotePublisher)))


# ----------------------------------------------------------------------------------- dashboard side


def _probe_columns(batch: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``ts_event`` and sequence number of the benchmark's own quotes in a batch (ask size 0 marks them)."""
    count = len(batch)
    mine = np.fromiter(map(_ASK_SIZE, batch), dtype=np.float64, count=count) == 0.0
    times = np.fromiter(map(_TS, batch), dtype=np.int64, count=count)[mine]
    # Rounded: a size read back as a double can sit just below its integer value.
    sequences = np.rint(np.fromiter(map(_BID_SIZE, batch), dtype=np.float64, count=count)[mine]).astype(np.int64)
    return times, sequences


class SessionProbe:
    """What one session applied: counts, sequence continuity and a latency histogram (ns, from ts_event)."""

    def __init__(self) -> None:
        self.applied = 0
        self.batches = 0
        self.first = -1
        self.last = -1
        self.gaps = 0
        self.max_ns = 0
        self.histogram = np.zeros(BINS, dtype=np.int64)

    def record(self, batch: list[dict[str, Any]]) -> None:
        """Count a batch at the moment it is applied to the document."""
        from quantdesk.ui.components.live_feed import per_batch

        now = time.time_ns()
        times, sequences = per_batch(batch, "probe", _probe_columns)  # read once per batch, whichever session asks
        if not len(sequences):
            return
        latencies = now - times
        previous = self.last if self.last >= 0 else sequences[0] - 1
        self.gaps += int(np.count_nonzero(np.diff(sequences, prepend=previous) != 1))
        if self.first < 0:
            self.first = int(sequences[0])
        self.last = int(sequences[-1])
        self.applied += len(sequences)
        self.batches += 1
        self.max_ns = max(self.max_ns, int(latencies.max()))
        counts = np.bincount(np.clip(latencies // BIN_NS, 0, BINS - 1))
        self.histogram[: len(counts)] += counts

    def summary(self) -> dict[str, Any]:
        """Return the figures as plain data (the histogram as its non-empty bins)."""
        filled = np.flatnonzero(self.histogram)
        return {"applied": self.applied, "batches": self.batches, "first": self.first, "last": self.last,
                "gaps": self.gaps, "max_ns": self.max_ns,
                "bins": filled.tolist(), "counts": self.histogram[filled].tolist()}  # fmt: skip


class DashboardServer:
    """A Panel server whose page streams a hub's quotes into a chart, one probe per session."""

    def __init__(self, hub_name: str, rows: str) -> None:
        self.hub_name = hub_name
        self.rows = rows
        self.probes: list[SessionProbe] = []
        self._lock = threading.Lock()
        self._server = None
        self.port = 0

    def page(self):
        """Build one session's page: a quote chart fed by a SessionFeed."""
        import panel as pn
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure

        from quantdesk.ui.components.live_feed import SessionFeed, latest_by, per_batch

        source = ColumnDataSource({"time": [], "bid": [], "ask": []})
        chart = figure(height=300, sizing_mode="stretch_width", x_axis_type="datetime")
        chart.line("time", "bid", source=source)
        probe = SessionProbe()

        def apply(batch: list[dict[str, Any]]) -> None:
            probe.record(batch)
            shown = batch if self.rows == "all" else per_batch(batch, "latest", lambda b: list(latest_by(b, "instrument_id").values()))
            source.stream({"time": [event["ts_event"] / 1e6 for event in shown],
                           "bid": [event["bid"] for event in shown],
                           "ask": [event["ask"] for event in shown]}, rollover=ROLLOVER)  # fmt: skip

        SessionFeed(self.hub_name, apply, kinds={"QuoteTick"})
        with self._lock:
            self.probes.append(probe)
        return pn.pane.Bokeh(chart)

    def start(self) -> DashboardServer:
        """Serve the page on a free loopback port, on a thread."""
        import panel as pn

        from quantdesk.testing import free_port, wait_for_http

        self.port = free_port()
        self._server = pn.serve({APP: self.page}, port=self.port, address="127.0.0.1", show=False, threaded=True,
                                websocket_origin=[f"127.0.0.1:{self.port}"])
        # A static file: asking for the page itself would open a session nobody follows.
        wait_for_http(f"http://127.0.0.1:{self.port}/static/js/bokeh.min.js", timeout=60.0)
        return self

    def stop(self) -> None:
        """Stop the server thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def sessions(self) -> int:
        """Return the sessions opened so far."""
        with self._lock:
            return len(self.probes)

    def drain(self, last: int, timeout: float = DRAIN_SECONDS) -> dict[str, Any]:
        """Wait until every session applied quote ``last`` (or ``timeout``); return each session's figures."""
        started = time.monotonic()
        with self._lock:
            probes = list(self.probes)
        while any(probe.last < last for probe in probes) and time.monotonic() - started < timeout:
            time.sleep(0.05)
        return {"drain_seconds": time.monotonic() - started, "sessions": [probe.summary() for probe in probes]}


def serve_over_pipe(options: argparse.Namespace) -> None:
    """Run the dashboard server behind a Redis reader, answering the benchmark's requests line by line on stdin/stdout."""
    from quantdesk.streaming import RedisEventSource, hub

    global _ANSWERS
    _ANSWERS, sys.stdout = sys.stdout, sys.stderr  # Panel prints to stdout: keep the pipe for answers
    source = RedisEventSource(options.redis_url, hub=options.hub, stream_key=options.stream_key).start()
    server = DashboardServer(options.hub, options.rows).start()
    reply({"port": server.port})
    try:
        for line in sys.stdin:
            command, *arguments = line.split()
            if command == "sessions":
                reply({"sessions": server.sessions()})
            elif command == "drain":
                figures = server.drain(int(arguments[0]))
                reply(figures | {"reader_received": source.received, "hub_published": hub(options.hub).published})
            elif command == "quit":
                break
    finally:
        server.stop()
        source.stop()


def reply(values: dict[str, Any]) -> None:
    """Write one answer line to the benchmark."""
    answers = _ANSWERS or sys.stdout
    answers.write(json.dumps(values) + "\n")
    answers.flush()


# ------------------------------------------------------------------------------------------ clients


def run_clients(options: argparse.Namespace) -> None:
    """Open ``--sessions`` Bokeh websocket sessions on the page and read every message until stdin closes."""
    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.websocket import websocket_connect

    received = [0] * options.sessions

    async def follow(index: int, connection) -> None:
        while await connection.read_message() is not None:
            received[index] += 1

    async def main() -> None:
        url = f"ws://127.0.0.1:{options.port}/{APP}/ws"
        connections, readers = [], []
        for index in range(options.sessions):
            token = generate_jwt_token(generate_session_id())
            connection = await websocket_connect(url, subprotocols=["bokeh", token], max_message_size=1 << 30)
            connections.append(connection)
            readers.append(asyncio.create_task(follow(index, connection)))
        reply({"connected": len(connections)})
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the benchmark closes stdin
        for connection in connections:
            connection.close()
        await asyncio.gather(*readers, return_exceptions=True)
        reply({"messages": received})

    asyncio.run(main())


def script_process(*arguments: str) -> subprocess.Popen:
    """Start this script in another role, talking over pipes."""
    return subprocess.Popen([sys.executable, __file__, *arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)


def ask(process: subprocess.Popen, command: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """Send a command line (if any) and return the next answer line of ``process``."""
    if command is not None:
        process.stdin.write(command + "\n")
        process.stdin.flush()
    answer: list[str] = []
    reader = threading.Thread(target=lambda: answer.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not answer or not answer[0]:
        raise RuntimeError(f"no answer from {process.args[2:4]} within {timeout:.0f} s (exit code {process.poll()})")
    return json.loads(answer[0])


def end(process: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """Let ``process`` finish after closing its stdin; kill it if it does not."""
    if process is None:
        return
    try:
        process.stdin.close()
        process.wait(timeout)
    except (subprocess.TimeoutExpired, OSError):
        process.kill()
        process.wait()


# -------------------------------------------------------------------------------------- benchmark


def measure(catalog: Path, options: argparse.Namespace, sessions: int, redis_url: str | None) -> dict[str, Any]:
    """Run one burst through a fresh node and server with ``sessions`` clients; return the figures."""
    from quantdesk.live.node import LiveNode
    from quantdesk.streaming import hub

    name = f"bridge-{'redis' if redis_url else 'hub'}-{sessions}"
    node = LiveNode(node_config(catalog, name, redis_url))
    server, server_process, clients = None, None, None
    try:
        node.start()
        if redis_url:
            server_process = script_process("--role", "server", "--redis-url", redis_url, "--hub", f"{name}-remote",
                                             "--stream-key", node.config.stream_key, "--rows", options.rows)
            port = ask(server_process)["port"]
        else:
            server = DashboardServer(node.hub_name, options.rows).start()
            port = server.port
        clients = script_process("--role", "clients", "--port", str(port), "--sessions", str(sessions))
        ask(clients, timeout=60.0 + sessions)
        deadline = time.monotonic() + 60.0 + sessions  # the server makes a session's page after its websocket opened
        while (opened := ask(server_process, "sessions")["sessions"] if server_process else server.sessions()) < sessions:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{opened} sessions opened, {sessions} expected")
            time.sleep(0.1)
        published_before = hub(node.hub_name).published
        done: Future = Future()
        send = node.call(entry_point, node, options.entry)
        node.call(publisher_of(node).burst, options.rate, options.seconds, send, done)
        sent, took = done.result(options.seconds * 3 + 60)
        figures = ask(server_process, f"drain {sent - 1}") if server_process else server.drain(sent - 1)
        figures["sent"], figures["publish_seconds"] = sent, took
        figures["bridge_published"] = hub(node.hub_name).published - published_before
        end(clients, timeout=60.0)
        figures["messages"] = json.loads(clients.stdout.readline() or '{"messages": []}')["messages"]
        clients = None
        return figures
    finally:
        end(clients)
        if server_process is not None:
            with contextlib.suppress(OSError):  # the server may have gone already
                server_process.stdin.write("quit\n")
                server_process.stdin.flush()
            end(server_process)
        if server is not None:
            server.stop()
        node.stop()


def percentile(bins: np.ndarray, counts: np.ndarray, q: float) -> float:
    """Return the ``q`` percentile (ms, bin upper edge) of a sparse latency histogram."""
    order = np.argsort(bins)
    bins, cumulative = bins[order], np.cumsum(counts[order])
    if not len(cumulative):
        return float("nan")
    return float((bins[np.searchsorted(cumulative, q / 100 * cumulative[-1])] + 1) * BIN_NS / 1e6)


def report(label: str, figures: dict[str, Any], options: argparse.Namespace) -> tuple[float, int]:
    """Print one run's figures; return its p99 (ms, over all sessions) and the events lost."""
    sent, took = figures["sent"], figures["publish_seconds"]
    sessions = figures["sessions"]
    bins = np.concatenate([np.array(s["bins"], dtype=np.int64) for s in sessions])
    counts = np.concatenate([np.array(s["counts"], dtype=np.int64) for s in sessions])
    applied = [s["applied"] for s in sessions]
    lost = sum(sent - a for a in applied)
    gaps = sum(s["gaps"] for s in sessions)
    p50, p99 = percentile(bins, counts, 50), percentile(bins, counts, 99)
    worst = max(s["max_ns"] for s in sessions) / 1e6
    reached = figures.get("reader_received", figures["bridge_published"])
    print(f"\n{label}: {len(sessions)} session(s), {options.rows} rows streamed per batch, quotes into the {options.entry}")
    print(f"  node side: {sent:,} quotes in {took:.1f} s = {sent / took:,.0f}/s (asked {options.rate:,.0f}/s); "
          f"{'Redis reader' if 'reader_received' in figures else 'bridge -> hub'}: {reached:,} events")
    print(f"  per session: applied {min(applied):,}..{max(applied):,} of {sent:,} "
          f"= {min(applied) / (took + figures['drain_seconds']):,.0f}/s incl. {figures['drain_seconds']:.1f} s drain; "
          f"batches {min(s['batches'] for s in sessions):,}..{max(s['batches'] for s in sessions):,}; "
          f"websocket messages per client {min(figures['messages'] or [0]):,}..{max(figures['messages'] or [0]):,}")
    print(f"  latency ts_event -> document update: p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {worst:.1f} ms")
    print(f"  lost {lost:,} events, {gaps:,} gaps or reorderings")
    return p99, lost


def benchmark(options: argparse.Namespace) -> None:
    """Run every asked combination of transport and session count and print the figures."""
    from quantdesk.testing import redis_server, sample_catalog

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} cores)")
    counts = sorted({1, options.sessions})
    transports = {"no": ["hub"], "yes": ["redis"], "both": ["hub", "redis"]}[options.redis]
    with tempfile.TemporaryDirectory(prefix="quantdesk-bench-bridge-") as folder:
        catalog = sample_catalog(Path(folder) / "catalog", simulated_sessions=CATALOG_SESSIONS)
        for transport in transports:
            for sessions in counts:
                if transport == "hub":
                    figures = measure(catalog, options, sessions, None)
                else:
                    with redis_server() as redis:
                        figures = measure(catalog, options, sessions, redis.url)
                p99, lost = report(f"{transport}", figures, options)
                if sessions == 1:
                    rate = figures["sent"] / figures["publish_seconds"]
                    print(f"  targets: {TARGET_RATE:,}/s {'met' if rate >= 0.99 * TARGET_RATE else 'missed'} "
                          f"({rate / TARGET_RATE:.2f}x), no loss {'met' if lost == 0 else 'missed'}, "
                          f"p99 <= {TARGET_P99_MS:.0f} ms {'met' if p99 <= TARGET_P99_MS else f'missed ({p99 / TARGET_P99_MS:.1f}x)'}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="quotes per second the node side makes")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long it makes them")
    parser.add_argument("--sessions", type=int, default=50, help="dashboard sessions of the second run (the first has 1)")
    parser.add_argument("--redis", choices=("no", "yes", "both"), default="both", help="through the hub, Redis or both")
    parser.add_argument("--rows", choices=("latest", "all"), default="latest", help="rows each batch streams to the chart")
    parser.add_argument("--entry", choices=("data-engine", "bridge"), default="data-engine",
                        help="where quotes enter: the node's data engine (every subscriber, the paper venue's matching "
                             "included, handles each) or the bridge itself (its actor; with Redis the message bus)")
    parser.add_argument("--role", choices=("benchmark", "server", "clients"), default="benchmark", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--hub", help=argparse.SUPPRESS)
    parser.add_argument("--stream-key", help=argparse.SUPPRESS)
    options = parser.parse_args()
    {"benchmark": benchmark, "server": serve_over_pipe, "clients": run_clients}[options.role](options)


if __name__ == "__main__":
    main()
