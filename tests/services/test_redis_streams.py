"""Redis mode across processes: `quantdesk node run` publishes through its message bus to a real redis-server,
a reader in this process receives the events, and carries on after Redis restarts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.streaming import RedisEventSource, hub
from quantdesk.streaming.redis import RedisStreamWriter, check_redis
from quantdesk.testing import free_port, sample_catalog, subprocess_env

AAPL = "AAPL.XNAS"


def wait_until(condition, timeout: float, what: str, process_alive: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process_alive is not None and process_alive.poll() is not None:
            raise AssertionError(f"the node process exited ({process_alive.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture()
def node_process(tmp_path: Path, redis_service):
    """A paper node in its own process (`quantdesk node run`), publishing to the session's Redis."""
    catalog = sample_catalog(tmp_path / "catalog")
    config = tmp_path / "node.json"
    config.write_text(json.dumps({
        "name": "remote", "catalog": str(catalog), "redis_url": redis_service.url, "stream_key": "test-stream",
        "replay": {"instrument_ids": [AAPL], "speed": 600.0},
    }))  # fmt: skip
    log = (tmp_path / "node.log").open("w+")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("quantdesk")), "node", "run", str(config), "--status-every", "1"],
        env=subprocess_env(QUANTDESK_CATALOG=str(catalog)), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process, log
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_events_from_a_node_process_reach_a_reader_here_and_survive_a_redis_restart(node_process, redis_service) -> None:
    process, log = node_process
    bars: list[dict] = []
    subscription = hub("redis-reader").subscribe(bars.extend, window=0.02, kinds={"Bar"})
    source = RedisEventSource(redis_service.url, hub="redis-reader", stream_key="test-stream").start()
    try:
        wait_until(lambda: len(bars) >= 20, 90, "bars from the node process through Redis", process)
        log.seek(0)
        assert "events to Redis stream 'test-stream'" in log.read()
        closes = [bar["close"] for bar in bars]
        assert all(isinstance(close, float) and close > 0 for close in closes)
        times = [bar["ts_event"] for bar in bars]
        assert times == sorted(times), "events arrive in the order the node published them"

        redis_service.restart()
        wait_until(lambda: source.reconnects >= 1, 30, "the reader to reconnect")
        after = len(bars)
        wait_until(lambda: len(bars) >= after + 20, 60, "bars published after the restart", process)
        assert source.connected
        assert process.poll() is None, "the node keeps running while Redis restarts"
    finally:
        source.stop()
        hub("redis-reader").unsubscribe(subscription)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    log.seek(0)
    output = log.read()
    assert "node 'remote': running" in output and "node 'remote' stopped" in output


def test_a_reader_pointed_at_no_server_fails_fast_naming_the_address() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(QuantDeskError, match=f"No Redis server answers at {url}"):
        RedisEventSource(url).start()
    with pytest.raises(QuantDeskError, match="No Redis server answers"):
        check_redis(url, timeout=1.0)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis://", "redis://host:port/0"])
def test_bad_redis_urls_are_refused_with_the_form_to_use(url: str) -> None:
    with pytest.raises(QuantDeskError, match="Bad Redis URL"):
        RedisStreamWriter(url)
    with pytest.raises(QuantDeskError, match="Bad Redis URL"):
        RedisEventSource(url)


def test_the_writer_keeps_batches_while_redis_is_down_and_writes_them_in_order_after(redis_service) -> None:
    from quantdesk.streaming.redis import _decode

    import redis

    writer = RedisStreamWriter(redis_service.url, "writer-test").start()
    try:
        redis_service.stop()
        for first in range(0, 500, 50):  # ten hub batches of fifty quotes
            writer.take([{"kind": "QuoteTick", "ts_event": n, "instrument_id": AAPL, "bid": float(n)}
                         for n in range(first, first + 50)])
        time.sleep(0.5)
        assert writer.backlog == 500 and writer.written == 0
        redis_service.start()
        wait_until(lambda: writer.backlog == 0, 30, "the backlog to be written")
        entries = redis.Redis.from_url(redis_service.url).xrange("writer-test")
        assert len(entries) == 10, "one stream entry per hub batch"
        assert [event["ts_event"] for entry in entries for event in _decode(entry)] == list(range(500))
        assert writer.connected and writer.dropped == 0 and writer.written == 500
    finally:
        writer.close()


def test_a_reader_elsewhere_folds_the_same_orders_positions_and_balances_as_the_node_holds(tmp_path: Path, redis_service) -> None:
    """The Blotter of Redis-mode dashboards against the node's own cache, the reference, after real orders."""
    from quantdesk.live import LiveNode, NodeConfig, OrderRequest, ReplayConfig
    from quantdesk.streaming.blotter import Blotter

    catalog = sample_catalog(tmp_path / "catalog")
    config = NodeConfig(name="folded", catalog=str(catalog), account_type="CASH", redis_url=redis_service.url,
                        stream_key="blotter-stream", replay=ReplayConfig(instrument_ids=[AAPL], speed=600.0))
    blotter, quotes = Blotter(), {}

    def take(batch: list[dict]) -> None:
        blotter.apply(batch)
        quotes.update({e["instrument_id"]: e for e in batch if e["kind"] == "QuoteTick"})

    subscription = hub("blotter-reader").subscribe(take, window=0.01)
    source = RedisEventSource(redis_service.url, hub="blotter-reader", stream_key="blotter-stream").start()
    try:
        with LiveNode(config) as node:
            wait_until(lambda: node.last_quote(AAPL) is not None and AAPL in quotes, 60, "quotes through Redis")
            for side, quantity in (("BUY", 100), ("BUY", 50), ("SELL", 30)):
                order_id = node.submit_order(OrderRequest(AAPL, side, quantity))
                assert node.wait_for_order(order_id, until=("FILLED",))["status"] == "FILLED"
            bid, _ask = node.last_quote(AAPL)
            resting = node.submit_order(OrderRequest(AAPL, "BUY", 10, order_type="LIMIT", price=round(bid * 0.5, 2)))
            node.wait_for_order(resting, until=("ACCEPTED",))

            def same_orders() -> bool:
                mine, theirs = blotter.orders(), node.orders()
                return len(mine) == len(theirs) and set(mine["status"]) == set(theirs["status"])

            wait_until(same_orders, 30, "the order events through Redis")
            columns = ["client_order_id", "instrument_id", "side", "type", "quantity", "price", "status", "filled_qty",
                       "avg_px", "is_open"]
            mine = blotter.orders().set_index("client_order_id").sort_index()
            theirs = node.orders().set_index("client_order_id").sort_index()
            for column in columns[1:]:
                left, right = mine[column].tolist(), theirs[column].tolist()
                if column in ("quantity", "price", "filled_qty", "avg_px"):
                    assert left == pytest.approx(right, nan_ok=True), column
                else:
                    assert left == right, column
            assert mine.loc[resting, "status"] == "ACCEPTED" and mine.loc[resting, "is_open"]

            wait_until(lambda: len(blotter.positions()) == 1 and blotter.positions()["quantity"].iloc[0] == 120, 30,
                       "the position events through Redis")
            position, reference = blotter.positions(quotes).iloc[0], node.positions().iloc[0]
            assert position["side"] == reference["side"] == "LONG"
            assert position["avg_px_open"] == pytest.approx(reference["avg_px_open"])
            assert position["realized_pnl"] == pytest.approx(reference["realized_pnl"], abs=0.005)
            # valued at the bid, as the node values a long position (the reader's quote may be a tick behind)
            assert position["unrealized_pnl"] == pytest.approx((quotes[AAPL]["bid"] - position["avg_px_open"]) * 120)

            wait_until(lambda: blotter.account()["total"].tolist() == pytest.approx(node.account()["total"].tolist()),
                       30, "the latest account state through Redis")
            assert blotter.account()[["venue", "currency"]].values.tolist() == node.account()[["venue", "currency"]].values.tolist()

            node.cancel_order(resting)
            node.wait_for_order(resting, until=("CANCELED",))
            order_id = node.submit_order(OrderRequest(AAPL, "SELL", 120))
            node.wait_for_order(order_id, until=("FILLED",))
            wait_until(lambda: blotter.positions().empty, 30, "the closing position event through Redis")
            assert node.positions().empty
            wait_until(lambda: not blotter.orders()["is_open"].any(), 30, "the cancel through Redis")
    finally:
        source.stop()
        hub("blotter-reader").unsubscribe(subscription)
