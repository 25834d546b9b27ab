"""The Live dashboard: node health, watchlists, a streaming price chart, order entry, orders, fills, positions, account.

Each session builds its own :class:`LiveDashboard`; every session of a server shares the
process's live feed (:func:`~quantdesk.live.service.shared_feed`: the paper node in this
process by default). Market data and trading events reach the session through one
:class:`~quantdesk.ui.components.live_feed.SessionFeed`, in batches, on the session's own
event loop; node snapshots (orders, positions with unrealized P&L, balances) are read again
when trading events arrive and once a second with the health. In Redis mode, where the node
runs in another process, the same tables come from the feed's
:class:`~quantdesk.streaming.blotter.Blotter`, folded once from its events for every session.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import panel as pn
import param

from quantdesk.errors import QuantDeskError
from quantdesk.live.node import NodeHealth
from quantdesk.live.orders import ORDER_TYPES, SIDES, TIMES_IN_FORCE, OrderRequest
from quantdesk.live.service import LiveFeed, shared_feed
from quantdesk.store.watchlists import Watchlists
from quantdesk.streaming.events import MARKET_KINDS
from quantdesk.streaming.hub import Event, hub
from quantdesk.ui.components.background import session_document
from quantdesk.ui.components import interactive_brokers
from quantdesk.ui.components.live_feed import SessionFeed, per_batch
from quantdesk.ui.components.live_views import PriceChart, fill_rows, latest_price_events, quote_rows

FEED_WINDOW = 0.1  # seconds of events per document update: at most ten updates a second per session
HEALTH_PERIOD_MS = 1000
ORDER_COLUMNS = ["client_order_id", "instrument_id", "side", "type", "quantity", "price", "time_in_force", "status",
                 "filled_qty", "avg_px"]
POSITION_COLUMNS = ["instrument_id", "strategy_id", "side", "quantity", "avg_px_open", "realized_pnl", "unrealized_pnl"]
ACCOUNT_COLUMNS = ["venue", "currency", "total", "locked", "free"]
HEALTH_COLOURS = {"running": "success", "starting": "info", "degraded": "warning", "stopped": "secondary",
                  "failed": "danger"}


def _trading_events(batch: list[Event]) -> list[Event]:
    return [e for e in batch if e.get("kind") not in MARKET_KINDS]


def _known_instruments(feed_instruments: list[str]) -> list[str]:
    """Return the instruments a watchlist may hold: the catalog's and the feed's."""
    from quantdesk.catalog import list_instruments, open_catalog

    try:
        catalog = [str(instrument.id) for instrument in list_instruments(open_catalog(None))]
    except QuantDeskError:  # no catalog: the feed's instruments are all there is
        catalog = []
    return sorted({*catalog, *feed_instruments})


class LiveDashboard(pn.viewable.Viewer):
    """Watch the live node and trade through it: health, watchlists, prices, order entry and the blotter.

    Examples
    --------
    >>> LiveDashboard()  # doctest: +SKIP
    >>> LiveDashboard(quantity=50, side="SELL").to_config()  # doctest: +SKIP
    OrderRequest(instrument_id='AAPL.XNAS', side='SELL', quantity=50, ...)
    """

    # -- node health
    state = param.String(default="starting", doc="The node's state: starting, running, degraded, stopped or failed.")
    connections = param.String(default="", doc="Each data and execution client and whether it is connected.")
    last_data_time = param.String(default="", doc="When the node last published market data (UTC).")
    detail = param.String(default="", doc="Why the node is degraded or failed; empty otherwise.")
    # -- chart and watchlists
    instrument = param.Selector(default=None, objects=[], allow_None=True, label="Chart instrument",
                                doc="The instrument the price chart shows (or click its watchlist row).")
    watchlist = param.Selector(default=None, objects=[], allow_None=True, label="Watchlist",
                               doc="The stored watchlist shown; none shows every instrument the node streams.")
    watchlist_instruments = param.ListSelector(default=[], objects=[], label="Instruments",
                                               doc="The instruments of the watchlist being created or edited.")
    watchlist_name = param.String(default="", label="New watchlist name", doc="Name of the watchlist Create makes.")
    create_watchlist = param.Event(label="Create", doc="Store a new watchlist of the chosen instruments.")
    save_watchlist = param.Event(label="Save", doc="Store the chosen instruments as the selected watchlist.")
    delete_watchlist = param.Event(label="Delete", doc="Delete the selected watchlist.")
    watchlist_message = param.String(default="", doc="What the last watchlist action did, or why it failed.")
    quotes = param.DataFrame(default=None, allow_None=True, doc="Watchlist rows: bid, ask, last, change.")
    # -- order entry
    order_instrument = param.Selector(default=None, objects=[], allow_None=True, label="Instrument",
                                      doc="The instrument to trade.")
    side = param.Selector(default="BUY", objects=list(SIDES), doc="Buy or sell.")
    order_type = param.Selector(default="MARKET", objects=list(ORDER_TYPES), label="Order type",
                                doc="MARKET fills at the market; LIMIT rests at the limit price.")
    quantity = param.Number(default=100, label="Quantity", doc="Units to trade (whole shares for equities).")
    limit_price = param.Number(default=None, allow_None=True, label="Limit price",
                               doc="The limit price of a LIMIT order (ignored for MARKET).")
    time_in_force = param.Selector(default="GTC", objects=list(TIMES_IN_FORCE), label="Time in force",
                                   doc="GTC, DAY, IOC or FOK.")
    submit = param.Event(label="Submit order", doc="Check the order and send it through the node's risk engine.")
    order_message = param.String(default="", doc="What happened to the last order.")
    order_error = param.String(default="", doc="Why the last order was refused (bad input, risk denial, rejection).")
    last_order_id = param.String(default="", doc="Client order id of the last order sent.")
    # -- blotter
    working_orders = param.DataFrame(default=None, allow_None=True, doc="Orders still working at the venue.")
    orders = param.DataFrame(default=None, allow_None=True, doc="Every order of the node's session.")
    fills = param.DataFrame(default=None, allow_None=True, doc="Fills, newest first.")
    positions = param.DataFrame(default=None, allow_None=True, doc="Open positions with realized and unrealized P&L.")
    account = param.DataFrame(default=None, allow_None=True, doc="Account balances per venue and currency.")
    # A plain string, not a selector: a select box whose options change under it ping-pongs with the server.
    selected_order = param.String(default="", label="Working order",
                                  doc="Client order id of the working order Cancel cancels (or click its row).")
    cancel = param.Event(label="Cancel order", doc="Cancel the selected working order.")
    # -- Interactive Brokers
    ib_status = param.String(default="", doc="Whether an Interactive Brokers Gateway is configured and answering.")
    ib_search = param.String(default="", label="Search IB contracts", doc="Part of a symbol or company name.")
    run_ib_search = param.Event(label="Search", doc="Search the gateway's contracts.")
    load_ib_account = param.Event(label="Account summary", doc="Read the gateway's account summary.")
    ib_contracts = param.DataFrame(default=None, allow_None=True, doc="Contracts the last search found.")
    ib_account = param.DataFrame(default=None, allow_None=True, doc="The gateway's account summary.")
    # -- where things are
    store_url = param.String(default=None, allow_None=True, precedence=-1,
                             doc="SQL store holding the watchlists; None means the configured store.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._feed: LiveFeed | None = None
        self._latest: dict[str, Event] = {}
        self._first: dict[str, float] = {}
        self._fill_events: list[Event] = []
        self._pending: set[str] = set()
        self._members: list[str] = []
        # Outside a served session batches arrive on the hub's thread: an order's events wait until it is pending.
        self._orders_lock = threading.RLock()
        self.chart = PriceChart()
        try:
            self._feed = shared_feed()
        except QuantDeskError as error:
            self.param.update(state="failed", detail=str(error))
        # Without the node in this process (Redis mode) its orders, positions and balances come from its events.
        self._folded = self._feed.blotter if self._feed is not None else None
        self._instruments = self._feed_instruments()
        self._watchlists = Watchlists(self.store_url, known=_known_instruments(self._instruments))
        self.param.watchlist_instruments.objects = list(self._watchlists.known)  # a copy: the selector may grow it
        self.param.instrument.objects = self._instruments
        self.param.order_instrument.objects = self._instruments
        first = self._instruments[0] if self._instruments else None
        self.param.update(instrument=self.instrument or first, order_instrument=self.order_instrument or first)
        self.ib_status = interactive_brokers.gateway_status()[1]
        self._list_watchlists()
        self._catch_up()
        self.session_feed = SessionFeed(self._feed.hub, self.receive, window=FEED_WINDOW) if self._feed else None
        self.refresh()
        if session_document() is not None:
            pn.state.add_periodic_callback(self.refresh, period=HEALTH_PERIOD_MS)

    # ------------------------------------------------------------------ the feed

    def _feed_instruments(self) -> list[str]:
        feed = self._feed
        if feed is None:
            return []
        if feed.node is not None:
            return sorted(feed.node.instruments)
        return sorted({e["instrument_id"] for e in hub(feed.hub).recent(MARKET_KINDS)})

    def _catch_up(self) -> None:
        """Start from what the hub has kept, so a session opened mid-run shows the run so far."""
        if self._feed is None:
            return
        history = hub(self._feed.hub).recent()
        self.chart.select(self.instrument, history)
        self._take_prices(latest_price_events(history))
        self._fill_events = [e for e in history if e.get("kind") == "OrderFilled"]
        self.fills = fill_rows(self._fill_events)

    def receive(self, batch: list[Event]) -> None:
        """Apply one batch of hub events: chart, watchlist prices, fills, order outcomes, snapshots."""
        self.chart.update(batch)
        self._take_prices(per_batch(batch, "latest prices", latest_price_events))
        trading = per_batch(batch, "trading events", _trading_events)
        if not trading:
            return
        fills = [e for e in trading if e.get("kind") == "OrderFilled"]
        if fills:
            self._fill_events.extend(fills)
            self.fills = fill_rows(self._fill_events)
        with self._orders_lock:
            self._follow_orders(trading)
        self._snapshots()

    def _take_prices(self, latest: dict[str, Event]) -> None:
        if not latest:
            return
        for instrument_id, event in latest.items():
            if instrument_id not in self._first:
                self._first[instrument_id] = event.get("close") or (event["bid"] + event["ask"]) / 2
        self._latest.update(latest)
        self._show_quotes()

    def _show_quotes(self) -> None:
        self.quotes = quote_rows(self._members, self._latest, self._first)

    def _follow_orders(self, events: list[Event]) -> None:
        """Tell the trader what became of the orders this session sent."""
        for event in events:
            order_id = event.get("client_order_id")
            if order_id not in self._pending:
                continue
            kind, data = event["kind"], event.get("data") or {}
            if kind in ("OrderDenied", "OrderRejected"):
                self._pending.discard(order_id)
                who = "the risk engine" if kind == "OrderDenied" else "the venue"
                self.order_error = f"Order {order_id} was {kind[5:].lower()} by {who}: {data.get('reason', 'no reason given')}"
            elif kind == "OrderFilled":
                self.order_message = f"Order {order_id}: filled {data.get('last_qty')} at {data.get('last_px')}"
            elif kind == "OrderAccepted":
                self.order_message = f"Order {order_id} is working at the venue"
            elif kind == "OrderCanceled":
                self._pending.discard(order_id)
                self.order_message = f"Order {order_id} is cancelled"

    # ------------------------------------------------------------------ snapshots

    def refresh(self) -> None:
        """Read the node's health and its orders, positions and balances again (the periodic update)."""
        self._show_health()
        self._snapshots()

    def _show_health(self) -> None:
        if self._feed is None:
            return
        health: NodeHealth = self._feed.health()
        connections = " · ".join(f"{name} {'up' if up else 'down'}" for name, up in health.connections.items())
        last = health.last_event_time.strftime("%Y-%m-%d %H:%M:%S UTC") if health.last_event_time is not None else "none yet"
        self.param.update(state=health.state, connections=connections or "none", last_data_time=last, detail=health.detail)

    def _snapshots(self) -> None:
        node = self._feed.node if self._feed is not None else None
        if self._folded is not None:
            orders, positions, account = self._folded.orders(), self._folded.positions(self._latest), self._folded.account()
        elif node is None or node.health().state in ("stopped", "failed"):
            return
        else:
            try:
                orders, positions, account = node.orders(), node.positions(), node.account()
            except QuantDeskError as error:  # the node stopped between the check and the read
                self.detail = str(error)
                return
        working = orders[orders["is_open"]] if len(orders) else orders
        self.param.update(
            orders=orders[ORDER_COLUMNS].iloc[::-1].reset_index(drop=True),
            working_orders=working[ORDER_COLUMNS].reset_index(drop=True),
            positions=positions[POSITION_COLUMNS].round({"unrealized_pnl": 2, "realized_pnl": 2}),
            account=account[ACCOUNT_COLUMNS],
        )
        ids = list(working["client_order_id"])
        if self.selected_order not in ids:
            self.selected_order = ids[0] if ids else ""

    # ------------------------------------------------------------------ order entry

    def to_config(self) -> OrderRequest:
        """Return the order the Submit button would send (a limit price only for LIMIT orders)."""
        return OrderRequest(
            instrument_id=self.order_instrument or "", side=self.side, quantity=self.quantity,
            order_type=self.order_type, price=self.limit_price if self.order_type == "LIMIT" else None,
            time_in_force=self.time_in_force,
        )

    @param.depends("submit", watch=True)
    def _submit(self) -> None:
        self.param.update(order_error="", order_message="")
        try:
            if self._feed is None:
                raise QuantDeskError(f"No live feed: {self.detail}")
            request = self.to_config()
            node = self._feed.require_node()
            with self._orders_lock:
                order_id = node.submit_order(request)
                self._pending.add(order_id)
                self.param.update(last_order_id=order_id,
                                  order_message=f"Sent {request.side} {request.quantity:g} {request.instrument_id} "
                                                f"{request.order_type}: {order_id}")
        except QuantDeskError as error:
            self.order_error = f"Not sent: {error}"
            return
        self._snapshots()

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        self.param.update(order_error="", order_message="")
        try:
            if not self.selected_order:
                raise QuantDeskError("No working order selected: click a working order's row first")
            if self._feed is None:
                raise QuantDeskError(f"No live feed: {self.detail}")
            node = self._feed.require_node()
            with self._orders_lock:
                node.cancel_order(self.selected_order)
                self._pending.add(self.selected_order)
                self.order_message = f"Cancel sent for {self.selected_order}"
        except QuantDeskError as error:
            self.order_error = f"Not cancelled: {error}"

    # ------------------------------------------------------------------ watchlists

    def _list_watchlists(self, select: str | None = None) -> None:
        names = self._watchlists.names()
        self.param.watchlist.objects = names
        chosen = select if select in names else (self.watchlist if self.watchlist in names else None)
        if chosen == self.watchlist:
            self._open_watchlist()
        else:
            self.watchlist = chosen

    @param.depends("watchlist", watch=True)
    def _open_watchlist(self) -> None:
        # Read once here, not per price update: the rows follow the store only through this dashboard's actions.
        self._members = self._watchlists.get(self.watchlist) if self.watchlist else list(self._instruments)
        self.watchlist_instruments = list(self._members)
        self._show_quotes()

    def _watchlist_action(self, action: str) -> None:
        self.watchlist_message = ""
        try:
            if action == "create":
                name = self.watchlist_name.strip()
                self._watchlists.create(name, self.watchlist_instruments)
                self.watchlist_name = ""
                self._list_watchlists(select=name)
                self.watchlist_message = f"Created watchlist {name!r}"
            elif not self.watchlist:
                raise QuantDeskError(f"No watchlist selected: pick one to {action}, or create one")
            elif action == "save":
                stored = self._watchlists.save(self.watchlist, self.watchlist_instruments)
                self._open_watchlist()
                self.watchlist_message = f"Saved watchlist {self.watchlist!r}: {', '.join(stored) or 'empty'}"
            else:
                name = self.watchlist
                self._watchlists.delete(name)
                self._list_watchlists()
                self.watchlist_message = f"Deleted watchlist {name!r}"
        except QuantDeskError as error:
            self.watchlist_message = f"Not done: {error}"

    @param.depends("create_watchlist", watch=True)
    def _create(self) -> None:
        self._watchlist_action("create")

    @param.depends("save_watchlist", watch=True)
    def _save(self) -> None:
        self._watchlist_action("save")

    @param.depends("delete_watchlist", watch=True)
    def _delete(self) -> None:
        self._watchlist_action("delete")

    @param.depends("instrument", watch=True)
    def _chart_instrument(self) -> None:
        history = hub(self._feed.hub).recent(MARKET_KINDS) if self._feed is not None else []
        self.chart.select(self.instrument, history)

    # ------------------------------------------------------------------ Interactive Brokers

    @param.depends("run_ib_search", watch=True)
    def _search_ib(self) -> None:
        try:
            self.ib_contracts = interactive_brokers.search_contracts(self.ib_search)
            self.ib_status = f"{len(self.ib_contracts)} contracts match {self.ib_search.strip()!r}"
        except QuantDeskError as error:
            self.ib_status = str(error)

    @param.depends("load_ib_account", watch=True)
    def _ib_account(self) -> None:
        try:
            self.ib_account = interactive_brokers.account_summary()
        except QuantDeskError as error:
            self.ib_status = str(error)

    # ------------------------------------------------------------------ views

    @param.depends("state", "connections", "last_data_time", "detail")
    def _health_view(self) -> pn.viewable.Viewable:
        mode = f" · {self._feed.mode}" if self._feed is not None else ""
        text = (f"**Node {self.state}**{mode} · connections: {self.connections or 'none'} · "
                f"last market data: {self.last_data_time or 'none yet'}")
        if self.detail:
            text += f"  \n{self.detail}"
        return pn.pane.Alert(text, alert_type=HEALTH_COLOURS.get(self.state, "secondary"), sizing_mode="stretch_width",
                             name="health")

    @param.depends("order_message", "order_error")
    def _order_status(self) -> pn.viewable.Viewable:
        views: list[Any] = []
        if self.order_message:
            views.append(pn.pane.Markdown(self.order_message, sizing_mode="stretch_width"))
        if self.order_error:
            views.append(pn.pane.Alert(self.order_error, alert_type="danger", sizing_mode="stretch_width"))
        return pn.Column(*views, sizing_mode="stretch_width")

    @param.depends("watchlist")
    def _watchlist_hint(self) -> pn.viewable.Viewable:
        if self.watchlist:
            return pn.Column()
        return pn.pane.Markdown("No watchlist chosen: showing every instrument the node streams. "
                                "Click a row to chart it.", sizing_mode="stretch_width")

    @param.depends("watchlist_message")
    def _watchlist_status(self) -> pn.viewable.Viewable:
        if not self.watchlist_message:
            return pn.Column()
        alert = "danger" if self.watchlist_message.startswith("Not done") else "success"
        return pn.pane.Alert(self.watchlist_message, alert_type=alert, sizing_mode="stretch_width")

    @param.depends("ib_status", "ib_contracts", "ib_account")
    def _ib_view(self) -> pn.viewable.Viewable:
        configured = interactive_brokers.gateway_config() is not None
        views: list[Any] = [pn.pane.Alert(self.ib_status, alert_type="info" if configured else "secondary",
                                          sizing_mode="stretch_width")]
        if configured:
            views.append(pn.Row(pn.widgets.TextInput.from_param(self.param.ib_search),
                                pn.widgets.Button.from_param(self.param.run_ib_search, align="end"),
                                pn.widgets.Button.from_param(self.param.load_ib_account, align="end")))
            for frame in (self.ib_contracts, self.ib_account):
                if frame is not None:
                    views.append(self._table(frame, page_size=10))
        return pn.Column(*views, sizing_mode="stretch_width")

    @staticmethod
    def _table(frame: pd.DataFrame | None, **options: Any) -> pn.widgets.Tabulator:
        return pn.widgets.Tabulator(frame, show_index=False, disabled=True, theme="simple", layout="fit_data_stretch",
                                    sizing_mode="stretch_width", **options)

    def _linked_table(self, parameter: str, **options: Any) -> pn.widgets.Tabulator:
        """Return a table that follows a DataFrame parameter (one value update per change)."""
        table = self._table(getattr(self, parameter), **options)
        self.param.watch(lambda event: setattr(table, "value", event.new), parameter)
        return table

    def _order_form(self) -> pn.viewable.Viewable:
        return pn.Column(
            "#### Order entry",
            pn.Param(self.param, parameters=["order_instrument", "side", "order_type", "quantity", "limit_price",
                                             "time_in_force"], show_name=False,
                     widgets={"side": {"type": pn.widgets.RadioButtonGroup, "color": "primary"},
                              "order_type": {"type": pn.widgets.RadioButtonGroup, "color": "primary"},
                              "quantity": pn.widgets.FloatInput, "limit_price": pn.widgets.FloatInput}),
            pn.widgets.Button.from_param(self.param.submit, color="success"),
            self._order_status,
            sizing_mode="stretch_width",
        )

    def _watchlist_panel(self) -> pn.viewable.Viewable:
        quotes = self._linked_table("quotes", selectable=1, hidden_columns=["time"],
                                    titles={"instrument_id": "Instrument", "change_percent": "Change %"})

        def chart_row(event: Any) -> None:  # a click on a row charts that instrument
            frame = self.quotes
            if event.new and frame is not None and len(frame) > event.new[0]:
                chosen = str(frame["instrument_id"].iloc[event.new[0]])
                if chosen in self.param.instrument.objects:
                    self.instrument = chosen

        quotes.param.watch(chart_row, "selection")
        editor = pn.Column(
            pn.widgets.MultiChoice.from_param(self.param.watchlist_instruments, sizing_mode="stretch_width"),
            pn.Row(pn.widgets.Button.from_param(self.param.save_watchlist),
                   pn.widgets.Button.from_param(self.param.delete_watchlist, color="danger")),
            pn.Row(pn.widgets.TextInput.from_param(self.param.watchlist_name),
                   pn.widgets.Button.from_param(self.param.create_watchlist, color="primary", align="end")),
            self._watchlist_status,
            sizing_mode="stretch_width",
        )
        return pn.Column("#### Watchlist", pn.widgets.Select.from_param(self.param.watchlist), self._watchlist_hint, quotes,
                         pn.Card(editor, title="Edit watchlists", collapsed=True, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")

    def _blotter(self) -> pn.viewable.Viewable:
        working = self._linked_table("working_orders", selectable=1)

        def choose(event: Any) -> None:  # a click on a working order selects it for Cancel
            frame = self.working_orders
            if event.new and frame is not None and len(frame) > event.new[0]:
                self.selected_order = str(frame["client_order_id"].iloc[event.new[0]])

        working.param.watch(choose, "selection")
        cancel_row = pn.Row(pn.widgets.TextInput.from_param(self.param.selected_order, width=320),
                            pn.widgets.Button.from_param(self.param.cancel, color="warning", align="end"))
        return pn.Tabs(
            ("Working orders", pn.Column(working, cancel_row, sizing_mode="stretch_width")),
            ("Fills", self._linked_table("fills", pagination="local", page_size=10)),
            ("Positions", self._linked_table("positions")),
            ("All orders", self._linked_table("orders", pagination="local", page_size=10)),
            ("Account", self._linked_table("account")),
            ("Interactive Brokers", self._ib_view),
            sizing_mode="stretch_width", dynamic=False,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        chart = pn.Column(pn.widgets.Select.from_param(self.param.instrument, width=260),
                          pn.pane.HoloViews(self.chart.view(), sizing_mode="stretch_width", name="price-chart"),
                          sizing_mode="stretch_width")
        # The chart and the blotter take the width; order entry and the watchlist sit in a column beside them.
        main = pn.Column(chart, self._blotter(), sizing_mode="stretch_width")
        side = pn.Column(self._order_form(), self._watchlist_panel(), width=380)
        return pn.Column(self._health_view, pn.Row(main, side, sizing_mode="stretch_width"), sizing_mode="stretch_width")
