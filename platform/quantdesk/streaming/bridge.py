"""The Nautilus actor that carries a node's market data and trading events to the in-process hub.

It subscribes like any strategy (quotes and bars of the node's instruments) and listens on
the message bus topics every order, position and account event is published on, so it sees
the events of every strategy, the order-entry form's included, in the order the node
produced them. Each one becomes a plain event (:mod:`quantdesk.streaming.events`) on the
hub named in its config, which feeds dashboards and the trade history in this process.
With a Redis URL the hub also hands every event to a Redis stream writer for other
processes (:mod:`quantdesk.streaming.redis`).
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig, ImportableActorConfig
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.identifiers import InstrumentId

from quantdesk.streaming.events import bar_event, event_from_dict, quote_event
from quantdesk.streaming.hub import hub

# Message bus topics of trading events (Nautilus publishes them per strategy / account).
EVENT_TOPICS = ("events.order.*", "events.position.*", "events.account.*")


class BridgeActorConfig(ActorConfig, frozen=True, kw_only=True):
    """Settings of :class:`BridgeActor`.

    Parameters
    ----------
    hub : str
        Name of the in-process hub to publish to.
    instrument_ids : list[str]
        Instruments whose quotes are streamed.
    bar_types : list[str]
        Bar types streamed.
    """

    hub: str = "paper"
    instrument_ids: list[str] = []
    bar_types: list[str] = []

    @classmethod
    def importable(cls, **fields: Any) -> ImportableActorConfig:
        """Return the config as a TradingNode takes it (by import path)."""
        return ImportableActorConfig(
            actor_path=f"{BridgeActor.__module__}:{BridgeActor.__name__}",
            config_path=f"{cls.__module__}:{cls.__name__}",
            config=fields,
        )


class BridgeActor(Actor):
    """Publish a node's quotes, bars and order/position/account events to an in-process hub."""

    def __init__(self, config: BridgeActorConfig) -> None:
        super().__init__(config)
        self._hub = hub(config.hub)
        self._instrument_ids = [InstrumentId.from_str(value) for value in config.instrument_ids]
        self._bar_types = [BarType.from_str(value) for value in config.bar_types]

    def on_start(self) -> None:
        for instrument_id in self._instrument_ids:
            self.subscribe_quote_ticks(instrument_id)
        for bar_type in self._bar_types:
            self.subscribe_bars(bar_type)
        for topic in EVENT_TOPICS:
            self.msgbus.subscribe(topic=topic, handler=self._on_trading_event)

    def on_stop(self) -> None:
        for topic in EVENT_TOPICS:
            self.msgbus.unsubscribe(topic=topic, handler=self._on_trading_event)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self._hub.publish(quote_event(tick))

    def on_bar(self, bar: Bar) -> None:
        self._hub.publish(bar_event(bar))

    def _on_trading_event(self, event: Any) -> None:
        self._hub.publish(event_from_dict(type(event).to_dict(event)), urgent=True)
