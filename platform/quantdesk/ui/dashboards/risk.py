"""The Risk dashboard: limit utilization, exposures, VaR/ES and its Basel backtest, alerts, audit log, breaker, limits.

Each session builds its own :class:`RiskDashboard`; every session of a server shares the
process's live feed (:func:`~quantdesk.live.service.shared_feed`: the paper node in this
process by default). The node's risk monitor publishes a ``RiskSnapshot`` event every
``risk_interval`` seconds; they reach the session through one
:class:`~quantdesk.ui.components.live_feed.SessionFeed` in batches, of which the newest
snapshot is drawn and every alert kept. In Redis mode, where the node runs in another process,
the streamed snapshots and the audit trail in the store are shown the same way, and the
dashboard says that limits are edited and the circuit breaker reset where the node runs.
"""

from __future__ import annotations

import io
import json
import tempfile
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

import msgspec
import pandas as pd
import panel as pn
import param

from quantdesk.config.risk import LIMIT_TYPES, SCOPES, LimitConfig
from quantdesk.errors import QuantDeskError
from quantdesk.live.service import LiveFeed, shared_feed
from quantdesk.risk.audit import AuditTrail
from quantdesk.risk.report import (
    LIMIT_COLUMNS, BookHistory, backtest_table, book_history, breach_outlook, limits_table, var_history,
)
from quantdesk.risk.var_backtest import ROLLING_METHODS
from quantdesk.streaming.hub import Event, hub
from quantdesk.ui.components.background import run_in_background, session_document
from quantdesk.ui.components.live_feed import SessionFeed
from quantdesk.ui.components.risk import exposure_chart, utilization_chart, var_history_chart

SNAPSHOT = "RiskSnapshot"
FEED_WINDOW = 0.5  # snapshots come every few seconds: half a second of them per document update is plenty
AUDIT_PERIOD_MS = 10_000
ALERTS_KEPT = 500
AUDIT_SHOWN = 2_000  # newest audit records in the table; the downloads hold every record
EXPOSURE_COLUMNS = ["instrument_id", "sector", "quantity", "price", "exposure"]
NUMBERS = {  # snapshot field -> (label, format)
    "equity": ("Equity (USD)", "{:,.0f}"), "day_pnl": ("Day P&L (USD)", "{:+,.0f}"), "drawdown": ("Drawdown", "{:.2%}"),
    "gross_exposure": ("Gross exposure (USD)", "{:,.0f}"), "net_exposure": ("Net exposure (USD)", "{:,.0f}"),
    "leverage": ("Leverage", "{:.2f}"), "value_at_risk": ("VaR 99% 1-day (USD)", "{:,.0f}"),
    "expected_shortfall": ("ES 99% 1-day (USD)", "{:,.0f}"),
}
ALERT_COLUMNS = ["time", "limit_id", "level", "action", "message"]
AUDIT_COLUMNS = ["sequence", "time", "kind", "actor", "limit_id", "details"]
STATE_COLOURS = {"active": "success", "reducing": "warning", "halted": "danger"}
ELSEWHERE = ("The node runs in another process (QUANTDESK_REDIS_URL is set): this dashboard follows its risk "
             "snapshots and the audit trail. Limits are edited and the circuit breaker is reset where the node runs.")


def _alert_rows(snapshots: list[Event]) -> list[dict[str, Any]]:
    return [{"time": pd.Timestamp(alert["ts_event"], unit="ns", tz="UTC"), **{k: alert[k] for k in ALERT_COLUMNS[1:]}}
            for snapshot in snapshots for alert in snapshot.get("alerts", ())]


def _readable_limits(limits: pd.DataFrame) -> pd.DataFrame:
    """Return the limits table as a person reads it: thousands separators, utilization in percent, blanks."""
    def number(value: Any) -> str:
        if value is None or pd.isna(value):
            return ""
        return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.4g}"

    shown = limits.astype(object).copy()
    for column in ("soft", "hard", "value"):
        shown[column] = limits[column].map(number)
    shown["utilization"] = limits["utilization"].map(lambda u: "" if u is None or pd.isna(u) else f"{100 * u:.1f}%")
    shown["target"] = limits["target"].fillna("")
    return shown


class RiskDashboard(pn.viewable.Viewer):
    """Watch the live node's risk and manage its limits: utilization, exposures, VaR/ES, alerts, audit, breaker.

    Examples
    --------
    >>> RiskDashboard()  # doctest: +SKIP
    >>> RiskDashboard(limit_id="book-gross", hard=3_000_000).to_config()  # doctest: +SKIP
    LimitConfig(limit_id='book-gross', type='gross_exposure', ..., hard=3000000.0, ...)
    """

    # -- what the monitor measured
    snapshot = param.Dict(default=None, allow_None=True, doc="The newest RiskSnapshot of the node's risk monitor.")
    limits = param.DataFrame(default=None, allow_None=True,
                             doc="Every limit with its latest value, utilization (value / hard level) and level.")
    exposures = param.DataFrame(default=None, allow_None=True,
                                doc="Net quantity, price and market value per instrument, with its sector.")
    alerts = param.DataFrame(default=None, allow_None=True, doc="Alerts the monitor raised, newest first.")
    audit = param.DataFrame(default=None, allow_None=True, doc="The risk audit trail, newest first.")
    detail = param.String(default="", doc="Why the dashboard has no live feed; empty when it has one.")
    # -- VaR/ES history
    confidence = param.Selector(default=0.99, objects=[0.95, 0.975, 0.99], label="VaR confidence",
                                doc="Confidence level of the VaR/ES history (Basel: 0.99).")
    method = param.Selector(default="historical", objects=list(ROLLING_METHODS), label="VaR method",
                            doc="Historical simulation or normal (parametric) VaR for the history.")
    window = param.Integer(default=250, bounds=(20, 2520), label="VaR window (days)",
                           doc="Trailing days of P&L behind each day's VaR.")
    recompute = param.Event(label="Recompute VaR history", doc="Measure the VaR history of the current book again.")
    var_source = param.String(default="", doc="What the VaR history measures: the held book, or the flat-book stand-in.")
    var_frame = param.DataFrame(default=None, allow_None=True, doc="One-day-ahead VaR, ES, P&L and exceptions per day.")
    backtest = param.DataFrame(default=None, allow_None=True, doc="Basel backtest of the last 250 days: zone and tests.")
    zone = param.String(default="", doc="Basel traffic-light zone of the VaR history.")
    var_message = param.String(default="", doc="Why the VaR history could not be measured; empty otherwise.")
    # -- breach probabilities
    estimate_breach = param.Event(label="Estimate breach probabilities",
                                  doc="Replay the book's weights through the catalog, train the model, ask it about tomorrow.")
    breach = param.DataFrame(default=None, allow_None=True,
                             doc="Per loss limit: utilization at the latest close, probability of a breach next day, alert.")
    breach_quality = param.String(default="", doc="How the breach model did on the part of the replay it did not see.")
    breach_message = param.String(default="", doc="Why breach probabilities could not be estimated; empty otherwise.")
    breach_running = param.Boolean(default=False, doc="True while breach probabilities are being estimated.")
    # -- circuit breaker and limit changes
    actor = param.String(default="", label="Your name", doc="Who resets the breaker or changes a limit (audited).")
    note = param.String(default="", label="Reset note", doc="Why the circuit breaker is reset (audited).")
    reset = param.Event(label="Reset circuit breaker", doc="Let trading resume after the breaker tripped.")
    breaker_message = param.String(default="", doc="What the last reset did, or why it failed.")
    limit_id = param.String(default="", label="Limit id", doc="The limit to add, change or remove (click a row to load it).")
    limit_type = param.Selector(default="gross_exposure", objects=list(LIMIT_TYPES), label="Type",
                                doc="What the limit measures.")
    scope = param.Selector(default="global", objects=list(SCOPES), label="Scope",
                           doc="Which orders and which slice of the book the limit covers.")
    target = param.String(default="", label="Target", doc="The strategy, instrument or sector of a non-global scope.")
    soft = param.Number(default=None, allow_None=True, label="Soft (warn) level", doc="Warn above this value.")
    hard = param.Number(default=None, allow_None=True, label="Hard (block) level", doc="Block above this value.")
    save = param.Event(label="Save limit", doc="Add the limit, or change the active one with the same id.")
    remove = param.Event(label="Remove limit", doc="Remove the active limit with this id.")
    limit_message = param.String(default="", doc="What the last limit change did, or why it failed.")
    # -- where things are
    store_url = param.String(default=None, allow_None=True, precedence=-1,
                             doc="SQL store of the audit trail; None: the node's own, or the configured store.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._feed: LiveFeed | None = None
        self._alert_rows: list[dict[str, Any]] = []
        self._limits_lock = threading.Lock()
        self._var_key: tuple | None = None
        self._returns: dict[tuple[str, ...], pd.DataFrame] = {}  # daily returns read from the catalog, per book
        self.history: BookHistory | None = None  # the book the VaR history measured
        self.exposures = pd.DataFrame(columns=EXPOSURE_COLUMNS)
        try:
            self._feed = shared_feed()
        except QuantDeskError as error:
            self.detail = str(error)
        node = self._node
        book = node.limits if node is not None else None
        if node is not None and book is None:
            self.detail = (f"Node {node.config.name!r} runs without risk limits: set NodeConfig.risk_limits to a "
                           "limits file to check orders and run the risk monitor")
        self._trail = book.audit if book is not None and book.audit is not None and self.store_url is None else None
        if self._trail is None:
            try:
                self._trail = AuditTrail(self.store_url)
            except QuantDeskError as error:
                self.detail = self.detail or str(error)
        self._take(hub(self._feed.hub).recent([SNAPSHOT]) if self._feed is not None else [])
        if self.snapshot is None:  # no snapshot yet: the limits as declared, the VaR of a flat book
            self._show_limits()
            self._measure_var(())
        self.refresh_audit()
        self.session_feed = (SessionFeed(self._feed.hub, self.receive, window=FEED_WINDOW, kinds=[SNAPSHOT])
                             if self._feed is not None else None)
        if session_document() is not None:
            pn.state.add_periodic_callback(self.refresh_audit, period=AUDIT_PERIOD_MS)

    @property
    def _node(self):
        return self._feed.node if self._feed is not None else None

    # ------------------------------------------------------------------ the feed

    def receive(self, batch: list[Event]) -> None:
        """Apply one batch of ``RiskSnapshot`` events: draw the newest, keep every alert."""
        self._take(batch)

    def _take(self, snapshots: list[Event]) -> None:
        snapshots = [event for event in snapshots if event.get("kind") == SNAPSHOT]
        if not snapshots:
            return
        rows = _alert_rows(snapshots)
        if rows:
            self._alert_rows = (self._alert_rows + rows)[-ALERTS_KEPT:]
            self.alerts = pd.DataFrame(self._alert_rows[::-1], columns=ALERT_COLUMNS)
        self.exposures = pd.DataFrame(list(snapshots[-1]["exposures"]), columns=EXPOSURE_COLUMNS).round({"exposure": 2})
        self.snapshot = snapshots[-1]
        self._show_limits()
        if rows:
            self.refresh_audit()  # the monitor wrote its escalations there
        key = tuple((row["instrument_id"], round(float(row["quantity"]), 6)) for row in self.snapshot["exposures"])
        if key != self._var_key:  # the book changed: its hypothetical P&L changed with it
            self._measure_var(key)

    def _show_limits(self) -> None:
        # Outside a served session snapshots arrive on the hub's thread: read the limits and show them as one
        # step, so a table read before an edit cannot land after the edit's own.
        with self._limits_lock:
            statuses = self.snapshot["limits"] if self.snapshot else []
            node = self._node
            if node is not None and node.limits is not None:
                self.limits = limits_table(node.limits.limits, statuses)
            else:  # only what the snapshots carry: limits measured on the book
                self.limits = pd.DataFrame(list(statuses), columns=LIMIT_COLUMNS)

    # ------------------------------------------------------------------ VaR/ES history

    @param.depends("recompute", "confidence", "method", "window", watch=True)
    def _remeasure(self) -> None:
        self._measure_var(self._var_key)

    def _measure_var(self, key: tuple | None) -> None:
        self._var_key = key
        exposures = {row["instrument_id"]: float(row["exposure"]) for row in (self.snapshot or {}).get("exposures", ())}
        equity = float((self.snapshot or {}).get("equity") or 1_000_000.0)
        catalog = self._node.catalog if self._node is not None else None
        try:
            instruments = tuple(sorted(name for name, value in exposures.items() if value))
            history = book_history(exposures, catalog, flat_value=equity, returns=self._returns.get(instruments))
            self._returns[instruments] = history.returns
            frame, backtest = var_history(history, self.window, self.confidence, self.method)
        except QuantDeskError as error:
            self.param.update(var_message=f"No VaR history: {error}", var_frame=None, backtest=None, zone="")
            return
        self.history = history
        self.param.update(var_message="", var_source=history.source, var_frame=frame, backtest=backtest_table(backtest),
                          zone=backtest.traffic_light.zone)

    # ------------------------------------------------------------------ breach probabilities

    @param.depends("estimate_breach", watch=True)
    def _start_breach(self) -> None:
        self.param.update(breach_running=True, breach_message="")
        if session_document() is None:  # a notebook or a test: the estimate is the cell's work
            self._show_breach(self._estimate_breach())
        else:  # seconds of replays and fits: off the server's loop, so every page it serves stays live
            run_in_background(self._estimate_breach, self._show_breach, name="quantdesk-risk-breach",
                              failed=self._breach_failed)

    def estimate_breach_probabilities(self) -> None:
        """Estimate each loss limit's chance of a breach next day for the book the VaR history measures."""
        self._show_breach(self._estimate_breach())

    def _estimate_breach(self) -> dict[str, Any]:
        try:
            if self.history is None:
                raise QuantDeskError(self.var_message or "the VaR history is not measured yet")
            equity = float((self.snapshot or {}).get("equity") or 1_000_000.0)
            catalog = self._node.catalog if self._node is not None else None
            outlook = breach_outlook(self.history, self._loss_limits(), equity, catalog=catalog)
        except QuantDeskError as error:
            return self._breach_failed(error)
        quality = outlook.evaluation
        return {
            "breach": outlook.probabilities.reset_index(),
            "breach_quality": (
                f"As of the catalog's latest close, {outlook.as_of:%Y-%m-%d}, for the next trading day. Out of sample "
                f"({quality.observations:,} limit-days, {quality.breaches} breaches): precision {quality.precision:.2f}, "
                f"recall {quality.recall:.2f}, ROC AUC {quality.roc_auc:.2f}, base rate {quality.base_rate:.2%}; "
                f"alert at {quality.threshold:.0%}."
            ),
        }

    @staticmethod
    def _breach_failed(error: Exception) -> dict[str, Any]:
        return {"breach": None, "breach_message": f"No breach probabilities: {error}"}

    def _show_breach(self, updates: dict[str, Any]) -> None:
        self.param.update(breach_running=False, **updates)

    def _loss_limits(self) -> list[LimitConfig]:
        """Return the active limits, or in Redis mode those the snapshots describe."""
        node = self._node
        if node is not None and node.limits is not None:
            return node.limits.limits
        return [LimitConfig(limit_id=s["limit_id"], type=s["type"], scope=s["scope"], target=s["target"], soft=s["soft"],
                            hard=s["hard"]) for s in (self.snapshot or {}).get("limits", ())]

    # ------------------------------------------------------------------ audit

    def refresh_audit(self) -> None:
        """Read the newest audit records again (the periodic update, and after every change)."""
        if self._trail is None:
            return
        try:
            records = self._trail.records(newest=AUDIT_SHOWN)
        except QuantDeskError as error:
            self.detail = str(error)
            return
        newest = records.iloc[::-1]
        self.audit = pd.DataFrame({
            "sequence": newest["sequence"].astype("int64"), "time": newest["ts_event"], "kind": newest["kind"],
            "actor": newest["actor"], "limit_id": newest["limit_id"],
            "details": newest["details"].map(lambda details: json.dumps(details, sort_keys=True)),
        }, columns=AUDIT_COLUMNS).reset_index(drop=True)  # fmt: skip

    def _export(self, suffix: str) -> io.BytesIO:
        """Return the whole audit trail as the CSV or JSON file its export writes."""
        with tempfile.TemporaryDirectory(prefix="quantdesk-audit-") as folder:
            path = Path(folder) / f"risk_audit.{suffix}"
            (self._trail.export_csv if suffix == "csv" else self._trail.export_json)(path)
            return io.BytesIO(path.read_bytes())

    # ------------------------------------------------------------------ breaker and limits

    def _require_node(self):
        node = self._node
        if node is None:
            raise QuantDeskError(ELSEWHERE if self._feed is not None else f"No live feed: {self.detail}")
        if node.limits is None:
            raise QuantDeskError(self.detail)
        return node

    @param.depends("reset", watch=True)
    def _reset(self) -> None:
        self.breaker_message = ""
        try:
            self._require_node().reset_circuit_breaker(self.actor, self.note)
        except QuantDeskError as error:
            self.breaker_message = f"Not reset: {error}"
            return
        self.breaker_message = f"Circuit breaker reset by {self.actor.strip()}: trading may resume"
        self.refresh_audit()

    def to_config(self) -> LimitConfig:
        """Return the limit Save would set: the form's fields over the active limit with that id, if any.

        Raises
        ------
        QuantDeskError
            When the form's limit is inconsistent (e.g. soft above hard, a global limit with a target).
        """
        fields = {"limit_id": self.limit_id.strip(), "type": self.limit_type, "scope": self.scope,
                  "target": self.target.strip() or None, "soft": self.soft, "hard": self.hard}
        node = self._node
        current = next((limit for limit in node.limits.limits if limit.limit_id == fields["limit_id"]), None) \
            if node is not None and node.limits is not None else None
        mapping = {**msgspec.to_builtins(current), **fields} if current is not None else fields
        if current is not None and current.type != self.limit_type:  # options of the old type do not carry over
            mapping = {key: value for key, value in mapping.items() if key not in ("window_seconds", "unit", "by",
                                                                                   "minimum_gross")}
        return LimitConfig.from_mapping(mapping, source=f"limit {fields['limit_id']!r}")

    def _change(self, action: str) -> None:
        self.limit_message = ""
        try:
            book = self._require_node().limits
            if action == "save":
                limit = book.set_limit(self.to_config(), self.actor)
                done = f"Saved limit {limit.limit_id!r}: soft {limit.soft}, hard {limit.hard}"
            else:
                limit = book.remove_limit(self.limit_id.strip(), self.actor)
                done = f"Removed limit {limit.limit_id!r}"
        except QuantDeskError as error:
            self.limit_message = f"Not {'saved' if action == 'save' else 'removed'}: {error}"
            return
        self.limit_message = done
        self._show_limits()
        self.refresh_audit()

    @param.depends("save", watch=True)
    def _save(self) -> None:
        self._change("save")

    @param.depends("remove", watch=True)
    def _remove(self) -> None:
        self._change("remove")

    def load_limit(self, limit_id: str) -> None:
        """Fill the form with the active limit ``limit_id`` (what a click on its row does)."""
        node = self._node
        if node is None or node.limits is None:
            return
        try:
            limit = node.limits.get(limit_id)
        except QuantDeskError as error:
            self.limit_message = str(error)
            return
        self.param.update(limit_id=limit.limit_id, limit_type=limit.type, scope=limit.scope, target=limit.target or "",
                          soft=limit.soft, hard=limit.hard, limit_message="")

    # ------------------------------------------------------------------ views

    def status(self) -> tuple[str, str]:
        """Return the line saying whether the breaker tripped and how trading stands, and its alert colour."""
        if self.detail:
            return self.detail, "warning"
        snapshot = self.snapshot
        if snapshot is None:
            return "Waiting for the risk monitor's first snapshot", "info"
        state = snapshot["state"]
        time = pd.Timestamp(snapshot["ts_event"], unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
        if snapshot["breaker_tripped"]:
            text = f"**Circuit breaker tripped** · trading {state} · {snapshot['breaker_reason']}"
        else:
            text = f"**Circuit breaker armed** · trading {state}"
        return f"{text} · snapshot {time}", STATE_COLOURS.get(state, "secondary")

    def _numbers(self) -> dict[str, str]:
        snapshot = self.snapshot or {}
        return {label: "n/a" if snapshot.get(key) is None else template.format(snapshot[key])
                for key, (label, template) in NUMBERS.items()}

    def _live_views(self) -> tuple[pn.viewable.Viewable, ...]:
        """Return the views that follow the snapshots: status, numbers, utilization and exposure charts.

        They are built once and changed in place, so a snapshot every few seconds updates a few
        Bokeh properties instead of replacing models.
        """
        status = pn.pane.Alert("", sizing_mode="stretch_width", name="breaker")
        numbers = {label: pn.indicators.Number(label=label, value=0, format="n/a", font_size="20pt", title_size="10pt")
                   for label, _ in NUMBERS.values()}
        utilization = pn.pane.HoloViews(sizing_mode="stretch_width", name="utilization")
        by_instrument = pn.pane.HoloViews(sizing_mode="stretch_width", name="exposure-instrument")
        by_sector = pn.pane.HoloViews(sizing_mode="stretch_width", name="exposure-sector")

        def redraw(*_: Any) -> None:
            text, colour = self.status()
            status.param.update(object=text, alert_type=colour)
            for label, shown in self._numbers().items():
                numbers[label].format = shown
            statuses = pd.DataFrame(list((self.snapshot or {}).get("limits", ())),
                                    columns=["limit_id", "utilization", "level"])
            utilization.object = utilization_chart(statuses)
            by_instrument.object = exposure_chart(self.exposures, "instrument_id")
            by_sector.object = exposure_chart(self.exposures, "sector")

        redraw()
        self.param.watch(redraw, ["snapshot", "detail"])
        exposures = pn.Column(pn.Row(by_instrument, by_sector, sizing_mode="stretch_width"),
                              self._linked_table("exposures"), sizing_mode="stretch_width")
        return status, pn.FlexBox(*numbers.values(), sizing_mode="stretch_width"), utilization, exposures

    @param.depends("var_frame", "var_message")
    def _var_view(self) -> pn.viewable.Viewable:
        if self.var_message:
            return pn.pane.Alert(self.var_message, alert_type="warning", sizing_mode="stretch_width")
        if self.var_frame is None:
            return pn.indicators.LoadingSpinner(value=True, size=40, name="Measuring the VaR history")
        title = f"VaR/ES history ({self.method}, {self.confidence:.1%}, {self.window} days)"
        light = {"green": "success", "yellow": "warning", "red": "danger"}.get(self.zone, "secondary")
        return pn.Column(
            pn.pane.Markdown(f"{self.var_source}. Each day's VaR uses only the {self.window} days before it; "
                             "red crosses are exceptions (a loss beyond the VaR).", sizing_mode="stretch_width"),
            pn.pane.HoloViews(var_history_chart(self.var_frame, title), sizing_mode="stretch_width", name="var-history"),
            pn.pane.Alert(f"Basel traffic light over the last {self.backtest['value'].iloc[0]} days: **{self.zone}**",
                          alert_type=light, sizing_mode="stretch_width"),
            self._table(self.backtest, sortable=False),
            sizing_mode="stretch_width",
        )

    @param.depends("breach", "breach_quality", "breach_message", "breach_running")
    def _breach_view(self) -> pn.viewable.Viewable:
        views: list[Any] = [
            pn.pane.Markdown(
                "The probability that each daily loss, drawdown and VaR limit reaches its hard level on the next "
                "trading day. The book's weights (the book of the VaR history) are replayed day by day through the "
                "catalog's closes; a class-weighted logistic model learns from the earlier 70% of that replay "
                "(utilization, its trend, days since the last breach, GARCH volatility, regime) and is tested on the rest.",
                sizing_mode="stretch_width"),
            pn.widgets.Button.from_param(self.param.estimate_breach, color="primary", disabled=self.breach_running),
        ]
        if self.breach_running:
            views.append(pn.Row(pn.indicators.LoadingSpinner(value=True, size=30),
                                pn.pane.Markdown("Replaying the book and training the model…")))
        if self.breach_message:
            views.append(pn.pane.Alert(self.breach_message, alert_type="danger", sizing_mode="stretch_width"))
        elif self.breach is not None:
            flagged = list(self.breach.loc[self.breach["alert"], "limit_id"])
            views += [
                pn.pane.Alert(f"Likely to breach: {', '.join(flagged)}" if flagged else "No limit at or above the alert threshold",
                              alert_type="warning" if flagged else "success", sizing_mode="stretch_width"),
                self._table(self.breach, formatters={"utilization": {"type": "money", "precision": 3, "symbol": ""},
                                                     "probability": {"type": "money", "precision": 4, "symbol": ""}}),
                pn.pane.Markdown(self.breach_quality, sizing_mode="stretch_width"),
            ]
        return pn.Column(*views, sizing_mode="stretch_width")

    @param.depends("breaker_message", "limit_message")
    def _messages(self) -> pn.viewable.Viewable:
        views = []
        for message in (self.breaker_message, self.limit_message):
            if message:
                failed = message.startswith("Not ") or message.startswith("No ")
                views.append(pn.pane.Alert(message, alert_type="danger" if failed else "success",
                                           sizing_mode="stretch_width"))
        return pn.Column(*views, sizing_mode="stretch_width")

    @staticmethod
    def _table(frame: pd.DataFrame | None, **options: Any) -> pn.widgets.Tabulator:
        return pn.widgets.Tabulator(frame, show_index=False, disabled=True, theme="simple", layout="fit_data_stretch",
                                    sizing_mode="stretch_width", **options)

    def _linked_table(self, parameter: str, shown: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                      **options: Any) -> pn.widgets.Tabulator:
        """Return a table that follows a DataFrame parameter (one value update per change), through ``shown`` if given."""
        def value(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return frame if frame is None or shown is None else shown(frame)

        table = self._table(value(getattr(self, parameter)), **options)
        self.param.watch(lambda event: setattr(table, "value", value(event.new)), parameter)
        return table

    def _limits_panel(self) -> pn.viewable.Viewable:
        table = self._linked_table("limits", _readable_limits, selectable=1)
        table.param.watch(self._clicked_limit, "selection")
        editable = self._node is not None and self._node.limits is not None
        if not editable:
            return pn.Column(table, pn.pane.Alert(ELSEWHERE if self._node is None else self.detail, alert_type="info",
                                                  sizing_mode="stretch_width"), sizing_mode="stretch_width")
        field = {"width": 220}
        fields = pn.Column(
            pn.Row(pn.widgets.TextInput.from_param(self.param.limit_id, **field),
                   pn.widgets.Select.from_param(self.param.limit_type, **field),
                   pn.widgets.Select.from_param(self.param.scope, **field)),
            pn.Row(pn.widgets.TextInput.from_param(self.param.target, **field),
                   pn.widgets.FloatInput.from_param(self.param.soft, **field),
                   pn.widgets.FloatInput.from_param(self.param.hard, **field)),
        )
        form = pn.Column(
            pn.pane.Markdown("Click a limit to load it, change its levels and save; a new id adds a limit. "
                             "Every change is recorded in the audit trail under your name.", sizing_mode="stretch_width"),
            fields,
            pn.Row(pn.widgets.Button.from_param(self.param.save, color="primary"),
                   pn.widgets.Button.from_param(self.param.remove, color="danger")),
            sizing_mode="stretch_width",
        )
        return pn.Column(table, form, sizing_mode="stretch_width")

    def _clicked_limit(self, event: Any) -> None:
        frame = self.limits
        if event.new and frame is not None and len(frame) > event.new[0]:
            self.load_limit(str(frame["limit_id"].iloc[event.new[0]]))

    def _breaker_panel(self) -> pn.viewable.Viewable:
        if self._node is None or self._node.limits is None:
            return pn.pane.Alert(ELSEWHERE if self._node is None else self.detail, alert_type="info",
                                 sizing_mode="stretch_width")
        return pn.Row(pn.widgets.TextInput.from_param(self.param.note, width=320),
                      pn.widgets.Button.from_param(self.param.reset, color="warning", align="end"))

    def _audit_panel(self) -> pn.viewable.Viewable:
        downloads = pn.Row(
            pn.widgets.FileDownload(callback=lambda: self._export("csv"), filename="risk_audit.csv",
                                    label="Download CSV", color="primary", embed=False, width=160),
            pn.widgets.FileDownload(callback=lambda: self._export("json"), filename="risk_audit.json",
                                    label="Download JSON", color="primary", embed=False, width=160),
        ) if self._trail is not None else pn.Row()
        return pn.Column(downloads, self._linked_table("audit", pagination="local", page_size=15),
                         sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        var_controls = pn.Row(pn.widgets.Select.from_param(self.param.confidence, width=140),
                              pn.widgets.Select.from_param(self.param.method, width=160),
                              pn.widgets.IntInput.from_param(self.param.window, width=160),
                              pn.widgets.Button.from_param(self.param.recompute, align="end"))
        status, numbers, utilization, exposures = self._live_views()
        tabs = pn.Tabs(
            ("Limits", self._limits_panel()),
            ("Exposures", exposures),
            ("VaR/ES history", pn.Column(var_controls, self._var_view, sizing_mode="stretch_width")),
            ("Alerts", self._linked_table("alerts", pagination="local", page_size=15)),
            ("Breach probabilities", self._breach_view),
            ("Audit log", self._audit_panel()),
            sizing_mode="stretch_width", dynamic=False,
        )
        return pn.Column(
            status,
            pn.Row(pn.widgets.TextInput.from_param(self.param.actor, width=260), self._breaker_panel(),
                   sizing_mode="stretch_width"),
            self._messages, numbers, utilization, tabs, sizing_mode="stretch_width",
        )
