"""The Portfolio dashboard: optimize a universe under constraints and see the allocation, frontier, risk, trades and attribution."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import panel as pn
import param
import yaml

from quantdesk.analytics import factor_attribution
from quantdesk.catalog import list_instruments, open_catalog
from quantdesk.catalog.instruments import is_tradeable
from quantdesk.config.portfolio import RETURN_METHODS, PortfolioConfig
from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.review import PortfolioReview, describe_constraints, market_returns, review_portfolio
from quantdesk.ui.components.background import run_in_background
from quantdesk.ui.components.portfolio import (
    asset_correlation_heatmap,
    attribution_chart,
    cumulative_returns_chart,
    frontier_chart,
    risk_contribution_chart,
    sector_chart,
    weights_chart,
)

# Black-Litterman needs views and the factor-model risk needs a stored factor run: both are
# written in a config file (CLI, notebooks) rather than in this form.
METHODS = ["max_sharpe", "min_volatility", "efficient_return", "efficient_risk", "hrp", "risk_parity", "multi_objective"]
RISK_METHODS = ["ledoit_wolf", "sample", "exponential"]
# The sample catalog's stocks by industry (GICS-like), so sector limits and attribution work out of the box.
DEFAULT_SECTORS = ("AAPL.XNAS: Hardware\nIBM.XNYS: IT services\nMSFT.XNAS: Software\n"
                   "GOOG.XNAS: Interactive media\nFB.XNAS: Interactive media")
DEFAULT_BENCHMARK = "SPX.INDEX"


def _mapping(text: str, what: str, example: str, kind: type) -> dict[str, Any]:
    """Parse a YAML mapping typed into a text box, naming what is wrong with it."""
    try:
        value = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as error:
        raise QuantDeskError(f"The {what} are not valid YAML ({error}): write one `{example}` per line") from None
    if not isinstance(value, dict):
        raise QuantDeskError(f"The {what} must be a mapping: write one `{example}` per line")
    try:
        return {str(key): kind(item) for key, item in value.items()}
    except (TypeError, ValueError):
        raise QuantDeskError(f"The {what} hold a value that is not a {kind.__name__}: write one `{example}` per line") from None


class PortfolioDashboard(pn.viewable.Viewer):
    """Optimize a portfolio of catalog instruments and review it.

    Every click runs a frozen :class:`~quantdesk.config.portfolio.PortfolioConfig`;
    :meth:`to_config` returns it, so a run here can be repeated with
    ``quantdesk portfolio optimize``, in a notebook or in the ``portfolio_report`` job.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog root; None means the configured one.")
    universe = param.ListSelector(default=[], objects=[], check_on_set=False, doc="Instruments to allocate between.")
    start = param.String(default="2008-01-01", doc="First day of the price history the estimates use (ISO 8601).")
    end = param.String(default="2013-12-31", doc="Last day of the price history (ISO 8601), included.")
    method = param.Selector(default="max_sharpe", objects=METHODS, doc="Optimization method.")
    returns_method = param.Selector(default="mean_historical", objects=list(RETURN_METHODS), label="Expected returns",
                                    doc="Expected-returns estimator (capm uses the benchmark as the market).")
    risk_method = param.Selector(default="ledoit_wolf", objects=RISK_METHODS, label="Risk model",
                                 doc="Covariance estimator.")
    target_return = param.Number(default=0.15, doc="Annual expected return sought by efficient_return.")
    target_volatility = param.Number(default=0.25, bounds=(0, None), doc="Annual volatility allowed by efficient_risk.")
    risk_free_rate = param.Number(default=0.0, doc="Annual rate Sharpe ratios are measured over.")
    long_only = param.Boolean(default=True, doc="Forbid short positions; off allows them within the gross limit.")
    min_weight = param.Number(default=0.0, bounds=(-1, 1), doc="Lowest weight of any asset (negative: shorts, long-short only).")
    max_weight = param.Number(default=1.0, bounds=(0, 1), doc="Highest weight of any asset.")
    gross_limit = param.Number(default=None, allow_None=True, bounds=(0, None),
                               doc="Long-short: upper limit on the sum of absolute weights (1.6 for 130/30); empty: none.")
    net_exposure = param.Number(default=1.0, bounds=(0, None), doc="Sum of the weights (1: fully invested).")
    sectors = param.String(default=DEFAULT_SECTORS,
                           doc="Sector map (YAML), `ASSET: sector` per line; assets outside the universe are ignored.")
    max_sector_weight = param.Number(default=None, allow_None=True, bounds=(0, None),
                                     doc="Upper limit on every sector's summed weight; empty: none.")
    current_weights = param.String(default="", doc="Weights held now (YAML), `ASSET: weight` per line; empty: nothing held.")
    turnover_limit = param.Number(default=None, allow_None=True, bounds=(0, None),
                                  doc="Upper limit on the sum of |new - current weight|; empty: none.")
    capital = param.Number(default=1_000_000.0, bounds=(0, None),
                           doc="Portfolio value: whole-share trades, and the value liquidity caps are measured at.")
    volume_share = param.Number(default=None, allow_None=True, bounds=(0, None),
                                doc="Liquidity cap: a position is at most this share of the average daily volume ... "
                                    "(empty: no liquidity caps)")
    liquidation_days = param.Number(default=1.0, bounds=(0, None), doc="... times this many days.")
    benchmark = param.String(default=DEFAULT_BENCHMARK,
                             doc="Market index: the market of CAPM returns and the factor of the factor attribution.")
    frontier_points = param.Integer(default=30, bounds=(2, 200), doc="Portfolios on the efficient frontier.")
    run = param.Event(label="Run", doc="Optimize the configured portfolio.")
    running = param.Boolean(default=False, constant=True, doc="Whether an optimization is running.")
    message = param.String(default="", doc="What happened last, in a sentence.")
    error = param.String(default="", doc="The last problem, shown as an alert (empty: none).")
    client = param.Parameter(default=None, precedence=-1, doc="Dask client for the frontier points; None solves them here.")
    result = param.Parameter(default=None, precedence=-1, doc="The reviewed portfolio shown (a PortfolioReview).")
    frontier = param.Parameter(default=None, precedence=-1, doc="The efficient frontier of the shown portfolio (a DataFrame).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        try:
            instruments = list_instruments(open_catalog(self.catalog))
        except QuantDeskError as error:
            instruments, self.error = [], str(error)
        self._instruments = [str(i.id) for i in instruments if is_tradeable(i)]
        self._indexes = [str(i.id) for i in instruments if not is_tradeable(i)]
        self.param.universe.objects = list(self._instruments)
        if not self.universe:
            self.universe = list(self._instruments)

    # -- the config a click runs -------------------------------------------------------------
    def to_config(self) -> PortfolioConfig:
        """Return the frozen config the Run button would run (checked, so bad input raises here)."""
        universe = list(self.universe or [])
        if not universe:
            raise QuantDeskError("The universe is empty: choose instruments to allocate between")
        unknown = [name for name in universe if name not in self._instruments]
        if unknown:
            raise QuantDeskError(f"Not in the catalog: {', '.join(unknown)}; choose from "
                                 f"{', '.join(self._instruments) or 'nothing'} (run `quantdesk catalog show` to list what is there)")
        sectors = self.sector_map()
        if self.max_sector_weight is not None and not sectors:
            raise QuantDeskError("A sector limit needs a sector map: write one `ASSET: sector` per line")
        mapping: dict[str, Any] = {
            "universe": universe, "start": self.start or None, "end": self.end or None, "method": self.method,
            "returns_method": self.returns_method, "risk_method": self.risk_method, "risk_free_rate": self.risk_free_rate,
            "long_only": self.long_only, "gross_limit": self.gross_limit, "net_exposure": self.net_exposure,
            "sectors": sectors, "current_weights": self.held_weights(), "turnover_limit": self.turnover_limit,
            "capital": self.capital, "volume_share": self.volume_share, "liquidation_days": self.liquidation_days,
        }
        if (self.min_weight, self.max_weight) != ((0.0, 1.0) if self.long_only else (-1.0, 1.0)):
            mapping["weight_bounds"] = [self.min_weight, self.max_weight]
        if self.max_sector_weight is not None:
            mapping["sector_limits"] = {sector: [None, self.max_sector_weight] for sector in sorted(set(sectors.values()))}
        if self.method == "efficient_return":
            mapping["target_return"] = self.target_return
        if self.method == "efficient_risk":
            mapping["target_volatility"] = self.target_volatility
        if self.returns_method == "capm":
            mapping["market"] = self.benchmark
        return PortfolioConfig.from_mapping(mapping, source="portfolio")

    def sector_map(self) -> dict[str, str]:
        """Return the typed sector map, restricted to the universe."""
        sectors = _mapping(self.sectors, "sectors", "AAPL.XNAS: Hardware", str)
        return {asset: sector for asset, sector in sectors.items() if asset in (self.universe or [])}

    def held_weights(self) -> dict[str, float]:
        """Return the typed current weights."""
        return _mapping(self.current_weights, "current weights", "AAPL.XNAS: 0.25", float)

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
        with param.edit_constant(self):
            self.running = True
        self.param.update(error="", message=f"Optimizing portfolio {config.id[:12]} ({config.method}) ...")
        # The solvers block for a moment: off the server's event loop, so other sessions stay live.
        run_in_background(lambda: self._work(config), self._finish, name="quantdesk-portfolio")

    def _work(self, config: PortfolioConfig) -> dict[str, Any]:
        review = review_portfolio(config, self.catalog)
        allocation = review.allocation
        message = (f"Optimized portfolio {config.id[:12]} ({config.method}): expected return "
                   f"{allocation.expected_return:.2%}, volatility {allocation.volatility:.2%}, Sharpe {allocation.sharpe:.2f}")
        updates = {"result": review, "frontier": None}
        try:
            updates["frontier"] = review.frontier(self.frontier_points, self.client)
        except QuantDeskError as error:  # the allocation stands even when the frontier cannot be traced
            message += f"; no frontier: {error}"
        return {**updates, "message": message}

    def _finish(self, updates: dict[str, Any]) -> None:
        try:
            self.param.update(**updates)
        finally:
            with param.edit_constant(self):
                self.running = False

    # -- tables -----------------------------------------------------------------------------
    def weights_frame(self) -> pd.DataFrame:
        """Return the shown portfolio's weights, risk contributions and expected returns, one row per asset."""
        review: PortfolioReview = self.result
        allocation = review.allocation
        frame = pd.DataFrame({"weight": allocation.weights, "risk_contribution": allocation.risk_contribution,
                              "expected_return": review.expected})
        if review.config.sectors:
            frame.insert(0, "sector", pd.Series(review.config.sectors))
        return frame.rename_axis("asset").reset_index().round(4)

    def benchmark_returns(self) -> pd.Series:
        """Return the benchmark's return per bar over the shown portfolio's period."""
        config = self.result.config
        return market_returns(self.benchmark, config.start, config.end, config.bar_spec, self.catalog)

    # -- views ------------------------------------------------------------------------------
    @param.depends("running")
    def _progress_view(self) -> pn.viewable.Viewable:
        return pn.indicators.Progress(value=-1 if self.running else 0, max=100, active=self.running,
                                      bar_color="primary", sizing_mode="stretch_width", name="progress")

    @param.depends("message", "error")
    def _status(self) -> pn.viewable.Viewable:
        views: list[Any] = [pn.pane.Markdown(self.message, sizing_mode="stretch_width")]
        if self.error:
            views.append(pn.pane.Alert(self.error, alert_type="danger", sizing_mode="stretch_width"))
        return pn.Column(*views, sizing_mode="stretch_width")

    @param.depends(*[name for name in ("universe", "start", "end", "method", "returns_method", "risk_method", "target_return",
                                       "target_volatility", "risk_free_rate", "long_only", "min_weight", "max_weight",
                                       "gross_limit", "net_exposure", "sectors", "max_sector_weight", "current_weights",
                                       "turnover_limit", "capital", "volume_share", "liquidation_days", "benchmark")])
    def _config_view(self) -> pn.viewable.Viewable:
        try:
            text = json.dumps(json.loads(self.to_config().json()), indent=2)
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning", sizing_mode="stretch_width")
        return pn.pane.Markdown(f"```json\n{text}\n```", sizing_mode="stretch_width")

    @param.depends("result")
    def _allocation_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.pane.Markdown("Configure the optimization and press **Run**; the allocation appears here.")
        allocation, config = review.allocation, review.config
        heading = pn.pane.Markdown(
            f"### {allocation.method}: expected return {allocation.expected_return:.2%} · volatility "
            f"{allocation.volatility:.2%} · Sharpe {allocation.sharpe:.2f}\n"
            f"{len(config.universe)} assets, {config.start or 'start'} to {config.end or 'end'}, "
            f"{config.returns_method} returns, {config.risk_method} risk · config `{config.id[:12]}`",
            sizing_mode="stretch_width")
        charts: list[Any] = [pn.pane.HoloViews(weights_chart(allocation.weights), sizing_mode="stretch_width")]
        if review.config.sectors:
            charts.append(pn.pane.HoloViews(sector_chart(allocation.sector_weights(review.config.sectors)),
                                            sizing_mode="stretch_width"))
        table = pn.widgets.Tabulator(self.weights_frame(), show_index=False, disabled=True, theme="simple",
                                     layout="fit_data_stretch", sizing_mode="stretch_width", label="weights")
        views: list[Any] = [heading]
        late = review.late_starters()
        if len(late):
            listed = ", ".join(f"{asset} from {first:%Y-%m-%d}" for asset, first in late.items())
            views.append(pn.pane.Alert(f"Shorter price history: {listed}; their estimates rest on fewer bars than the "
                                       f"others' (period from {review.close.index[0]:%Y-%m-%d}).", alert_type="info",
                                       sizing_mode="stretch_width"))
        return pn.Column(*views, pn.Row(*charts, sizing_mode="stretch_width"), table, sizing_mode="stretch_width")

    @param.depends("result", "frontier")
    def _frontier_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.Column()
        constraints = "\n".join(f"- {line}" for line in describe_constraints(review.config))
        caption = pn.pane.Markdown(f"**Constraints**\n\n{constraints}", sizing_mode="stretch_width")
        if self.frontier is None:
            return pn.Column(pn.pane.Alert("No frontier for these inputs: see the status line.", alert_type="info"), caption)
        singles = pd.DataFrame({"expected_return": review.expected,
                                "volatility": pd.Series(review.covariance.to_numpy().diagonal() ** 0.5,
                                                        index=review.covariance.index)})
        note = (" (prior estimates; Black-Litterman chose on its posterior)" if review.config.method == "black_litterman"
                else "")
        chart = frontier_chart(self.frontier, review.allocation, singles, title=f"Efficient frontier under the constraints{note}")
        return pn.Column(pn.pane.HoloViews(chart, sizing_mode="stretch_width"), caption, sizing_mode="stretch_width")

    @param.depends("result")
    def _correlation_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.Column()
        title = f"Correlation of returns ({review.config.risk_method} risk model)"
        return pn.pane.HoloViews(asset_correlation_heatmap(review.correlation(), title=title), sizing_mode="stretch_width")

    @param.depends("result")
    def _risk_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.Column()
        return pn.pane.HoloViews(risk_contribution_chart(review.allocation), sizing_mode="stretch_width")

    @param.depends("result")
    def _trades_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.Column()
        try:
            plan = review.rebalancing()
        except QuantDeskError as error:
            return pn.pane.Alert(str(error), alert_type="warning")
        held = "nothing held" if not review.config.current_weights else "the current weights"
        heading = pn.pane.Markdown(
            f"Whole-share trades from {held} to the target at the closes of {review.close.index[-1]:%Y-%m-%d}, "
            f"capital {plan.capital:,.0f}: {len(plan.trades)} trades, turnover {plan.turnover:.1%}, "
            f"cash after {plan.cash_after:,.2f}", sizing_mode="stretch_width")
        trades = pn.widgets.Tabulator(plan.trades.round(2), show_index=False, disabled=True, theme="simple",
                                      layout="fit_data_stretch", sizing_mode="stretch_width", label="trades")
        holdings = pn.widgets.Tabulator(plan.holdings.reset_index().round(4), show_index=False, disabled=True,
                                        theme="simple", layout="fit_data_stretch", sizing_mode="stretch_width")
        return pn.Column(heading, "#### Trades", trades, "#### Holdings", holdings, sizing_mode="stretch_width")

    @param.depends("result")
    def _attribution_view(self) -> pn.viewable.Viewable:
        review: PortfolioReview | None = self.result
        if review is None:
            return pn.Column()
        views: list[Any] = []
        try:
            brinson = review.attribution()
        except QuantDeskError as error:
            views.append(pn.pane.Alert(str(error), alert_type="warning"))
        else:
            total = brinson.total
            group = "sector" if review.config.sectors else "asset"
            views += [
                pn.pane.Markdown(
                    f"Monthly rebalanced to the optimized weights vs equal weights: portfolio {total['portfolio_return']:.2%}, "
                    f"equal weight {total['benchmark_return']:.2%}, active {total['active_return']:.2%} = allocation "
                    f"{total['allocation']:.2%} + selection {total['selection']:.2%} + interaction {total['interaction']:.2%}",
                    sizing_mode="stretch_width"),
                pn.pane.HoloViews(attribution_chart(brinson.sector_total[["allocation", "selection", "interaction"]]
                                                    .rename_axis(group),
                                                    title=f"Brinson-Fachler attribution by {group} vs equal weight"),
                                  sizing_mode="stretch_width"),
            ]
        try:
            market = self.benchmark_returns()
            returns = review.returns()
            factors = factor_attribution(returns, market.rename("market").to_frame())
        except QuantDeskError as error:
            views.append(pn.pane.Alert(f"No factor attribution: {error}", alert_type="warning"))
        else:
            frame = pd.concat({"portfolio": returns, self.benchmark: market}, axis=1).dropna()
            table = pd.DataFrame({"exposure": factors.exposures, "t_stat": factors.t_stats,
                                  "annual_contribution": factors.contribution}).round(4)
            views += [
                pn.pane.HoloViews(cumulative_returns_chart(frame, title=f"Optimized weights vs {self.benchmark}"),
                                  sizing_mode="stretch_width"),
                pn.pane.Markdown(f"Factor attribution on {self.benchmark} returns (R² {factors.r_squared:.2f}):"),
                pn.widgets.Tabulator(table.rename_axis("term").reset_index(), show_index=False, disabled=True,
                                     theme="simple", layout="fit_data_stretch"),
            ]
        return pn.Column(*views, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        text = {"type": pn.widgets.TextAreaInput, "height": 110}
        optional = {"type": pn.widgets.FloatInput}

        def group(title: str, names: list[str], collapsed: bool) -> pn.Card:
            widgets = {"universe": pn.widgets.MultiChoice, "sectors": text, "current_weights": text,
                       "gross_limit": optional, "max_sector_weight": optional, "turnover_limit": optional,
                       "volume_share": optional}
            form = pn.Param(self.param, parameters=names, show_name=False, sizing_mode="stretch_width",
                            widgets={name: widget for name, widget in widgets.items() if name in names})
            return pn.Card(form, title=title, collapsed=collapsed, sizing_mode="stretch_width")

        controls = pn.Column(
            pn.widgets.Button.from_param(self.param.run, button_type="success"),
            self._progress_view,
            self._status,
            group("Universe and estimates", ["universe", "start", "end", "method", "returns_method", "risk_method",
                                             "target_return", "target_volatility", "risk_free_rate", "frontier_points"],
                  collapsed=False),
            group("Constraints", ["long_only", "min_weight", "max_weight", "gross_limit", "net_exposure", "sectors",
                                  "max_sector_weight", "current_weights", "turnover_limit"], collapsed=False),
            group("Capital, liquidity and benchmark", ["capital", "volume_share", "liquidation_days", "benchmark"],
                  collapsed=False),
            pn.Card(self._config_view, title="Config (to_config())", collapsed=True, sizing_mode="stretch_width"),
            width=380,
        )
        tabs = pn.Tabs(
            ("Allocation", self._allocation_view),
            ("Frontier", self._frontier_view),
            ("Correlation", self._correlation_view),
            ("Risk", self._risk_view),
            ("Trades", self._trades_view),
            ("Attribution", self._attribution_view),
            dynamic=False, sizing_mode="stretch_width",
        )
        return pn.Row(controls, tabs, sizing_mode="stretch_width")
