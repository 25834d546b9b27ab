"""The event hub delivers everything, in order, in coalesced batches; events look the same in-process and via Redis JSON."""

from __future__ import annotations

import threading
import time

import msgspec
import pytest
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.position import Position
from nautilus_trader.serialization.serializer import MsgSpecSerializer
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.test_kit.stubs.data import TestDataStubs
from nautilus_trader.test_kit.stubs.events import TestEventStubs
from nautilus_trader.test_kit.stubs.execution import TestExecStubs

from quantdesk.errors import QuantDeskError
from quantdesk.streaming import EventHub, event_from_dict, is_order_event, nautilus_event
from quantdesk.streaming.hub import hub


def test_every_subscriber_gets_every_event_in_order_in_few_batches() -> None:
    events_hub = EventHub("unit-order")
    fast, slow = [], []
    fast_calls, slow_calls = [], []
    first = events_hub.subscribe(lambda batch: (fast.extend(batch), fast_calls.append(len(batch))), window=0.0)
    second = events_hub.subscribe(lambda batch: (slow.extend(batch), slow_calls.append(len(batch))), window=0.1)
    started = time.monotonic()
    for chunk in range(50):  # 50,000 events over about half a second
        for number in range(chunk * 1_000, (chunk + 1) * 1_000):
            events_hub.publish({"kind": "QuoteTick", "n": number})
        time.sleep(0.01)
    first.flush()
    second.flush()
    elapsed = time.monotonic() - started
    assert [event["n"] for event in fast] == list(range(50_000))
    assert [event["n"] for event in slow] == list(range(50_000))
    # A 100 ms window means at most one call per 100 ms of the run (plus the first and the flush).
    assert len(slow_calls) <= elapsed / 0.1 + 2
    assert len(fast_calls) >= 3 * len(slow_calls)


def test_kinds_filter_and_late_subscribers_start_at_the_present() -> None:
    events_hub = EventHub("unit-kinds")
    early: list[dict] = []
    bars_only = events_hub.subscribe(early.extend, window=0.0, kinds={"Bar"})
    events_hub.publish({"kind": "QuoteTick", "n": 0})
    events_hub.publish({"kind": "Bar", "n": 1})
    bars_only.flush()
    late: list[dict] = []
    later = events_hub.subscribe(late.extend, window=0.0)
    events_hub.publish({"kind": "Bar", "n": 2})
    bars_only.flush()
    later.flush()
    assert [event["n"] for event in early] == [1, 2]
    assert [event["n"] for event in late] == [2]
    assert [event["n"] for event in events_hub.recent(kinds={"Bar"})] == [1, 2]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    events_hub = EventHub("unit-failing")
    received: list[dict] = []

    def broken(batch: list[dict]) -> None:
        raise RuntimeError("dashboard bug")

    failing = events_hub.subscribe(broken, window=0.0)
    healthy = events_hub.subscribe(received.extend, window=0.0)
    for number in range(10):
        events_hub.publish({"kind": "Bar", "n": number})
    healthy.flush()
    failing.flush()
    assert len(received) == 10 and failing.errors >= 1


def test_unsubscribe_stops_delivery_and_publishing_from_threads_keeps_each_threads_order() -> None:
    events_hub = EventHub("unit-threads")
    received: list[dict] = []
    subscription = events_hub.subscribe(received.extend, window=0.01)

    def publisher(name: str) -> None:
        for number in range(5_000):
            events_hub.publish({"kind": "Bar", "source": name, "n": number})

    threads = [threading.Thread(target=publisher, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 10
    while len(received) < 10_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    for name in ("a", "b"):
        assert [e["n"] for e in received if e["source"] == name] == list(range(5_000))
    events_hub.unsubscribe(subscription)
    events_hub.publish({"kind": "Bar", "source": "c", "n": 0})
    time.sleep(0.05)
    assert len(received) == 10_000 and events_hub.subscribers == 0


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(QuantDeskError, match="window -1 is negative"):
        hub("unit-window").subscribe(print, window=-1)


# ---------------------------------------------------------------- event format

SERIALIZER = MsgSpecSerializer(encoding=msgspec.json, timestamps_as_str=True)  # as the node's message bus writes


def through_redis(obj) -> dict:
    return event_from_dict(msgspec.json.decode(SERIALIZER.serialize(obj)))


def test_quotes_and_bars_are_the_same_in_process_and_through_json() -> None:
    instrument = TestInstrumentProvider.equity()
    quote = TestDataStubs.quote_tick(instrument, bid_price=190.5, ask_price=190.52, ts_event=123)
    assert nautilus_event(quote) == through_redis(quote)
    assert nautilus_event(quote) == {"kind": "QuoteTick", "ts_event": 123, "instrument_id": "AAPL.XNAS", "bid": 190.5,
                                     "ask": 190.52, "bid_size": 100_000.0, "ask_size": 100_000.0}
    bar = TestDataStubs.bar_5decimal()
    assert nautilus_event(bar) == through_redis(bar)
    assert nautilus_event(bar)["instrument_id"] == "AUD/USD.SIM" and nautilus_event(bar)["close"] == 1.00003


def test_a_fill_carries_the_trade_history_keys_and_a_numeric_commission() -> None:
    instrument = TestInstrumentProvider.equity()
    order = TestExecStubs.limit_order(instrument=instrument)
    filled = TestEventStubs.order_filled(order, instrument=instrument, last_px=instrument.make_price(190.25))
    event = nautilus_event(filled)
    assert event == through_redis(filled)
    assert is_order_event(event)
    assert event["kind"] == "OrderFilled" and event["client_order_id"] == str(order.client_order_id)
    assert event["data"]["commission"] == float(filled.commission.as_decimal())
    assert event["data"]["currency"] == "USD" and float(event["data"]["last_px"]) == 190.25
    opening = TestEventStubs.order_filled(order, instrument=instrument, position_id=PositionId("P-1"))
    position_event = nautilus_event(TestEventStubs.position_opened(Position(instrument, opening)))
    assert position_event["kind"] == "PositionOpened" and not is_order_event(position_event)


def test_sessions_of_one_hub_share_a_subscription_and_each_batch_is_worked_out_once() -> None:
    from quantdesk.ui.components.live_feed import SessionFeed, per_batch

    name = "fanout-test"
    seen: dict[str, list] = {"a": [], "b": []}
    computed: list[int] = []

    def handler(label: str):
        def handle(batch: list[dict]) -> None:
            seen[label].append(batch)
            per_batch(batch, "count", lambda b: computed.append(len(b)) or len(b))
        return handle

    first = SessionFeed(name, handler("a"), window=0.0, kinds={"QuoteTick"})
    second = SessionFeed(name, handler("b"), window=0.0, kinds={"QuoteTick"})
    assert hub(name).subscribers == 1, "one hub subscription for both sessions"
    for n in range(100):
        hub(name).publish({"kind": "QuoteTick", "ts_event": n})
    hub(name).publish({"kind": "Bar", "ts_event": 100}, urgent=True)
    deadline = time.monotonic() + 5
    while sum(map(len, seen["b"])) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e["ts_event"] for batch in seen["a"] for e in batch] == list(range(100))
    assert all(x is y for x, y in zip(seen["a"], seen["b"], strict=True)), "the same batch objects"
    assert sum(computed) == 100, "each batch worked out once for both sessions"
    first.close()
    assert hub(name).subscribers == 1 and second.active and not first.active
    second.close()
    assert hub(name).subscribers == 0
