"""Catalog bars replayed as a live Nautilus data client, so strategies cannot tell a replay from a live feed.

The client is a real ``LiveMarketDataClient``: the node's data engine receives its bars and
quotes exactly as it would an exchange's, and strategies subscribe as they would live.
Replayed data is stamped with the wall clock when it is published (the sandbox's matching
engine and every dashboard then live in the present); prices and the spacing of bars come
from the catalog. Each bar is preceded by a quote at its close, which is what the sandbox
fills market orders against and what order entry shows as the market.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price, Quantity

from quantdesk.catalog.columns import read_bar_columns
from quantdesk.catalog.queries import bar_types as stored_bar_types
from quantdesk.catalog.queries import load_instrument
from quantdesk.catalog.store import bar_files, open_catalog
from quantdesk.config.dates import utc_bound
from quantdesk.errors import QuantDeskError

REPLAY_CLIENT = "REPLAY"


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True, kw_only=True):
    """Settings of :class:`ReplayDataClient` (see :class:`quantdesk.live.config.ReplayConfig`)."""

    catalog: str
    bar_types: list[str]
    start: str | None = None
    end: str | None = None
    speed: float = 60.0
    loop: bool = True
    spread_ticks: int = 1


@dataclass
class _Track:
    """One bar type's replayed columns and how to turn a row into Nautilus objects."""

    bar_type: BarType
    instrument: Instrument
    times: np.ndarray  # int64 ns, the catalog's bar close times
    prices: np.ndarray  # (bars, 4) open, high, low, close
    volumes: np.ndarray


@dataclass
class ReplayTimeline:
    """All tracks merged into steps: the bars sharing one close time are published together."""

    tracks: list[_Track]
    step_times: np.ndarray  # int64 ns, ascending
    members: list[list[tuple[int, int]]]  # per step: (track, row)
    bar_interval_ns: int

    @property
    def bars(self) -> int:
        return sum(len(track.times) for track in self.tracks)


def load_timeline(catalog: str | Path, bar_types: list[str], start: str | None = None, end: str | None = None) -> ReplayTimeline:
    """Read the bars to replay from the catalog.

    Raises
    ------
    QuantDeskError
        For an unknown instrument or bar type, or a period without bars.
    """
    opened = open_catalog(catalog)
    stored = stored_bar_types(opened)
    bounds = [None if value is None else utc_bound(value, name) for value, name in ((start, "start"), (end, "end"))]
    tracks = []
    for text in bar_types:
        bar_type = BarType.from_str(text)
        instrument = load_instrument(opened, str(bar_type.instrument_id))
        if text not in stored:
            have = ", ".join(b for b in stored if b.startswith(f"{bar_type.instrument_id}-")) or "none"
            raise QuantDeskError(f"No bars {text} in the catalog to replay: bar types for this instrument: {have}")
        frame = read_bar_columns(bar_files(Path(opened.path), text), *bounds)
        if frame.empty:
            raise QuantDeskError(f"No bars {text} between {start} and {end} to replay: widen the period")
        tracks.append(_Track(
            bar_type, instrument, frame.index.asi8.astype("int64"),
            frame[["open", "high", "low", "close"]].to_numpy(), frame["volume"].to_numpy(),
        ))
    every = np.unique(np.concatenate([track.times for track in tracks]))
    members: list[list[tuple[int, int]]] = [[] for _ in every]
    for k, track in enumerate(tracks):
        for row, position in enumerate(np.searchsorted(every, track.times)):
            members[position].append((k, row))
    interval = min(int(track.bar_type.spec.timedelta.total_seconds() * 1e9) for track in tracks)
    return ReplayTimeline(tracks, every, members, interval)


class ReplayDataClient(LiveMarketDataClient):
    """A live market data client that plays catalog bars (and quotes at their closes) at a set speed."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: ReplayDataClientConfig,
    ) -> None:
        self._timeline = load_timeline(config.catalog, config.bar_types, config.start, config.end)
        provider = InstrumentProvider()
        for track in self._timeline.tracks:
            provider.add(track.instrument)
        super().__init__(
            loop=loop,
            client_id=ClientId(REPLAY_CLIENT),
            venue=None,  # instruments of several venues may be replayed together
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=provider,
            config=config,
        )
        self._speed = config.speed
        self._repeat = config.loop
        self._spread_ticks = config.spread_ticks
        self._task: asyncio.Task | None = None
        self.published = 0  # bars published since connect
        self.last_published_ns = 0
        self.laps = 0  # complete passes through the data

    @property
    def timeline(self) -> ReplayTimeline:
        """Return what this client replays."""
        return self._timeline

    async def _connect(self) -> None:
        for track in self._timeline.tracks:
            self._handle_data_py(track.instrument)
        self._task = self.create_task(self._replay(), log_msg="replay")

    async def _disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _replay(self) -> None:
        timeline = self._timeline
        gaps = np.diff(timeline.step_times, prepend=timeline.step_times[0])
        # A night or weekend between bars lasts one bar, not hours of silence.
        delays = np.minimum(gaps, timeline.bar_interval_ns) / 1e9 / self._speed if self._speed > 0 else np.zeros(len(gaps))
        while True:
            started, due = time.monotonic(), 0.0
            for step, members in enumerate(timeline.members):
                due += delays[step]
                wait = started + due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif step % 256 == 0:
                    await asyncio.sleep(0)  # as fast as possible still lets the node's queues drain
                now = self._clock.timestamp_ns()
                for k, row in members:
                    self._publish(timeline.tracks[k], row, now)
            self.laps += 1
            if not self._repeat:
                return

    def _publish(self, track: _Track, row: int, now: int) -> None:
        instrument = track.instrument
        open_, high, low, close = track.prices[row]
        precision = instrument.price_precision
        bid = Price(close, precision)
        ask = Price(close + self._spread_ticks * float(instrument.price_increment), precision)
        size = Quantity(max(track.volumes[row], 1.0), instrument.size_precision)
        self._handle_data_py(QuoteTick(instrument.id, bid, ask, size, size, now, now))
        self._handle_data_py(Bar(
            track.bar_type, Price(open_, precision), Price(high, precision), Price(low, precision), bid,
            Quantity(track.volumes[row], instrument.size_precision), now, now,
        ))
        self.published += 1
        self.last_published_ns = now

    # Subscriptions: the replay publishes everything it holds; a subscription only has to name it.

    def _check_replayed(self, instrument_id) -> None:
        replayed = {track.instrument.id for track in self._timeline.tracks}
        if instrument_id not in replayed:
            self._log.warning(
                f"{instrument_id} is not replayed (replaying {', '.join(map(str, sorted(replayed)))}): no data will arrive"
            )

    async def _subscribe_bars(self, command) -> None:
        self._check_replayed(command.bar_type.instrument_id)

    async def _subscribe_quote_ticks(self, command) -> None:
        self._check_replayed(command.instrument_id)

    async def _subscribe_trade_ticks(self, command) -> None:
        self._check_replayed(command.instrument_id)

    async def _subscribe_instrument(self, command) -> None:
        self._check_replayed(command.instrument_id)

    async def _subscribe_instruments(self, command) -> None:
        pass

    async def _unsubscribe_bars(self, command) -> None:
        pass

    async def _unsubscribe_quote_ticks(self, command) -> None:
        pass

    async def _unsubscribe_trade_ticks(self, command) -> None:
        pass

    async def _unsubscribe_instrument(self, command) -> None:
        pass

    async def _unsubscribe_instruments(self, command) -> None:
        pass


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds the :class:`ReplayDataClient` of a TradingNode."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: ReplayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> ReplayDataClient:
        return ReplayDataClient(loop, msgbus, cache, clock, config)


def replay_period(timeline: ReplayTimeline) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the first and last bar close time replayed."""
    return pd.Timestamp(int(timeline.step_times[0]), tz="UTC"), pd.Timestamp(int(timeline.step_times[-1]), tz="UTC")
