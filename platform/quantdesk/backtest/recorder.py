"""Keep a run's orders and closed trades while the engine is configured to forget them.

Two parts of stock Nautilus grow with the number of trades in a long backtest:

* the portfolio analyzer appends every closed trade to a pandas Series with ``pd.concat``
  (quadratic in the number of trades), only to compute statistics that the platform
  computes afterwards, vectorized, from the positions
  (:func:`quantdesk.backtest.statistics.nautilus_statistics`);
* under NETTING, every fill makes the matching engine walk all orders ever sent for the
  instrument's one position id, so a run with thousands of orders spends more and more
  time per fill.

The platform therefore lets the execution engine purge closed orders from its cache every
simulated day (which keeps that walk short) and has this actor hold on to each order as it
closes, so the run's order and fill tables stay complete. Neither changes a single fill:
``tests/integration/test_backtest.py`` compares every fill with a stock engine's.
"""

from __future__ import annotations

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig
from nautilus_trader.model.events import OrderEvent, PositionEvent

# Simulated minutes between purges of closed orders from the engine's cache: one day
# keeps the NETTING walk to a day's orders and costs one timer event per day.
PURGE_INTERVAL_MINUTES = 24 * 60


class RunRecorderConfig(ActorConfig, frozen=True):
    """The recorder takes no parameters; the config exists because Nautilus loads actors by config."""


class RunRecorder(Actor):
    """Hold every order of the run as it closes, and every round trip of every position."""

    def __init__(self, config: RunRecorderConfig | None = None) -> None:
        super().__init__(config or RunRecorderConfig())
        self._closed_orders: dict = {}
        self._positions: dict = {}

    def on_start(self) -> None:
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        self.msgbus.subscribe(topic="events.position.*", handler=self._on_position_event)

    def _on_position_event(self, event: PositionEvent) -> None:
        # A NETTING position that reopens is a new object under the same id, and the old one
        # is never changed again. Position events are dispatched after the fill that caused
        # them, so the object in the cache may already be the next round trip: keep every
        # object seen, by identity, rather than the one an event names.
        position = self.cache.position(event.position_id)
        if position is not None:
            self._positions[id(position)] = position

    def _on_order_event(self, event: OrderEvent) -> None:
        order = self.cache.order(event.client_order_id)
        if order is not None and order.is_closed:
            self._closed_orders[order.client_order_id] = order

    def orders(self) -> list:
        """Return every order of the run: those closed (purged from the cache or not) and those still open."""
        orders = dict(self._closed_orders)
        for order in self.cache.orders():
            orders.setdefault(order.client_order_id, order)
        return list(orders.values())

    def positions(self) -> list:
        """Return every round trip of every position: those closed and those still open."""
        positions = dict(self._positions)
        for position in self.cache.positions():
            positions.setdefault(id(position), position)
        return list(positions.values())


def skip_trade_recording(engine) -> None:
    """Make ``engine``'s portfolio analyzer ignore trades as they close.

    Nautilus has no setting for this. The analyzer is a plain Python object, so its
    ``record_trade`` is replaced on that one instance; the trades it would have kept are
    the run's closed positions, which the platform reads from the cache after the run.
    """
    engine.portfolio.analyzer.record_trade = _ignore_trade


def _ignore_trade(*args, **kwargs) -> None:
    return None
