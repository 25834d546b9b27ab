"""A real paper node on a tiny catalog: replayed bars reach strategies and the hub in order, orders fill, rest,
cancel and are denied by the risk engine, bad input is refused, and every order event lands in the trade history."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from quantdesk.catalog.columns import read_bar_columns
from quantdesk.catalog.store import bar_files
from quantdesk.errors import QuantDeskError
from quantdesk.live import InteractiveBrokersConfig, LiveNode, NodeConfig, OrderRequest, ReplayConfig
from quantdesk.store import TradeHistory, apply_fill
from quantdesk.store.trades import NetPosition
from quantdesk.streaming import hub
from quantdesk.testing import free_port, sample_catalog

AAPL = "AAPL.XNAS"
MINUTE = f"{AAPL}-1-MINUTE-LAST-EXTERNAL"


@pytest.fixture(scope="module")
def live_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog of the module's own: the node writes its trade history beside it."""
    return sample_catalog(tmp_path_factory.mktemp("live-catalog"))


@pytest.fixture(scope="module")
def paper(live_catalog: Path):
    """A paper node replaying AAPL minute bars fast, looping, with a notional limit of 100,000 USD per order."""
    config = NodeConfig(
        name="trading-test",
        account_type="CASH",
        replay=ReplayConfig(instrument_ids=[AAPL], speed=3000.0),
        catalog=str(live_catalog),
        max_notional_per_order={AAPL: 100_000},
    )
    events: list[dict] = []
    subscription = hub("trading-test").subscribe(events.extend, window=0.02)
    with LiveNode(config) as node:
        deadline = time.monotonic() + 30
        while node.last_quote(AAPL) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        yield node, events
    hub("trading-test").unsubscribe(subscription)


def catalog_closes(catalog: Path) -> np.ndarray:
    return read_bar_columns(bar_files(catalog, MINUTE))["close"].to_numpy()


def test_replayed_bars_reach_a_strategy_and_the_hub_in_catalog_order(live_catalog: Path) -> None:
    config = NodeConfig(
        name="replay-order",
        replay=ReplayConfig(instrument_ids=[AAPL], speed=0.0, loop=False, end="2024-01-10"),
        catalog=str(live_catalog),
        record_trades=False,
        strategies=[{"strategy": "quantdesk.testing.strategies:BarRecorder", "parameters": {}}],
    )
    bars: list[dict] = []
    subscription = hub("replay-order").subscribe(bars.extend, window=0.01, kinds={"Bar"})
    node = LiveNode(config).start()
    try:
        expected = read_bar_columns(bar_files(live_catalog, MINUTE), None, None)
        expected = expected[expected.index <= "2024-01-10"]["close"].to_numpy()
        assert len(expected) > 1000
        deadline = time.monotonic() + 60
        while node.health().bars < len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.health().bars == len(expected)
        recorder = node.call(lambda: [s for s in node.node.trader.strategies() if hasattr(s, "closes")][0])
        strategy_closes = node.call(lambda: list(recorder.closes))
        subscription.flush()
    finally:
        node.stop()
        hub("replay-order").unsubscribe(subscription)
    np.testing.assert_allclose(strategy_closes, expected)
    np.testing.assert_allclose([bar["close"] for bar in bars], expected)
    times = [bar["ts_event"] for bar in bars]
    assert times == sorted(times), "replayed bars are stamped in publishing order"
    assert {bar["bar_type"] for bar in bars} == {MINUTE}


def test_a_market_order_fills_at_the_ask_and_shows_in_positions_and_the_store(paper, live_catalog: Path) -> None:
    node, events = paper
    order_id = node.submit_order(OrderRequest(AAPL, "BUY", 100))
    status = node.wait_for_order(order_id, until=("FILLED", "DENIED", "REJECTED"))
    assert status["status"] == "FILLED", status
    # The replay quotes bid = bar close and ask = close + one cent; a market buy takes the ask.
    fills = [e for e in events if e["kind"] == "OrderFilled" and e["client_order_id"] == order_id]
    deadline = time.monotonic() + 10
    while not fills and time.monotonic() < deadline:
        time.sleep(0.02)
        fills = [e for e in events if e["kind"] == "OrderFilled" and e["client_order_id"] == order_id]
    fill = fills[0]["data"]
    quotes = [e for e in events if e["kind"] == "QuoteTick" and e["ts_event"] <= fills[0]["ts_event"]]
    assert float(fill["last_px"]) == pytest.approx(quotes[-1]["ask"])
    assert quotes[-1]["ask"] == pytest.approx(quotes[-1]["bid"] + 0.01)
    assert float(fill["last_qty"]) == 100 and fill["order_side"] == "BUY"

    positions = node.positions()
    manual = positions[positions["strategy_id"].str.startswith("OrderEntry")]
    assert manual["quantity"].sum() == 100 + sum(
        q if s == "BUY" else -q for s, q in _manual_fills_before(events, order_id)
    )

    node._recorder.flush()  # the recorder writes in batches; this waits for them
    history = TradeHistory(f"sqlite:///{live_catalog / 'quantdesk.sqlite'}")
    stored = history.fills(strategy_id=fills[0]["strategy_id"])
    row = stored[stored["client_order_id"] == order_id].iloc[0]
    assert row["last_px"] == pytest.approx(float(fill["last_px"])) and row["last_qty"] == 100
    assert row["commission"] == pytest.approx(fill["commission"])
    # The store's average-cost position agrees with the node's own.
    position = NetPosition()
    for side, quantity, price in zip(stored["order_side"], stored["last_qty"], stored["last_px"], strict=True):
        position = apply_fill(position, side, quantity, price)
    assert position.quantity == pytest.approx(float(manual["quantity"].sum()))
    assert position.average_price == pytest.approx(float(manual["avg_px_open"].iloc[0]))
    orders = history.orders()
    assert orders.set_index("client_order_id").loc[order_id, "status"] == "FILLED"


def _manual_fills_before(events: list[dict], order_id: str) -> list[tuple[str, float]]:
    return [(e["data"]["order_side"], float(e["data"]["last_qty"])) for e in events
            if e["kind"] == "OrderFilled" and e["strategy_id"].startswith("OrderEntry") and e["client_order_id"] != order_id]


def test_a_limit_order_below_the_market_rests_until_cancelled(paper, live_catalog: Path) -> None:
    node, _events = paper
    bid, _ask = node.last_quote(AAPL)
    order_id = node.submit_order(OrderRequest(AAPL, "BUY", 10, "LIMIT", price=round(bid * 0.5, 2)))
    assert node.wait_for_order(order_id, until=("ACCEPTED",))["status"] == "ACCEPTED"
    time.sleep(0.3)  # bars keep coming; a resting bid at half the market must not fill
    assert node.order_status(order_id)["status"] == "ACCEPTED"
    working = node.orders()
    assert working.set_index("client_order_id").loc[order_id, "is_open"]
    node.cancel_order(order_id)
    assert node.wait_for_order(order_id, until=("CANCELED",))["status"] == "CANCELED"
    with pytest.raises(QuantDeskError, match="only working orders can be cancelled"):
        node.cancel_order(order_id)
    node._recorder.flush()
    history = TradeHistory(f"sqlite:///{live_catalog / 'quantdesk.sqlite'}")
    kinds = history.order_events()
    assert list(kinds[kinds["client_order_id"] == order_id]["kind"]) == [
        "OrderInitialized", "OrderSubmitted", "OrderAccepted", "OrderPendingCancel", "OrderCanceled"]
    # the stored summary of an order that never filled still has its side and limit price
    stored = history.orders().set_index("client_order_id").loc[order_id]
    assert (stored["status"], stored["side"], stored["order_type"]) == ("CANCELED", "BUY", "LIMIT")
    assert stored["price"] == pytest.approx(round(bid * 0.5, 2)) and stored["filled_quantity"] == 0


def test_an_order_over_the_notional_limit_is_denied_with_the_reason(paper) -> None:
    node, _events = paper
    _bid, ask = node.last_quote(AAPL)
    shares = int(100_000 // ask) + 50  # just over 100,000 USD
    order_id = node.submit_order(OrderRequest(AAPL, "BUY", shares))
    status = node.wait_for_order(order_id, until=("FILLED", "DENIED", "REJECTED"))
    assert status["status"] == "DENIED"
    assert "NOTIONAL" in status["reason"].upper() and "100000" in status["reason"].replace(",", "").replace(".00", "")


def test_a_notional_limit_on_a_margin_account_is_refused_rather_than_ignored() -> None:
    with pytest.raises(QuantDeskError, match="checks notional on CASH accounts only"):
        NodeConfig(replay=ReplayConfig(instrument_ids=[AAPL]), max_notional_per_order={AAPL: 1000}).check()


@pytest.mark.parametrize(
    ("request_fields", "message"),
    [
        ({"instrument_id": AAPL, "side": "BUY", "quantity": 0}, "must be positive"),
        ({"instrument_id": AAPL, "side": "BUY", "quantity": -5}, "must be positive"),
        ({"instrument_id": "NOPE.XNAS", "side": "BUY", "quantity": 1}, "Unknown instrument 'NOPE.XNAS'"),
        ({"instrument_id": AAPL, "side": "BUY", "quantity": 1, "order_type": "LIMIT"}, "needs a price"),
        ({"instrument_id": AAPL, "side": "HOLD", "quantity": 1}, "Unknown side 'HOLD'"),
        ({"instrument_id": AAPL, "side": "BUY", "quantity": 1.5}, "not a multiple"),
        ({"instrument_id": AAPL, "side": "BUY", "quantity": 1, "price": 100.0}, "market order takes no price"),
    ],
)
def test_bad_order_input_is_refused_and_nothing_is_sent(paper, request_fields: dict, message: str) -> None:
    node, _events = paper
    before = len(node.orders())
    with pytest.raises(QuantDeskError, match=message):
        node.submit_order(OrderRequest(**request_fields))
    assert len(node.orders()) == before


def test_health_reports_a_running_node_with_connected_clients(paper) -> None:
    node, _events = paper
    health = node.health()
    assert health.state == "running", health
    assert health.connections == {"REPLAY": True, "XNAS": True}
    assert health.bars > 0 and health.last_event_time is not None


def test_stop_leaves_no_node_threads(live_catalog: Path) -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    config = NodeConfig(name="lifecycle", replay=ReplayConfig(instrument_ids=[AAPL]), catalog=str(live_catalog))
    node = LiveNode(config).start()
    assert node.health().state == "running"
    node.stop()
    assert node.health().state == "stopped"
    left = {t.name for t in threading.enumerate()} - before
    assert not [name for name in left if "node" in name or "trades" in name], left


def test_a_replay_of_an_instrument_without_bars_fails_before_starting(live_catalog: Path) -> None:
    config = NodeConfig(name="nobars", replay=ReplayConfig(instrument_ids=["MSFT.XNAS"]), catalog=str(live_catalog))
    with pytest.raises(QuantDeskError, match="No bars MSFT.XNAS-1-MINUTE-LAST-EXTERNAL in the catalog"):
        LiveNode(config)


def test_ib_mode_without_a_gateway_fails_fast_with_the_address() -> None:
    port = free_port()
    config = NodeConfig(
        name="ib", data="ib", execution="ib",
        ib=InteractiveBrokersConfig(port=port, account_id="DU1234567", instrument_ids=["AAPL.NASDAQ"], connect_timeout=2.0),
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(QuantDeskError, match=f"No Interactive Brokers Gateway answers at 127.0.0.1:{port}"):
        LiveNode(config)
    assert time.monotonic() - started < 10  # fails at the check, not after the adapter's connection timeouts


def test_ib_client_configs_use_the_adapter_with_distinct_client_ids() -> None:
    from quantdesk.live.interactive_brokers import client_configs

    config = NodeConfig(name="ib", data="ib", execution="ib",
                        ib=InteractiveBrokersConfig(account_id="DU1", instrument_ids=["AAPL.NASDAQ"]))
    data, execution = client_configs(config)
    assert data["IB"].ibg_port == 4002 and execution["IB"].ibg_port == 4002
    assert data["IB"].ibg_client_id != execution["IB"].ibg_client_id
    # Something listening that is not a gateway passes the check; the adapter then does the handshake.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        from quantdesk.live.interactive_brokers import check_gateway

        check_gateway(InteractiveBrokersConfig(port=listener.getsockname()[1]))
