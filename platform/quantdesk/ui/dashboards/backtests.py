"""The Backtest dashboard: configure and launch sweeps and walk-forwards on Dask, watch them, explore the results."""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd
import panel as pn
import param
import yaml

from quantdesk.backtest import (
    MonteCarloResult,
    WalkForwardResult,
    list_runs,
    run_monte_carlo,
    run_sweep,
    run_walk_forward,
)
from quantdesk.backtest.objectives import BUILT_IN
from quantdesk.backtest.sweep import COLUMNS, check_parameters
from quantdesk.catalog import catalog_root, list_instruments, open_catalog
from quantdesk.catalog.instruments import is_tradeable
from quantdesk.catalog.queries import bar_types
from quantdesk.compute import dashboard_link
from quantdesk.config import BacktestSpec, MonteCarloConfig, SweepConfig, WalkForwardConfig
from quantdesk.errors import QuantDeskError
from quantdesk.ui.components import distribution, fan_chart, objective_heatmap, walk_forward_chart
from quantdesk.ui.dashboards.performance import run_label

MODES = ["sweep", "walk-forward", "monte-carlo"]


def tradeable_bar_types(catalog: str | None) -> list[str]:
    """Return the catalog's bar types of instruments that can be traded (not index levels)."""
    parquet = open_catalog(catalog)
    tradeable = {str(instrument.id) for instrument in list_instruments(parquet) if is_tradeable(instrument)}
    return [bar_type for bar_type in bar_types(parquet) if bar_type.split("-", 1)[0] in tradeable]


class BacktestDashboard(pn.viewable.Viewer):
    """Launch a sweep or a walk-forward on Dask, or a Monte Carlo of a stored run, and explore the results.

    Every click runs a frozen config; :meth:`to_config` returns it, so a run from the
    dashboard can be repeated in a notebook or a job.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog root; None means the configured one.")
    mode = param.Selector(default="sweep", objects=MODES, doc="What to run: a sweep of every combination, or a walk-forward.")
    strategy = param.String(default="quantdesk.strategies.ema_cross:EMACross", doc="Strategy as module:Class.")
    bars = param.Selector(default=None, objects=[], doc="Bars to trade (instrument and bar specification).")
    start = param.String(default="2005-01-01", doc="First day (ISO 8601).")
    end = param.String(default="2012-12-31", doc="Last day (ISO 8601), included.")
    starting_capital = param.Number(default=100_000.0, bounds=(1.0, None), doc="Starting balance, USD.")
    fixed_parameters = param.String(default='{"trade_size": 100}', doc="Strategy parameters every run shares (JSON).")
    grid = param.String(
        default="fast_period: [5, 10, 20]\nslow_period: [30, 50, 80]",
        doc="Parameters to vary (YAML): a list of values or {start, stop, step} per parameter.",
    )
    method = param.Selector(default="grid", objects=["grid", "random"], doc="Every combination, or a random draw.")
    samples = param.Integer(default=20, bounds=(1, None), doc="Combinations drawn by random search.")
    seed = param.Integer(default=0, doc="Seed of the random draws (random search, Monte Carlo): the same seed, the same draw.")
    objective = param.Selector(default="sharpe", objects=list(BUILT_IN), doc="What the sweep maximizes.")
    in_sample_months = param.Integer(default=36, bounds=(1, None), doc="Walk-forward optimization window, months.")
    out_of_sample_months = param.Integer(default=12, bounds=(1, None), doc="Walk-forward trading window, months.")
    anchored = param.Boolean(default=False, doc="Grow every in-sample window from the first date instead of rolling.")
    run_to_resample = param.Selector(default=None, objects=[], label="Run", doc="Stored run whose trades or returns are resampled.")
    resample = param.Selector(default="trades", objects=["trades", "returns"],
                              doc="Bootstrap closed trades, or blocks of daily returns.")
    simulations = param.Integer(default=1000, bounds=(1, 100_000), doc="Simulated paths.")
    block_size = param.Integer(default=None, allow_None=True, bounds=(1, None),
                               doc="Days per block for returns (empty: cube root of the number of days).")
    drawdown_threshold = param.Number(default=0.2, bounds=(0.0, 1.0), doc="Drawdown depth whose probability is reported.")
    heatmap_x = param.Selector(default=None, objects=[], doc="Parameter on the heatmap's horizontal axis.")
    heatmap_y = param.Selector(default=None, objects=[], doc="Parameter on the heatmap's vertical axis.")
    run = param.Event(label="Run", doc="Run the configured sweep or walk-forward on Dask.")
    cancel = param.Event(label="Cancel", doc="Stop the running job; finished runs are kept.")
    running = param.Boolean(default=False, constant=True, doc="Whether a job is running.")
    done = param.Integer(default=0, doc="Runs finished (or read back) in the current job.")
    total = param.Integer(default=0, doc="Runs in the current job.")
    message = param.String(default="", doc="What happened last, in a sentence.")
    result = param.Parameter(default=None, precedence=-1, doc="The last sweep or walk-forward result.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._stop = threading.Event()
        try:
            choices = tradeable_bar_types(self.catalog)
        except QuantDeskError as error:
            choices, self.message = [], str(error)
        self.param.bars.objects = choices
        if self.bars is None and choices:
            self.bars = next((c for c in choices if c.startswith("AAPL.XNAS-1-DAY")), choices[0])
        self._update_axes()
        self._list_runs()

    def _list_runs(self) -> None:
        runs = list_runs(catalog_root(self.catalog))
        self.param.run_to_resample.objects = {run_label(run): run["run_id"] for _, run in runs.iterrows()}
        if self.run_to_resample is None and len(runs):
            self.run_to_resample = runs["run_id"].iloc[0]

    # -- the config a click runs -------------------------------------------------------------
    def _grid(self) -> dict[str, Any]:
        try:
            grid = yaml.safe_load(self.grid) or {}
        except yaml.YAMLError as error:
            raise QuantDeskError(f"The grid is not valid YAML ({error}): write one `name: [values]` per line") from None
        if not isinstance(grid, dict):
            raise QuantDeskError("The grid must be a mapping: one `name: [values]` per line")
        return grid

    def _fixed(self) -> dict[str, Any]:
        try:
            fixed = json.loads(self.fixed_parameters or "{}")
        except ValueError as error:
            raise QuantDeskError(f"The fixed parameters are not valid JSON ({error}): write e.g. {{\"trade_size\": 100}}") from None
        if not isinstance(fixed, dict):
            raise QuantDeskError('The fixed parameters must be a JSON object, e.g. {"trade_size": 100}')
        return fixed

    def to_config(self) -> SweepConfig | WalkForwardConfig | MonteCarloConfig:
        """Return the frozen config the Run button would run (checked, so bad input raises here)."""
        if self.mode == "monte-carlo":
            if not self.run_to_resample:
                raise QuantDeskError("No stored run to resample: run a backtest or a sweep first")
            return MonteCarloConfig(
                run_id=self.run_to_resample, method=self.resample, simulations=self.simulations,
                block_size=self.block_size if self.resample == "returns" else None, seed=self.seed,
                drawdown_threshold=self.drawdown_threshold,
            ).check()
        if not self.bars:
            raise QuantDeskError("No bars to trade: the catalog has no tradeable instrument (run `quantdesk catalog sample`)")
        instrument, bar_spec = self.bars.split("-", 1)
        base = BacktestSpec(
            strategy=self.strategy, instrument_ids=[instrument], bar_spec=bar_spec.removesuffix("-EXTERNAL"),
            parameters=self._fixed(), start=self.start or None, end=self.end or None,
            starting_capital=float(self.starting_capital),
        )
        sweep = SweepConfig.from_mapping(
            {"base": json.loads(base.json()), "grid": self._grid(), "method": self.method,
             "samples": self.samples if self.method == "random" else None, "seed": self.seed,
             "objective": self.objective},
            source="sweep",
        )
        check_parameters(sweep)  # say now, in the config preview, that a grid name is wrong
        if self.mode == "sweep":
            return sweep
        return WalkForwardConfig(
            sweep=sweep, in_sample_months=self.in_sample_months, out_of_sample_months=self.out_of_sample_months,
            anchored=self.anchored,
        ).check()

    # -- running ----------------------------------------------------------------------------
    @param.depends("grid", watch=True)
    def _update_axes(self) -> None:
        try:
            names = list(self._grid())
        except QuantDeskError:
            return
        self.param.heatmap_x.objects = names
        self.param.heatmap_y.objects = names
        if self.heatmap_x not in names:
            self.heatmap_x = names[0] if names else None
        if self.heatmap_y not in names or self.heatmap_y == self.heatmap_x:
            self.heatmap_y = next((n for n in names if n != self.heatmap_x), self.heatmap_x)

    @param.depends("run", watch=True)
    def _start(self) -> None:
        if self.running:
            return
        try:
            config = self.to_config()
        except QuantDeskError as error:
            self.message = f"Not started: {error}"
            return
        self._stop.clear()
        with param.edit_constant(self):
            self.running = True
        self.done, self.total, self.message = 0, 0, f"Running {self.mode} {config.id[:12]} on Dask ..."
        threading.Thread(target=self._work, args=(config,), name="quantdesk-backtests", daemon=True).start()

    def _progress(self, done: int, total: int) -> None:
        self.param.update(done=done, total=total)

    def _work(self, config: SweepConfig | WalkForwardConfig | MonteCarloConfig) -> None:
        try:
            if isinstance(config, MonteCarloConfig):
                result = run_monte_carlo(config, catalog=self.catalog)
                self.param.update(result=result, done=1, total=1,
                                  message=f"Finished Monte Carlo of run {config.run_id[:12]}: {config.simulations} paths")
                return
            if isinstance(config, WalkForwardConfig):
                result = run_walk_forward(config, catalog=self.catalog, progress=self._progress, stop=self._stop)
                table = result.in_sample
            else:
                result = run_sweep(config, catalog=self.catalog, progress=self._progress, stop=self._stop)
                table = result.table
            failed, cancelled = (table["status"] == "failed").sum(), (table["status"] == "cancelled").sum()
            message = f"Finished {self.mode} {config.id[:12]}: {len(table)} runs"
            message += f", {failed} failed" if failed else ""
            message += f", {cancelled} cancelled (run again to resume)" if cancelled else ""
            self.param.update(result=result, message=message)
            self._list_runs()  # new runs can be resampled at once
        except QuantDeskError as error:
            self.message = f"Stopped: {error}"
        except Exception as error:  # a dashboard must say what broke, not die silently in a thread
            self.message = f"Stopped by an unexpected {type(error).__name__}: {error}"
        finally:
            with param.edit_constant(self):
                self.running = False

    @param.depends("cancel", watch=True)
    def _cancel(self) -> None:
        if self.running:
            self._stop.set()
            self.message = "Cancelling: finished runs are kept ..."

    # -- views ------------------------------------------------------------------------------
    @param.depends("mode")
    def _settings(self) -> pn.viewable.Viewable:
        if self.mode == "monte-carlo":
            return pn.Param(self.param, parameters=["run_to_resample", "resample", "simulations", "block_size", "seed",
                                                    "drawdown_threshold"], show_name=False, sizing_mode="stretch_width",
                            widgets={"simulations": pn.widgets.IntInput})
        common = ["strategy", "bars", "start", "end", "starting_capital", "fixed_parameters", "grid",
                  "method", "samples", "seed", "objective"]
        extra = ["in_sample_months", "out_of_sample_months", "anchored"] if self.mode == "walk-forward" else []
        return pn.Param(
            self.param, parameters=common + extra, show_name=False, sizing_mode="stretch_width",
            widgets={"grid": {"type": pn.widgets.TextAreaInput, "height": 110}},
        )

    @param.depends("done", "total", "running")
    def _progress_view(self) -> pn.viewable.Viewable:
        value = int(100 * self.done / self.total) if self.total else (0 if self.running else None)
        return pn.indicators.Progress(value=value if value is not None else 0, max=100, active=self.running and not self.total,
                                      bar_color="primary", sizing_mode="stretch_width", name="progress")

    @param.depends("done", "total", "message")
    def _status(self) -> pn.viewable.Viewable:
        counts = f"{self.done} of {self.total} runs · " if self.total else ""
        dask = dashboard_link()
        link = f" · [Dask dashboard]({dask})" if dask else ""
        return pn.pane.Markdown(f"{counts}{self.message}{link}", sizing_mode="stretch_width")

    @param.depends("mode", "bars", "start", "end", "starting_capital", "fixed_parameters", "grid", "method",
                   "samples", "seed", "objective", "in_sample_months", "out_of_sample_months", "anchored",
                   "run_to_resample", "resample", "simulations", "block_size", "drawdown_threshold")
    def _config_view(self) -> pn.viewable.Viewable:
        try:
            text = json.dumps(json.loads(self.to_config().json()), indent=2)
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning", sizing_mode="stretch_width")
        return pn.pane.Markdown(f"```json\n{text}\n```", sizing_mode="stretch_width")

    @param.depends("result", "heatmap_x", "heatmap_y")
    def _results(self) -> pn.viewable.Viewable:
        result = self.result
        if result is None:
            return pn.pane.Markdown("Configure a sweep or a walk-forward and press **Run**; results appear here.")
        if isinstance(result, MonteCarloResult):
            return _monte_carlo_view(result)
        if isinstance(result, WalkForwardResult):
            names = list(result.config.sweep.grid)
            windows = result.windows
            chart = (
                pn.pane.HoloViews(walk_forward_chart(result.equity, windows, names), sizing_mode="stretch_width")
                if len(result.equity) else pn.pane.Alert("No out-of-sample run finished.", alert_type="warning")
            )
            shown = [c for c in ["window", "in_start", "out_start", "out_end", *names, "in_sample_objective",
                                 "out_total_return", "out_sharpe", "out_max_drawdown", "status", "run_id"] if c in windows]
            return pn.Column(chart, "#### Windows (click a run id for its Performance dashboard)",
                             _runs_table(windows[shown]), sizing_mode="stretch_width")
        table = result.table
        views: list[Any] = []
        if self.heatmap_x and self.heatmap_y and self.heatmap_x != self.heatmap_y and table["objective"].notna().any():
            views.append(pn.pane.HoloViews(objective_heatmap(table, self.heatmap_x, self.heatmap_y, result.config.objective),
                                           sizing_mode="stretch_width"))
        views += ["#### Runs (click a run id for its Performance dashboard)",
                  _runs_table(table[[*result.config.grid, "objective", *COLUMNS, "status", "error", "run_id"]])]
        return pn.Column(*views, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(self.param.mode, button_type="primary"),
            self._settings,
            pn.Row(pn.widgets.Button.from_param(self.param.run, button_type="success"),
                   pn.widgets.Button.from_param(self.param.cancel, button_type="warning")),
            self._progress_view,
            self._status,
            pn.Card(self._config_view, title="Config (to_config())", collapsed=True, sizing_mode="stretch_width"),
            width=380,
        )
        axes = pn.Row(pn.widgets.Select.from_param(self.param.heatmap_x, name="Heatmap x"),
                      pn.widgets.Select.from_param(self.param.heatmap_y, name="Heatmap y"),
                      visible=self.param.mode.rx() == "sweep")
        return pn.Row(controls, pn.Column(axes, self._results, sizing_mode="stretch_width"), sizing_mode="stretch_width")


def _monte_carlo_view(result: MonteCarloResult) -> pn.viewable.Viewable:
    unit = "trade" if result.method == "trades" else "day"
    summary = result.summary.reset_index()
    return pn.Column(
        pn.pane.Markdown(
            f"**{result.simulations} paths** of {result.horizon} {unit}s resampled from run "
            f"[{result.run_id[:12]}](./performance?run_id={result.run_id}) · P(max drawdown deeper than "
            f"{result.drawdown_threshold:.0%}) = **{result.drawdown_probability:.1%}**"
        ),
        pn.pane.HoloViews(fan_chart(result.bands, title=f"Equity by {unit}: quantile bands"), sizing_mode="stretch_width"),
        pn.Row(
            pn.pane.HoloViews(distribution(100 * result.max_drawdown, "max drawdown (%)", -100 * result.drawdown_threshold),
                              sizing_mode="stretch_width"),
            pn.pane.HoloViews(distribution(result.final_equity, "final equity (USD)"), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        ),
        pn.widgets.Tabulator(summary, show_index=False, disabled=True, theme="simple", layout="fit_data_stretch",
                             sizing_mode="stretch_width"),
        sizing_mode="stretch_width",
    )


def _runs_table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    """Return a sortable table whose run ids link to that run's Performance dashboard."""
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    return pn.widgets.Tabulator(
        frame, show_index=False, disabled=True, pagination="local", page_size=25, theme="simple",
        layout="fit_data_stretch", sizing_mode="stretch_width",
        formatters={"run_id": {"type": "link", "urlPrefix": "./performance?run_id=", "target": "_blank"}},
    )
