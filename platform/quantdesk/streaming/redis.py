"""Live events across processes: a node's message bus writes them to a Redis stream, dashboards read them back.

Publishing goes through the node's own message bus: :class:`RedisStreamWriter` is a bus
listener, so the bus decides what leaves the node (every data and trading event) and
serializes it (Nautilus JSON); the writer appends ``topic`` and ``payload`` to one stream
(``nautilus-streams`` unless configured), the entry layout of Nautilus's Redis backing. It
replaces that backing because the backing's publisher task ends at the first failed write:
after a Redis restart a node would publish nothing more. The writer keeps what it could not
write and retries with backoff, so a restart delays events but loses none (up to
:data:`MAX_BACKLOG`).

:class:`RedisEventSource` is the reading side for processes that are not Nautilus nodes
(Panel servers, notebooks): a thread that follows the stream with ``XREAD``, turns each
entry into the platform's event format and publishes it on an in-process hub, so a
dashboard cannot tell a remote node from a local one. When Redis goes away it retries with
backoff and carries on after the last entry it had read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import msgspec

from quantdesk.errors import QuantDeskError
from quantdesk.streaming.events import event_from_dict
from quantdesk.streaming.hub import hub

log = logging.getLogger(__name__)

DEFAULT_STREAM = "nautilus-streams"
BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
# The stream carries every message bus topic; dashboards need market data and trading events.
# Fills are published twice (events.order.* and events.fills.*): the order topic is kept.
FORWARDED_TOPICS = ("data.quotes.", "data.bars.", "events.order.", "events.position.", "events.account.")
READ_COUNT = 5_000  # entries per XREAD: large enough for 50k events/s at a few reads per second
WRITE_INTERVAL = 0.005  # seconds the writer gathers messages into one pipelined write
WRITE_BATCH = 10_000  # messages per pipelined write at most
MAX_BACKLOG = 2_000_000  # messages kept while Redis is unreachable; beyond this the oldest are dropped (counted)
STREAM_MAXLEN = 1_000_000  # entries Redis keeps (approximately): the stream is a feed, not the archive


def redis_address(url: str) -> tuple[str, int, str | None, str | None, int]:
    """Return host, port, username, password and database number of a ``redis://`` URL.

    Raises
    ------
    QuantDeskError
        For a URL that is not ``redis://HOST:PORT[/DB]``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise QuantDeskError(f"Bad Redis URL {url!r}: write redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0")
    try:
        port = parts.port or 6379
        database = int(parts.path.strip("/") or 0)
    except ValueError:
        raise QuantDeskError(f"Bad Redis URL {url!r}: the port and database must be numbers") from None
    return parts.hostname, port, parts.username, parts.password, database


def check_redis(url: str, timeout: float = 3.0) -> None:
    """Raise a clear error unless a Redis server answers at ``url``."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except redis.RedisError as error:
        raise QuantDeskError(
            f"No Redis server answers at {url} ({error}): start redis-server there, "
            "or unset QUANTDESK_REDIS_URL to keep live events in this process"
        ) from None


class RedisStreamWriter:
    """A node message bus listener that appends every message it is given to one Redis stream.

    Parameters
    ----------
    url : str
        The Redis server, ``redis://HOST:PORT/DB``.
    stream_key : str
        The stream to append to.

    Attributes
    ----------
    written : int
        Messages appended to the stream so far.
    dropped : int
        Messages dropped because Redis stayed away longer than :data:`MAX_BACKLOG` messages.
    connected : bool
        Whether the last write succeeded.
    """

    def __init__(self, url: str, stream_key: str = DEFAULT_STREAM) -> None:
        redis_address(url)
        self.url = url
        self.stream_key = stream_key
        self.written = 0
        self.dropped = 0
        self.connected = False
        self.last_error = ""
        self._backlog: deque[tuple[str, bytes]] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # The two methods Nautilus's MessageBus calls on a listener.

    def is_closed(self) -> bool:  # noqa: D102 - the bus's listener protocol
        return self._closed

    def publish(self, topic: str, payload: bytes) -> None:  # noqa: D102 - the bus's listener protocol
        self._backlog.append((topic, payload))
        if len(self._backlog) > MAX_BACKLOG:
            self._backlog.popleft()
            self.dropped += 1

    @property
    def backlog(self) -> int:
        """Return the messages waiting to be written."""
        return len(self._backlog)

    def start(self) -> RedisStreamWriter:
        """Check that Redis answers (failing fast with a clear message) and start writing."""
        check_redis(self.url)
        self._thread = threading.Thread(target=self._write_loop, name=f"quantdesk-redis-writer-{self.stream_key}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop taking messages."""
        deadline = time.monotonic() + timeout
        while self._backlog and self.connected and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.01)
        if self._backlog:
            log.warning("Redis stream %s: %d messages not written at close (%s)", self.stream_key,
                        len(self._backlog), self.last_error or "timed out")
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _write_loop(self) -> None:
        import redis

        client, attempt = None, 0
        while not self._closed:
            self._wake.wait(WRITE_INTERVAL)
            self._wake.clear()
            while self._backlog and not self._closed:
                batch = [self._backlog[i] for i in range(min(len(self._backlog), WRITE_BATCH))]
                try:
                    if client is None:
                        client = redis.Redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=5.0)
                    pipe = client.pipeline(transaction=False)
                    for topic, payload in batch:
                        pipe.xadd(self.stream_key, {"topic": topic, "payload": payload},
                                  maxlen=STREAM_MAXLEN, approximate=True)
                    pipe.execute()
                except redis.RedisError as error:
                    self.connected, self.last_error = False, str(error)
                    if client is not None:
                        client.close()
                        client = None
                    log.warning("Redis stream %s at %s: %s; %d messages kept, retrying", self.stream_key, self.url,
                                error, len(self._backlog))
                    time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                    attempt += 1
                    continue
                for _ in batch:  # only now: a failed write leaves them queued, in order
                    self._backlog.popleft()
                self.written += len(batch)
                self.connected, attempt = True, 0
        if client is not None:
            client.close()


class RedisEventSource:
    """Follow a node's Redis stream and publish its events on an in-process hub.

    Parameters
    ----------
    url : str
        The Redis server, ``redis://HOST:PORT/0``.
    hub : str
        Name of the in-process hub to publish to.
    stream_key : str
        The node's stream.
    from_start : bool
        Read the stream from its first entry; otherwise only entries added after :meth:`start`.
    """

    def __init__(self, url: str, hub: str = "paper", stream_key: str = DEFAULT_STREAM, from_start: bool = False) -> None:
        redis_address(url)
        self.url = url
        self.hub_name = hub
        self.stream_key = stream_key
        self.last_id = "0-0" if from_start else "$"
        self.received = 0
        self.reconnects = 0
        self.connected = False
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RedisEventSource:
        """Connect (failing fast with a clear message when Redis does not answer) and start following."""
        import redis

        check_redis(self.url)
        if self.last_id == "$":
            # Pin the position now, so entries added between start() and the first read are not skipped.
            client = redis.Redis.from_url(self.url)
            entries = client.xrevrange(self.stream_key, count=1)
            self.last_id = entries[0][0].decode() if entries else "0-0"
            client.close()
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name=f"quantdesk-redis-{self.hub_name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop following and join the reader thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RedisEventSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _follow(self) -> None:
        import redis

        target = hub(self.hub_name)
        attempt = 0
        client = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = redis.Redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=5.0)
                    client.ping()
                    if attempt:
                        self.reconnects += 1
                    self.connected, attempt = True, 0
                replies = client.xread({self.stream_key: self.last_id}, count=READ_COUNT, block=500)
            except redis.RedisError as error:
                self.connected, self.last_error = False, str(error)
                if client is not None:
                    client.close()
                    client = None
                log.warning("Redis stream %s at %s: %s; retrying", self.stream_key, self.url, error)
                self._stop.wait(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                attempt += 1
                continue
            for _stream, entries in replies or ():
                events = [event for event in map(_decode, entries) if event is not None]
                self.last_id = entries[-1][0].decode()
                self.received += len(events)
                target.publish_many(events)
        if client is not None:
            client.close()
        self.connected = False


def _decode(entry: tuple[bytes, dict[bytes, bytes]]) -> dict[str, Any] | None:
    """Return the event of one stream entry (``payload`` is Nautilus's JSON), or None for what dashboards skip."""
    _entry_id, fields = entry
    payload = fields.get(b"payload")
    if not payload or not fields.get(b"topic", b"").decode().startswith(FORWARDED_TOPICS):
        return None
    try:
        # msgspec reads a quote's payload about 5x faster than json.loads: at tens of thousands
        # of entries a second the reader is the dashboard process's busiest thread.
        values = msgspec.json.decode(payload)
    except ValueError:  # msgspec.DecodeError is one
        log.warning("skipping a stream entry that is not JSON: %r", payload[:80])
        return None
    if not isinstance(values, dict) or "type" not in values:
        return None
    return event_from_dict(values)


def wait_for_redis_events(source: RedisEventSource, count: int, timeout: float = 10.0) -> None:
    """Wait until ``source`` has received ``count`` events (for notebooks and tests)."""
    deadline = time.monotonic() + timeout
    while source.received < count:
        if time.monotonic() > deadline:
            raise QuantDeskError(f"Only {source.received} of {count} events arrived from Redis within {timeout:.0f} s")
        time.sleep(0.01)
