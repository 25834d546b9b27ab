"""Live events across processes: a node's events go to a Redis stream, dashboards read them back.

:class:`RedisStreamWriter` subscribes to the node's in-process hub, which the bridge actor
fills from the message bus with every quote, bar and order, position and account event, in
the platform's event format (:mod:`quantdesk.streaming.events`). Each coalesced batch the hub
delivers (a few milliseconds of events) becomes one stream entry, field ``events``: the
batch as a JSON array. The stream is ``nautilus-streams`` unless configured.

Why not the message bus's own external publishing (Nautilus's Redis backing, or a bus
listener): the bus serializes each message in the node's thread before handing it over
(Nautilus's JSON serializer, about 20 us a quote here), and one stream entry per message
costs a Redis command each; at 50,000 events a second that alone took the node's core, and
the stream carried 17,000 events a second. Here the node does nothing more per event than it
does for in-process dashboards, and the writer's thread encodes a batch in one msgspec call.
(The backing also stops publishing for good at its first failed write.)

The writer keeps what it could not write and retries with backoff, so a Redis restart
delays events but loses none (up to :data:`MAX_BACKLOG` events).

:class:`RedisEventSource` is the reading side for processes that are not Nautilus nodes
(Panel servers, notebooks): a thread that follows the stream with ``XREAD`` and publishes
each entry's events on an in-process hub, so a dashboard cannot tell a remote node from a
local one. When Redis goes away it retries with backoff and carries on after the last entry
it had read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import msgspec

from quantdesk.errors import QuantDeskError
from quantdesk.streaming.hub import Event, hub

log = logging.getLogger(__name__)

DEFAULT_STREAM = "nautilus-streams"
BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
READ_COUNT = 500  # entries per XREAD (each a batch of events): a few reads a second at 50k events/s
WRITE_WINDOW = 0.005  # seconds of hub events per stream entry
WRITE_ENTRIES = 1_000  # entries per pipelined write at most
MAX_BACKLOG = 2_000_000  # events kept while Redis is unreachable; beyond this the oldest batches are dropped (counted)
STREAM_MAXLEN = 100_000  # entries Redis keeps (approximately): the stream is a feed, not the archive


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
    """Append a hub's event batches to one Redis stream, one entry per batch.

    Parameters
    ----------
    url : str
        The Redis server, ``redis://HOST:PORT/DB``.
    stream_key : str
        The stream to append to.

    Attributes
    ----------
    written : int
        Events appended to the stream so far.
    dropped : int
        Events dropped because Redis stayed away longer than :data:`MAX_BACKLOG` events.
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
        self._batches: deque[list[Event]] = deque()
        self._waiting = 0  # events in self._batches
        self._lock = threading.Lock()  # the hub's thread adds batches, the writer's thread removes them
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def take(self, batch: list[Event]) -> None:
        """Queue one batch of events for the stream (a hub subscriber's callback: returns at once)."""
        with self._lock:
            self._batches.append(batch)
            self._waiting += len(batch)
            while self._waiting > MAX_BACKLOG and len(self._batches) > 1:
                dropped = self._batches.popleft()
                self._waiting -= len(dropped)
                self.dropped += len(dropped)
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Return the events waiting to be written."""
        return self._waiting

    def start(self) -> RedisStreamWriter:
        """Check that Redis answers (failing fast with a clear message) and start writing."""
        check_redis(self.url)
        self._thread = threading.Thread(target=self._write_loop, name=f"quantdesk-redis-writer-{self.stream_key}",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop."""
        deadline = time.monotonic() + timeout
        while self._batches and self.connected and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.01)
        if self._batches:
            log.warning("Redis stream %s: %d events not written at close (%s)", self.stream_key, self._waiting,
                        self.last_error or "timed out")
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _write_loop(self) -> None:
        import redis

        encode = msgspec.json.Encoder().encode
        client, attempt = None, 0
        while not self._closed:
            self._wake.wait(1.0)
            self._wake.clear()
            while self._batches and not self._closed:
                with self._lock:
                    batches = [self._batches[i] for i in range(min(len(self._batches), WRITE_ENTRIES))]
                try:
                    if client is None:
                        client = redis.Redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=5.0)
                    pipe = client.pipeline(transaction=False)
                    for batch in batches:
                        pipe.xadd(self.stream_key, {"events": encode(batch)}, maxlen=STREAM_MAXLEN, approximate=True)
                    pipe.execute()
                except redis.RedisError as error:
                    self.connected, self.last_error = False, str(error)
                    if client is not None:
                        client.close()
                        client = None
                    log.warning("Redis stream %s at %s: %s; %d events kept, retrying", self.stream_key, self.url,
                                error, self._waiting)
                    time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                    attempt += 1
                    continue
                with self._lock:  # only now: a failed write leaves them queued, in order
                    for batch in batches:
                        if self._batches and self._batches[0] is batch:  # not dropped meanwhile as overflow
                            self._batches.popleft()
                            self._waiting -= len(batch)
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
                events = [event for entry in entries for event in _decode(entry)]
                self.last_id = entries[-1][0].decode()
                self.received += len(events)
                target.publish_many(events)
        if client is not None:
            client.close()
        self.connected = False


def _decode(entry: tuple[bytes, dict[bytes, bytes]]) -> list[Event]:
    """Return the events of one stream entry (a JSON array of platform events); none for an entry that is not one."""
    _entry_id, fields = entry
    try:
        events = _DECODE(fields.get(b"events") or b"[]")
    except ValueError:  # msgspec.DecodeError is one
        log.warning("skipping a stream entry that is not a JSON array of events: %r", fields)
        return []
    if not isinstance(events, list):
        return []
    return [event for event in events if isinstance(event, dict) and "kind" in event]


# msgspec reads JSON several times faster than json.loads: at tens of thousands of events a second
# the reader is the dashboard process's busiest thread.
_DECODE = msgspec.json.Decoder().decode


def wait_for_redis_events(source: RedisEventSource, count: int, timeout: float = 10.0) -> None:
    """Wait until ``source`` has received ``count`` events (for notebooks and tests)."""
    deadline = time.monotonic() + timeout
    while source.received < count:
        if time.monotonic() > deadline:
            raise QuantDeskError(f"Only {source.received} of {count} events arrived from Redis within {timeout:.0f} s")
        time.sleep(0.01)
