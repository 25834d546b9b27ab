"""Live events from a node to dashboards: an in-process hub by default, Redis streams across processes."""

from quantdesk.streaming.bridge import BridgeActor, BridgeActorConfig
from quantdesk.streaming.events import event_from_dict, is_order_event, nautilus_event
from quantdesk.streaming.hub import EventHub, Subscription, hub
from quantdesk.streaming.redis import RedisEventSource, RedisStreamWriter, check_redis

__all__ = [
    "BridgeActor",
    "BridgeActorConfig",
    "EventHub",
    "RedisEventSource",
    "RedisStreamWriter",
    "Subscription",
    "check_redis",
    "event_from_dict",
    "hub",
    "is_order_event",
    "nautilus_event",
]
