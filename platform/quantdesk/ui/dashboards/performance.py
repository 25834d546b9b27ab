"""The Performance dashboard: pick a stored backtest run and see how it did."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from quantdesk.backtest import list_runs, load_result
from quantdesk.backtest.results import BacktestResult
from quantdesk.catalog.store import catalog_root
from quantdesk.errors import QuantDeskError
from quantdesk.ui.components import equity_and_drawdown, monthly_returns_heatmap, statistics_table, trades_table


def run_label(run: pd.Series) -> str:
    """Return how a stored run is named in the picker: what it traded, when, and its id prefix."""
    start = str(run["start"] or "")[:10]
    end = str(run["end"] or "")[:10]
    return f"{run['strategy']} · {run['instruments']} · {run['bar_spec']} · {start} → {end} · {run['run_id'][:8]}"


class PerformanceDashboard(pn.viewable.Viewer):
    """Equity, drawdown, monthly returns, statistics and trades of one stored backtest run.

    Examples
    --------
    >>> PerformanceDashboard(run_id=result.run_id)  # doctest: +SKIP
    """

    catalog = param.String(
        default=None, allow_None=True,
        doc="Catalog root holding the stored runs; None means QUANTDESK_CATALOG or <repo>/catalog.",
    )
    run_id = param.Selector(
        default=None, objects=[], allow_None=True, label="Run",
        doc="The stored run to show (its id; a unique prefix is accepted at construction).",
    )
    refresh = param.Event(
        label="Refresh runs",
        doc="Read the list of stored runs again (new runs appear without reloading the page).",
    )

    def __init__(self, **params: object) -> None:
        requested = params.pop("run_id", None)
        super().__init__(**params)
        self._problem: str | None = None
        self._list_runs()
        if requested is None and pn.state.location is not None:
            # Served: a link such as ./performance?run_id=<id> (from the Backtest dashboard) opens that run.
            requested = pn.state.location.query_params.get("run_id")
        if requested:
            self._select(str(requested))

    @property
    def root(self):
        """Return the catalog root the runs are read from."""
        return catalog_root(self.catalog)

    @param.depends("refresh", watch=True)
    def _list_runs(self) -> None:
        try:
            runs = list_runs(self.root)
        except QuantDeskError as error:
            runs, self._problem = pd.DataFrame(columns=["run_id"]), str(error)
        else:
            self._problem = None if len(runs) else (
                f"No stored backtest runs in {self.root}: run one with `quantdesk backtest run SPEC`, "
                "the quickstart notebook, or `make up` (which stores a demo run)."
            )
        choices = {run_label(run): run["run_id"] for _, run in runs.iterrows()}
        current = self.run_id if self.run_id in choices.values() else None
        self.param.run_id.objects = choices
        self.run_id = current or next(iter(choices.values()), None)

    def _select(self, requested: str) -> None:
        matches = [run_id for run_id in self.param.run_id.objects if run_id.startswith(requested)]
        if len(matches) == 1:
            self.run_id = matches[0]
        else:
            what = "matches no stored run" if not matches else f"matches {len(matches)} runs"
            self._problem = f"Run id {requested!r} {what} in {self.root}: pick one from the list."
            self.run_id = None

    def _result(self) -> BacktestResult | None:
        return load_result(self.root, self.run_id) if self.run_id else None

    @param.depends("run_id")
    def _content(self) -> pn.viewable.Viewable:
        try:
            result = self._result()
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="danger")
        if result is None:
            return pn.pane.Alert(self._problem or "Pick a run.", alert_type="warning")
        spec = result.spec
        heading = pn.pane.Markdown(
            f"### {spec.strategy.rsplit(':', 1)[-1]} on {', '.join(spec.instrument_ids)} ({spec.bar_spec})\n"
            f"Run `{result.run_id[:12]}` · parameters `{dict(spec.parameters)}` · "
            f"starting capital {spec.starting_capital:,.0f} {spec.currency}",
            sizing_mode="stretch_width",
        )
        charts = pn.Column(
            pn.pane.HoloViews(equity_and_drawdown(result.equity), sizing_mode="stretch_width"),
            pn.pane.HoloViews(monthly_returns_heatmap(result.equity), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            heading,
            pn.Row(
                pn.Column("#### Statistics", statistics_table(result.summary), width=340),
                charts,
                sizing_mode="stretch_width",
            ),
            f"#### Trades ({len(result.positions)} positions)",
            trades_table(result.positions),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Row(
            pn.widgets.Select.from_param(self.param.run_id, sizing_mode="stretch_width"),
            pn.widgets.Button.from_param(self.param.refresh, width=130, align="end"),
            sizing_mode="stretch_width",
        )
        return pn.Column(controls, self._content, sizing_mode="stretch_width")
