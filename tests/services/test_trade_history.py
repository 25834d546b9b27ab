"""The trade history on both stores: a SQLite file and a real PostgreSQL server started by the tests.

Positions are checked against a hand computation of the average-cost method; replays are
stored once; a bad event is named and leaves the batch unstored; an unreachable server says
where it looked and what to do.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.store import NetPosition, TradeHistory, apply_fill, close_engines
from quantdesk.testing import free_port

BASE = 1_700_000_000_000_000_000


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> TradeHistory:
    if request.param == "sqlite":
        return TradeHistory(f"sqlite:///{tmp_path / 'store.sqlite'}")
    url = request.getfixturevalue("postgres_url")
    # Each test starts from empty tables on the shared server.
    from sqlalchemy import text

    store = TradeHistory(url)
    with store._engine.begin() as connection:
        connection.execute(text("TRUNCATE order_events, fills"))
    return store


def order_event(kind: str, order: str, seconds: int, **data) -> dict:
    return {"event_id": str(uuid.uuid4()), "kind": kind, "ts_event": BASE + seconds * 10**9, "trader_id": "PAPER-001",
            "strategy_id": "OrderEntry-MANUAL", "instrument_id": "AAPL.XNAS", "client_order_id": order, "data": data}


def fill(order: str, seconds: int, side: str, quantity: float, price: float) -> dict:
    return order_event("OrderFilled", order, seconds, trade_id=f"T-{order}-{seconds}", order_side=side,
                       last_qty=quantity, last_px=price, commission=0.01 * quantity, currency="USD",
                       venue_order_id=f"V-{order}")


def test_positions_follow_the_average_cost_method_as_computed_by_hand(history: TradeHistory) -> None:
    events = [
        order_event("OrderInitialized", "O-1", 0, side="BUY", order_type="MARKET", quantity="100", time_in_force="GTC"),
        fill("O-1", 1, "BUY", 100, 10.0),
        fill("O-2", 2, "BUY", 50, 13.0),  # average (100*10 + 50*13) / 150 = 11
        fill("O-3", 3, "SELL", 120, 12.0),  # realizes (12 - 11) * 120 = 120, 30 left at 11
        fill("O-4", 4, "SELL", 50, 9.0),  # realizes (9 - 11) * 30 = -60, then short 20 at 9
    ]
    assert history.record(events) == 5
    position = history.positions().iloc[0]
    assert position["net_quantity"] == -20
    assert position["average_price"] == pytest.approx(9.0)
    assert position["realized_pnl"] == pytest.approx(120 - 60)
    # The same walk through the public helper, one fill at a time.
    walked = NetPosition()
    for side, quantity, price in [("BUY", 100, 10.0), ("BUY", 50, 13.0), ("SELL", 120, 12.0), ("SELL", 50, 9.0)]:
        walked = apply_fill(walked, side, quantity, price)
    assert (walked.quantity, walked.average_price) == (-20, 9.0)
    fills = history.fills()
    assert list(fills["client_order_id"]) == ["O-1", "O-2", "O-3", "O-4"]
    assert fills["commission"].sum() == pytest.approx(0.01 * 320)


def test_a_replayed_batch_is_stored_once(history: TradeHistory) -> None:
    batch = [order_event("OrderInitialized", "O-9", 0, quantity="10"), fill("O-9", 1, "BUY", 10, 5.0)]
    assert history.record(batch) == 2
    assert history.record(batch) == 0
    assert len(history.order_events()) == 2 and len(history.fills()) == 1


def test_order_status_follows_the_events_in_arrival_order(history: TradeHistory) -> None:
    # A paper venue stamps its events with the market data clock: the fill's ts_event is earlier.
    history.record([
        order_event("OrderInitialized", "O-5", 10, side="BUY", order_type="LIMIT", quantity="10", price="99.5"),
        order_event("OrderSubmitted", "O-5", 5),
        order_event("OrderAccepted", "O-5", 5),
        fill("O-5", 5, "BUY", 4, 99.5),
        order_event("OrderPendingCancel", "O-5", 11),
        order_event("OrderCanceled", "O-5", 11, reason="cancelled by trader"),
    ])  # fmt: skip
    order = history.orders().set_index("client_order_id").loc["O-5"]
    assert order["status"] == "CANCELED"
    assert order["filled_quantity"] == 4 and order["average_fill_price"] == pytest.approx(99.5)
    assert order["quantity"] == 10 and order["price"] == pytest.approx(99.5)
    assert order["reason"] == "cancelled by trader"


def test_a_bad_event_is_named_and_nothing_of_its_batch_is_stored(history: TradeHistory) -> None:
    good = fill("O-7", 1, "BUY", 10, 5.0)
    bad = fill("O-8", 2, "BUY", -3, 5.0)
    with pytest.raises(QuantDeskError, match=rf"Order event '{bad['event_id']}' has last_qty=-3"):
        history.record([good, bad])
    assert history.fills().empty
    missing = {key: value for key, value in good.items() if key != "client_order_id"}
    with pytest.raises(QuantDeskError, match="has no 'client_order_id'"):
        history.record([missing])


def test_time_bounds_filter_on_event_time(history: TradeHistory) -> None:
    history.record([fill("O-1", 1, "BUY", 1, 1.0), fill("O-2", 100, "BUY", 1, 1.0)])
    kept = history.fills(start="2023-11-14 22:13:30")  # BASE is 2023-11-14 22:13:20 UTC
    assert list(kept["client_order_id"]) == ["O-2"]
    with pytest.raises(QuantDeskError, match="start='yesterday-ish' is not a time"):
        history.fills(start="yesterday-ish")


def test_an_unreachable_postgresql_server_is_reported_with_its_address() -> None:
    port = free_port()
    url = f"postgresql://trader:secret@127.0.0.1:{port}/quantdesk"
    try:
        with pytest.raises(QuantDeskError, match=rf"Cannot reach the store database .*127.0.0.1:{port}.*start the PostgreSQL"):
            TradeHistory(url)
    finally:
        close_engines(url)
    with pytest.raises(QuantDeskError) as raised:
        TradeHistory(url)
    assert "secret" not in str(raised.value), "passwords stay out of messages"


def test_an_unsupported_store_url_says_which_forms_work() -> None:
    with pytest.raises(QuantDeskError, match="use sqlite:///PATH or postgresql://"):
        TradeHistory("mysql://user@host/db")


def test_the_node_writes_its_trade_history_to_postgresql_when_configured(postgres_url, tmp_path, monkeypatch) -> None:
    from quantdesk.live import LiveNode, NodeConfig, OrderRequest, ReplayConfig
    from quantdesk.testing import sample_catalog

    catalog = sample_catalog(tmp_path / "catalog")
    monkeypatch.setenv("QUANTDESK_STORE_URL", postgres_url)
    config = NodeConfig(name="pg-node", replay=ReplayConfig(instrument_ids=["AAPL.XNAS"], speed=600.0),
                        catalog=str(catalog))
    with LiveNode(config) as node:
        import time

        deadline = time.monotonic() + 30
        while node.last_quote("AAPL.XNAS") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        order_id = node.submit_order(OrderRequest("AAPL.XNAS", "SELL", 7))
        status = node.wait_for_order(order_id, until=("FILLED", "DENIED", "REJECTED"))
    assert status["status"] == "FILLED"
    stored = TradeHistory(postgres_url).fills()
    row = stored[stored["client_order_id"] == order_id].iloc[0]
    assert (row["order_side"], row["last_qty"]) == ("SELL", 7)
    assert row["last_px"] == pytest.approx(status["avg_px"])
    assert not math.isnan(row["commission"])
    assert not (catalog / "quantdesk.sqlite").exists(), "the configured store is used, not the SQLite default"
