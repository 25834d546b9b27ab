"""The live feed a dashboard server shares among its sessions: a paper node in this process, or a node's Redis stream.

Embedded default (no ``QUANTDESK_REDIS_URL``): the first session that asks starts the paper
node (:func:`~quantdesk.live.config.paper_node_config` on the configured catalog) in this
process; every later session shares it, and its events reach them through the in-process hub.
With ``QUANTDESK_REDIS_URL`` set, the node runs elsewhere (``quantdesk node run``, started
by ``quantdesk up``) and this process follows its Redis stream into the same hub, so the
dashboards are identical; orders can then only be entered where the node runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from quantdesk.config.settings import settings
from quantdesk.errors import QuantDeskError
from quantdesk.live.config import NodeConfig, paper_node_config
from quantdesk.live.node import LiveNode, NodeHealth
from quantdesk.streaming.blotter import Blotter
from quantdesk.streaming.hub import Subscription, hub

HUB = "live"


@dataclass
class LiveFeed:
    """What a dashboard session needs: the hub to follow and, in-process, the node itself.

    Attributes
    ----------
    hub : str
        The in-process hub carrying the node's events.
    node : LiveNode or None
        The node, when it runs in this process (order entry, snapshots); None in Redis mode.
    source : RedisEventSource or None
        The Redis reader, in Redis mode.
    blotter : Blotter or None
        In Redis mode, the node's orders, positions and balances folded from its events, once
        for every session of the process (in-process they are read from the node).
    mode : str
        ``in-process`` or ``redis``.
    """

    hub: str
    node: LiveNode | None = None
    source: object | None = None
    blotter: Blotter | None = None
    mode: str = "in-process"
    _blotter_subscription: Subscription | None = None

    def health(self) -> NodeHealth:
        """Return the node's health, or the Redis reader's connection state in Redis mode."""
        if self.node is not None:
            return self.node.health()
        source = self.source
        connected = bool(getattr(source, "connected", False))
        return NodeHealth(
            state="running" if connected else "degraded", last_event_time=None,
            connections={"redis": connected},
            detail="" if connected else f"Redis unreachable: {getattr(source, 'last_error', '')}",
        )  # fmt: skip

    def require_node(self) -> LiveNode:
        """Return the in-process node, or explain why orders cannot be entered here."""
        if self.node is None:
            raise QuantDeskError(
                "The node runs in another process (QUANTDESK_REDIS_URL is set): this dashboard follows its "
                "events but cannot enter orders; enter them where the node runs, or unset QUANTDESK_REDIS_URL"
            )
        return self.node


_FEED: LiveFeed | None = None
_LOCK = threading.Lock()


def shared_feed(config: NodeConfig | None = None) -> LiveFeed:
    """Return this process's live feed, starting the paper node (or the Redis reader) on first call.

    Parameters
    ----------
    config : NodeConfig, optional
        The node to run in-process; default the paper node on the configured catalog.

    Raises
    ------
    QuantDeskError
        When the node cannot start (no catalog data to replay) or Redis does not answer.
    """
    global _FEED
    with _LOCK:
        if _FEED is not None and (_FEED.node is None or _FEED.node.health().state != "stopped"):
            return _FEED
        redis_url = settings().redis_url
        if redis_url:
            from quantdesk.streaming import RedisEventSource

            node_config = config or paper_node_config()
            blotter = Blotter()
            subscription = hub(HUB).subscribe(blotter.apply)  # before the reader starts: it sees every event
            try:
                source = RedisEventSource(redis_url, hub=HUB, stream_key=node_config.stream_key).start()
            except QuantDeskError:
                hub(HUB).unsubscribe(subscription)
                raise
            _FEED = LiveFeed(hub=HUB, source=source, blotter=blotter, mode="redis", _blotter_subscription=subscription)
        else:
            node = LiveNode(config or paper_node_config(), hub=HUB).start()
            _FEED = LiveFeed(hub=HUB, node=node)
        return _FEED


def stop_shared_feed() -> None:
    """Stop the shared node or Redis reader (tests, server shutdown)."""
    global _FEED
    with _LOCK:
        feed, _FEED = _FEED, None
    if feed is None:
        return
    if feed.node is not None:
        feed.node.stop()
    if feed.source is not None:
        feed.source.stop()
    if feed._blotter_subscription is not None:
        hub(feed.hub).unsubscribe(feed._blotter_subscription)
    hub(feed.hub).forget_recent()  # the next feed's sessions start from its own node's events
