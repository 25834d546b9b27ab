"""The Factor dashboard: launch factor runs on Dask, rank the factors, and look into one of them."""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd
import panel as pn
import param
import yaml

from quantdesk.catalog import catalog_root, list_instruments, open_catalog
from quantdesk.catalog.instruments import is_tradeable
from quantdesk.compute import dashboard_link
from quantdesk.config import FactorRunConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.pipeline import factors_root, list_factor_runs, open_factor_run, run_factors
from quantdesk.factors.regimes import score_by_regime
from quantdesk.factors.registry import get_factor, registry
from quantdesk.factors.scoring import factor_correlation
from quantdesk.ui.components import correlation_heatmap, decay_chart, ic_chart, quantile_returns_chart, regime_chart
from quantdesk.ui.components.background import on_session, run_in_background, session_document

HORIZONS = [1, 2, 3, 5, 10, 21, 42, 63, 126, 252]
DEFAULT_FACTORS = "momentum:\n  window: [5, 21]\nvolatility:\n  window: [21]"
# Leaderboard columns, in the order shown (those a run lacks are skipped).
LEADERBOARD_COLUMNS = ["rank", "factor", "direction", "rank_ic_mean", "rank_ic_ir", "rank_ic_tstat_nw", "ic_mean",
                       "ic_ir", "spread_mean", "turnover", "coverage"]


def tradeable_instruments(catalog: str | None) -> list[str]:
    """Return the ids of the catalog's instruments that can be traded (index levels are left out)."""
    return [str(instrument.id) for instrument in list_instruments(open_catalog(catalog)) if is_tradeable(instrument)]


def run_label(row: pd.Series) -> str:
    """Return a short label of a stored factor run for a selector."""
    scored = "scored" if row["scored"] else "not scored"
    return f"{row['run_id'][:12]} · {row['factors']} factors × {row['assets']} assets · {scored} · {row['universe']}"


class FactorDashboard(pn.viewable.Viewer):
    """Launch a factor run on Dask, rank its factors, and look into one factor's scores.

    Every click runs a frozen :class:`~quantdesk.config.FactorRunConfig`; :meth:`to_config`
    returns it, so a run from the dashboard can be repeated in a notebook or a job.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog root; None means the configured one.")
    universe = param.ListSelector(default=[], objects=[], check_on_set=False,
                                  doc="Instruments whose bars feed the factors (scores need at least 5).")
    start = param.String(default="2005-01-01", doc="First day (ISO 8601).")
    end = param.String(default="2012-12-31", doc="Last day (ISO 8601), included.")
    families = param.ListSelector(default=[], objects=sorted({f.family for f in registry().values()}),
                                  doc="Factor families to compute, every factor on its default grid.")
    factors = param.String(default=DEFAULT_FACTORS,
                           doc="More factors (YAML): `name: {parameter: [values]}`, or `name:` for the default grid.")
    horizons = param.ListSelector(default=[1, 5, 21], objects=HORIZONS, doc="Forward-return horizons, in bars.")
    quantiles = param.Integer(default=5, bounds=(2, 100), doc="Buckets of the quantile portfolios.")
    run = param.Event(label="Run", doc="Compute and score the configured factors on Dask.")
    cancel = param.Event(label="Cancel", doc="Stop the running job; finished blocks are kept and a rerun resumes.")
    running = param.Boolean(default=False, constant=True, doc="Whether a job is running.")
    done = param.Integer(default=0, doc="Factor blocks finished in the current job.")
    total = param.Integer(default=0, doc="Factor blocks in the current job.")
    message = param.String(default="", doc="What happened last, in a sentence.")
    error = param.String(default="", doc="The last problem, shown as an alert (empty: none).")
    client = param.Parameter(default=None, precedence=-1, doc="Dask client to run on; None means the platform's.")
    run_id = param.Selector(default=None, objects=[], label="Stored run", doc="Stored factor run to explore.")
    result = param.Parameter(default=None, precedence=-1, doc="The factor run shown (a FactorRun).")
    factor = param.Selector(default=None, objects=[], doc="Factor to look into (or click its leaderboard row).")
    horizon = param.Selector(default=None, objects=[], doc="Forward-return horizon the charts use, in bars.")
    rolling_window = param.Integer(default=63, bounds=(1, 1000), doc="Dates in the rolling mean of the IC chart.")
    top = param.Integer(default=15, bounds=(2, 100), doc="Factors in the correlation heatmap (the top of the leaderboard).")
    regime = param.Selector(default="volatility", objects=["volatility", "trend"],
                            doc="Market regimes the per-regime scores split by.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._stop = threading.Event()
        self._document: Any = None  # the Bokeh document of a served session, whose loop applies a job's updates
        self._correlations: dict[tuple[str, tuple[str, ...]], Any] = {}
        try:
            choices = tradeable_instruments(self.catalog)
        except QuantDeskError as error:
            choices, self.error = [], str(error)
        self._instruments = list(choices)  # the selector adds unknown ids to its objects; this list does not
        self.param.universe.objects = choices
        if not self.universe:
            self.universe = list(choices)
        self._list_runs()

    def _list_runs(self) -> None:
        try:
            runs = list_factor_runs(self.catalog)
        except QuantDeskError as error:
            self.error = str(error)
            return
        self.param.run_id.objects = {run_label(run): run["run_id"] for _, run in runs.iterrows()}
        if self.run_id is None and len(runs):
            scored = runs[runs["scored"]]
            self.run_id = (scored if len(scored) else runs)["run_id"].iloc[-1]

    # -- the config a click runs -------------------------------------------------------------
    def _factor_selection(self) -> dict[str, Any]:
        try:
            extra = yaml.safe_load(self.factors or "") or {}
        except yaml.YAMLError as error:
            raise QuantDeskError(f"The factors are not valid YAML ({error}): write one `name: {{window: [5, 21]}}` per line") from None
        if not isinstance(extra, dict):
            raise QuantDeskError("The factors must be a mapping: one `name: {parameter: [values]}` (or `name:`) per line")
        selection: dict[str, Any] = {name: None for name, item in registry().items() if item.family in self.families}
        for name, grid in extra.items():
            if grid is not None and not isinstance(grid, dict):
                raise QuantDeskError(f"Factor {name!r}: give a grid such as {{window: [5, 21]}}, or nothing for its default")
            grid = {key: value if isinstance(value, list) else [value] for key, value in (grid or {}).items()} or None
            get_factor(str(name)).variants(grid)  # name an unknown factor or parameter now, in the preview
            selection[str(name)] = grid
        if not selection:
            raise QuantDeskError("No factors chosen: pick a family or name factors in the YAML box")
        return selection

    def to_config(self) -> FactorRunConfig:
        """Return the frozen config the Run button would run (checked, so bad input raises here)."""
        universe = list(self.universe or [])
        if not universe:
            raise QuantDeskError("The universe is empty: choose instruments (scores need at least 5)")
        known = self._instruments
        unknown = [name for name in universe if name not in known]
        if unknown:
            raise QuantDeskError(f"Not in the catalog: {', '.join(unknown)}; choose from {', '.join(known) or 'nothing'} "
                                 "(run `quantdesk catalog show` to list what is there)")
        return FactorRunConfig.from_mapping(
            {"universe": universe, "start": self.start or None, "end": self.end or None,
             "factors": self._factor_selection(), "horizons": sorted(int(h) for h in self.horizons),
             "quantiles": self.quantiles},
            source="factor run",
        )

    # -- running ----------------------------------------------------------------------------
    @param.depends("run", watch=True)
    def _start(self) -> None:
        if self.running:
            return
        try:
            config = self.to_config()
        except QuantDeskError as error:
            self.param.update(message=f"Not started: {error}", error=f"Not started: {error}")
            return
        self._stop.clear()
        with param.edit_constant(self):
            self.running = True
        self.param.update(done=0, total=0, error="", message=f"Running factor run {config.id[:12]} on Dask ...")
        self._document = session_document()  # before the thread starts: its progress is applied on this session
        run_in_background(lambda: self._work(config), self._finish, name="quantdesk-factors")

    def _progress(self, done: int, total: int) -> None:
        on_session(self._document, lambda: self.param.update(done=done, total=total))

    def _work(self, config: FactorRunConfig) -> dict[str, Any]:
        run = run_factors(config, catalog=self.catalog, client=self.client, progress=self._progress, stop=self._stop)
        factors, assets = run.values.sizes["factor"], run.values.sizes["asset"]
        if not run.complete:
            message = f"Stopped factor run {config.id[:12]} before every block was written: run again to resume"
        else:
            message = f"Finished factor run {config.id[:12]}: {factors} factors × {assets} assets"
            message += "" if run.scores is not None else " (not scored: see the problems)"
        return {"message": message, "run": run}

    def _finish(self, updates: dict[str, Any]) -> None:
        run = updates.pop("run", None)
        try:
            if run is not None:
                self._list_runs()
                self.param.update(run_id=run.path.name, **updates)
                self.result = run  # the returned run even when run_id did not change
            else:
                self.param.update(**updates)
        finally:
            with param.edit_constant(self):
                self.running = False

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        if self.running:
            self._stop.set()
            self.message = "Cancelling: finished blocks are kept ..."

    # -- the run shown ----------------------------------------------------------------------
    @param.depends("run_id", watch=True)
    def _open(self) -> None:
        if not self.run_id:
            return
        try:
            self.result = open_factor_run(factors_root(catalog_root(self.catalog)) / self.run_id)
        except QuantDeskError as error:
            self.error = str(error)

    @param.depends("result", watch=True, on_init=True)
    def _update_choices(self) -> None:
        run = self.result
        if run is None:
            return
        ranked = list(run.leaderboard.index) if run.leaderboard is not None else list(map(str, run.values["factor"].values))
        horizons = [int(h) for h in run.config.horizons]
        self.param.factor.objects = ranked
        self.param.horizon.objects = horizons
        self.param.update(factor=ranked[0] if self.factor not in ranked and ranked else self.factor,
                          horizon=horizons[0] if self.horizon not in horizons else self.horizon)

    def leaderboard_frame(self) -> pd.DataFrame:
        """Return the shown run's leaderboard as a table (factor as a column, numbers rounded)."""
        run = self.result
        if run is None or run.leaderboard is None:
            return pd.DataFrame(columns=LEADERBOARD_COLUMNS)
        table = run.leaderboard.reset_index()
        decay = [c for c in table.columns if c.startswith("rank_ic_mean_")]
        table = table[[c for c in LEADERBOARD_COLUMNS if c in table] + decay + ["problem"]]
        return table.round(4)

    def correlation(self) -> Any:
        """Return the rank correlation of the top :attr:`top` factors of the shown run (cached per run)."""
        run = self.result
        labels = tuple(self.param.factor.objects[: self.top])
        key = (str(run.path), labels)
        if key not in self._correlations:
            self._correlations[key] = factor_correlation(run.values.sel(factor=list(labels)))
        return self._correlations[key]

    def regime_scores(self) -> pd.DataFrame:
        """Return every factor's rank-IC statistics per regime of :attr:`regime`, at :attr:`horizon`."""
        run = self.result
        return score_by_regime(run.scores, run.regimes[self.regime], horizon=self.horizon)

    # -- views ------------------------------------------------------------------------------
    @param.depends("done", "total", "running")
    def _progress_view(self) -> pn.viewable.Viewable:
        value = int(100 * self.done / self.total) if self.total else 0
        return pn.indicators.Progress(value=value, max=100, active=self.running and not self.total,
                                      bar_color="primary", sizing_mode="stretch_width", name="progress")

    @param.depends("done", "total", "message", "error")
    def _status(self) -> pn.viewable.Viewable:
        counts = f"{self.done} of {self.total} factor blocks · " if self.total else ""
        dask = dashboard_link()
        link = f" · [Dask dashboard]({dask})" if dask else ""
        views: list[Any] = [pn.pane.Markdown(f"{counts}{self.message}{link}", sizing_mode="stretch_width")]
        if self.error:
            views.append(pn.pane.Alert(self.error, alert_type="danger", sizing_mode="stretch_width"))
        return pn.Column(*views, sizing_mode="stretch_width")

    @param.depends("universe", "start", "end", "families", "factors", "horizons", "quantiles")
    def _config_view(self) -> pn.viewable.Viewable:
        try:
            text = json.dumps(json.loads(self.to_config().json()), indent=2)
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning", sizing_mode="stretch_width")
        return pn.pane.Markdown(f"```json\n{text}\n```", sizing_mode="stretch_width")

    @param.depends("result")
    def _leaderboard(self) -> pn.viewable.Viewable:
        run = self.result
        if run is None:
            return pn.pane.Markdown("Configure a factor run and press **Run**, or pick a stored run; the leaderboard appears here.")
        views: list[Any] = [pn.pane.Markdown(
            f"#### Run {run.path.name[:12]}: {run.values.sizes['factor']} factors × {run.values.sizes['asset']} assets × "
            f"{run.values.sizes['time']} bars ({run.config.start or 'start'} to {run.config.end or 'end'})"
        )]
        if run.problems:
            shown = "\n".join(f"- {problem}" for problem in run.problems[:10])
            more = f"\n- ... and {len(run.problems) - 10} more" if len(run.problems) > 10 else ""
            views.append(pn.pane.Alert(f"**Left out or noted**\n\n{shown}{more}", alert_type="warning",
                                       sizing_mode="stretch_width"))
        if run.leaderboard is None:
            views.append(pn.pane.Alert("This run is not scored: see the notes above.", alert_type="info"))
            return pn.Column(*views, sizing_mode="stretch_width")
        frame = self.leaderboard_frame()
        table = pn.widgets.Tabulator(frame, show_index=False, disabled=True, selectable=1, pagination="local",
                                     page_size=15, theme="simple", layout="fit_data_stretch", sizing_mode="stretch_width",
                                     )

        def choose(event: Any) -> None:  # a click on a row picks that factor
            if event.new:
                self.factor = str(frame["factor"].iloc[event.new[0]])

        table.param.watch(choose, "selection")
        views += ["Click a row to look into that factor; click a column header to sort.", table]
        return pn.Column(*views, sizing_mode="stretch_width")

    @param.depends("result", "factor", "horizon", "rolling_window")
    def _factor_view(self) -> pn.viewable.Viewable:
        run = self.result
        if run is None or run.scores is None or self.factor is None or self.horizon is None:
            return pn.Column()
        scores = run.scores.sel(factor=self.factor)
        ic = scores["rank_ic"].sel(horizon=self.horizon).to_series()
        quantile = scores["quantile_return"].sel(horizon=self.horizon).to_series()
        decay = scores["rank_ic_mean"].to_series()
        row = run.leaderboard.loc[self.factor]
        numbers = pd.DataFrame({
            "value": [row["rank_ic_mean"], row["rank_ic_ir"], row["rank_ic_tstat_nw"], row["spread_mean"],
                      row["turnover"], row["coverage"]],
        }, index=["mean rank IC", "rank IC IR", "rank IC t (Newey-West)", "top-minus-bottom return",
                  "turnover (top quantile, per date)", "coverage (share of cells with a value)"]).round(4)
        return pn.Column(
            f"### {self.factor} at {self.horizon} bars",
            pn.pane.HoloViews(ic_chart(ic, self.rolling_window, title=f"Rank IC over time, {self.horizon}-bar horizon"),
                              sizing_mode="stretch_width"),
            pn.Row(pn.pane.HoloViews(quantile_returns_chart(quantile, self.horizon), sizing_mode="stretch_width"),
                   pn.pane.HoloViews(decay_chart(decay), sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.widgets.Tabulator(numbers, disabled=True, theme="simple", layout="fit_data_stretch"),
            sizing_mode="stretch_width",
        )

    @param.depends("result", "top")
    def _correlation_view(self) -> pn.viewable.Viewable:
        run = self.result
        if run is None or run.scores is None or len(self.param.factor.objects) < 2:
            return pn.Column()
        try:
            heatmap = correlation_heatmap(self.correlation(),
                                          title=f"Rank correlation of the top {min(self.top, len(self.param.factor.objects))} factors")
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning")
        return pn.pane.HoloViews(heatmap, sizing_mode="stretch_width")

    @param.depends("result", "factor", "horizon", "regime")
    def _regime_view(self) -> pn.viewable.Viewable:
        run = self.result
        if run is None or run.scores is None or run.regimes is None or self.factor is None:
            return pn.Column()
        try:
            table = self.regime_scores()
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning")
        mine = table.loc[self.factor]
        regimes = list(dict.fromkeys(table.index.get_level_values("regime")))  # low → high, not alphabetical
        wide = table["mean"].unstack("regime").reindex(index=self.param.factor.objects, columns=regimes)
        wide = wide.round(4).reset_index()
        return pn.Column(
            pn.pane.HoloViews(regime_chart(mine, title=f"{self.factor}: mean rank IC by {self.regime} regime"),
                              sizing_mode="stretch_width"),
            f"Mean rank IC at {self.horizon} bars by {self.regime} regime, every factor:",
            pn.widgets.Tabulator(wide, show_index=False, disabled=True, theme="simple", pagination="local", page_size=10,
                                 layout="fit_data_stretch", sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Column(
            pn.Param(self.param, parameters=["universe", "start", "end", "families", "factors", "horizons", "quantiles"],
                     show_name=False, sizing_mode="stretch_width",
                     widgets={"universe": pn.widgets.MultiChoice, "families": pn.widgets.MultiChoice,
                              "horizons": pn.widgets.MultiChoice,
                              "factors": {"type": pn.widgets.TextAreaInput, "height": 110}}),
            pn.Row(pn.widgets.Button.from_param(self.param.run, button_type="success"),
                   pn.widgets.Button.from_param(self.param.cancel, button_type="warning")),
            self._progress_view,
            self._status,
            pn.Card(self._config_view, title="Config (to_config())", collapsed=True, sizing_mode="stretch_width"),
            width=380,
        )
        explore = pn.Row(
            pn.widgets.Select.from_param(self.param.factor),
            pn.widgets.Select.from_param(self.param.horizon),
            pn.widgets.IntInput.from_param(self.param.rolling_window, name="Rolling window"),
            sizing_mode="stretch_width",
        )
        tabs = pn.Tabs(
            ("Factor", pn.Column(explore, self._factor_view, sizing_mode="stretch_width")),
            ("Correlation", pn.Column(pn.widgets.IntInput.from_param(self.param.top, name="Top factors"),
                                      self._correlation_view, sizing_mode="stretch_width")),
            ("Regimes", pn.Column(pn.widgets.RadioButtonGroup.from_param(self.param.regime, button_type="primary"),
                                  self._regime_view, sizing_mode="stretch_width")),
            sizing_mode="stretch_width",
        )
        main = pn.Column(pn.widgets.Select.from_param(self.param.run_id, sizing_mode="stretch_width"),
                         self._leaderboard, tabs, sizing_mode="stretch_width")
        return pn.Row(controls, main, sizing_mode="stretch_width")

