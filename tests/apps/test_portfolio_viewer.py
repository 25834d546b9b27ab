"""The Portfolio Viewer in-process: the config a click runs, the optimized weights against direct runs, the views, bad input named."""

from __future__ import annotations

import time
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from pypfopt import EfficientFrontier, expected_returns, risk_models

from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.run import load_bars, run_portfolio
from quantdesk.ui.dashboards import PortfolioDashboard

STOCKS = ["AAPL.XNAS", "FB.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"]
SECTORS = {"AAPL.XNAS": "Hardware", "IBM.XNYS": "IT services", "MSFT.XNAS": "Software",
           "GOOG.XNAS": "Interactive media", "FB.XNAS": "Interactive media"}


def _holoviews(view) -> list:
    """Return the HoloViews objects shown anywhere inside a Panel layout."""
    return [pane.object for pane in view.select(pn.pane.HoloViews)]


def _run(dashboard: PortfolioDashboard) -> None:
    dashboard.param.trigger("run")
    deadline = time.monotonic() + 300
    while dashboard.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not dashboard.running


def test_to_config_is_the_config_a_file_would_hold(catalog_root: Path) -> None:
    dashboard = PortfolioDashboard(catalog=str(catalog_root))
    assert dashboard.universe == STOCKS  # every tradeable instrument; the SPX index is the benchmark, not a stock
    expected = PortfolioConfig(universe=STOCKS, start="2008-01-01", end="2013-12-31", sectors=SECTORS,
                               capital=1_000_000.0)
    config = dashboard.to_config()
    assert config == expected and config.id == expected.id
    assert PortfolioConfig.parse(config.json()) == config  # JSON round trip, as the CLI or a job would read it

    dashboard.param.update(universe=["AAPL.XNAS", "IBM.XNYS", "MSFT.XNAS"], method="efficient_risk",
                           target_volatility=0.2, long_only=False, min_weight=-0.3, gross_limit=1.6,
                           max_sector_weight=0.6, current_weights="AAPL.XNAS: 0.5\nIBM.XNYS: 0.5", turnover_limit=0.5,
                           volume_share=0.05)
    config = dashboard.to_config()
    assert config.sectors == {"AAPL.XNAS": "Hardware", "IBM.XNYS": "IT services", "MSFT.XNAS": "Software"}
    assert config.sector_limits == {s: (None, 0.6) for s in ("Hardware", "IT services", "Software")}
    assert (config.target_volatility, config.target_return, config.weight_bounds) == (0.2, None, (-0.3, 1.0))
    assert config.current_weights == {"AAPL.XNAS": 0.5, "IBM.XNYS": 0.5} and config.turnover_limit == 0.5
    assert (config.capital, config.volume_share) == (1_000_000.0, 0.05)  # liquidity caps only when volume_share is set


def test_run_matches_the_engine_and_pypfopt_and_every_view_renders(catalog_root: Path) -> None:
    dashboard = PortfolioDashboard(catalog=str(catalog_root), frontier_points=12)
    _run(dashboard)
    assert not dashboard.error and dashboard.message.startswith("Optimized portfolio"), dashboard.message
    review = dashboard.result
    config = dashboard.to_config()
    weights = review.allocation.weights

    # The same weights as the engine run on to_config(), and as PyPortfolioOpt's own API on the same closes.
    direct = run_portfolio(config, catalog=catalog_root)
    pd.testing.assert_series_equal(weights, direct.weights)
    close, _ = load_bars(STOCKS, "2008-01-01", "2013-12-31", catalog=catalog_root)
    reference = EfficientFrontier(expected_returns.mean_historical_return(close),
                                  risk_models.CovarianceShrinkage(close).ledoit_wolf(), solver="CLARABEL")
    np.testing.assert_allclose(weights.to_numpy(), pd.Series(reference.max_sharpe()).reindex(STOCKS).to_numpy(), atol=1e-4)
    table = dashboard.weights_frame()
    np.testing.assert_allclose(table["weight"].to_numpy(), weights.round(4).to_numpy())

    # Weights, sector sums and risk contributions as drawn (percent); contributions add up to the volatility.
    view = dashboard._allocation_view()
    bars, sectors = _holoviews(view)
    np.testing.assert_allclose(bars.dimension_values(1), 100 * weights.to_numpy())
    by_sector = weights.groupby(pd.Series(SECTORS)).sum()
    np.testing.assert_allclose(sectors.dimension_values(1), 100 * by_sector.sort_index().to_numpy())
    risk = _holoviews(dashboard._risk_view())[0]
    w, sigma = weights.to_numpy(), review.covariance.to_numpy()
    volatility = np.sqrt(w @ sigma @ w)
    np.testing.assert_allclose(risk.dimension_values(1), 100 * w * (sigma @ w) / volatility, atol=1e-9)
    assert risk.dimension_values(1).sum() == pytest.approx(100 * review.allocation.volatility)

    # The chosen max-Sharpe portfolio has the best Sharpe ratio of the frontier it is drawn on.
    frontier = dashboard.frontier
    assert len(frontier) == 12 and frontier["volatility"].is_monotonic_increasing
    assert review.allocation.sharpe >= frontier["sharpe"].max() - 1e-4
    chart = _holoviews(dashboard._frontier_view())[0]
    star = chart.get(len(chart) - 1)
    assert star.dimension_values(0)[0] == pytest.approx(100 * review.allocation.volatility)
    assert "weights between 0 and 1" in dashboard._frontier_view()[1].object

    # The correlation heatmap: ones on the diagonal, the covariance's correlations off it.
    heatmap = _holoviews(dashboard._correlation_view())[0].get(0)
    cells = heatmap.data.set_index(["asset", "other"])["rho"]
    assert cells[("IBM.XNYS", "IBM.XNYS")] == pytest.approx(1.0)
    assert cells[("AAPL.XNAS", "MSFT.XNAS")] == pytest.approx(
        sigma[0, 4] / np.sqrt(sigma[0, 0] * sigma[4, 4]))

    # Whole-share trades from nothing held, at the last closes: they spend the capital to within one share each.
    plan = review.rebalancing()
    prices = close.ffill().iloc[-1]
    bought = plan.trades.set_index("asset")["shares"]
    assert (plan.trades["side"] == "buy").all()
    assert float((bought * prices[bought.index]).sum()) + plan.cash_after == pytest.approx(1_000_000.0)
    target = (weights * 1_000_000.0 / prices)[weights > 1e-6]
    assert (abs(bought.reindex(target.index, fill_value=0) - target) <= 1.0 + 1e-9).all()
    trades = dashboard._trades_view().select(pn.widgets.Tabulator)[0].value
    assert list(trades["asset"]) == list(plan.trades["asset"])

    # Brinson-Fachler against equal weights, by hand: monthly rebalanced portfolios from the daily closes.
    monthly = (1 + close.pct_change(fill_method=None).iloc[1:].fillna(0.0)).groupby(
        close.index[1:].tz_convert(None).to_period("M")).prod() - 1
    portfolio = float(np.prod(1 + monthly @ weights) - 1)
    equal = float(np.prod(1 + monthly.mean(axis=1)) - 1)
    attribution = review.attribution()
    assert attribution.total["portfolio_return"] == pytest.approx(portfolio)
    assert attribution.total["benchmark_return"] == pytest.approx(equal)
    effects = attribution.total[["allocation", "selection", "interaction"]].sum()
    assert effects == pytest.approx(portfolio - equal)
    attribution_view = dashboard._attribution_view()
    brinson, growth = _holoviews(attribution_view)
    assert isinstance(brinson, hv.Bars) and set(brinson.data["group"]) == set(SECTORS.values())
    assert f"active {portfolio - equal:.2%}" in attribution_view[0].object

    dashboard.__panel__().get_root()  # every view renders to Bokeh models (as a served page does)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"universe": ["AAPL.XNAS", "NOPE.XNAS"]}, "Not started: Not in the catalog: NOPE.XNAS"),
        ({"universe": []}, "Not started: The universe is empty"),
        ({"start": "2012-13-01"}, "2012-13-01"),
        ({"sectors": "AAPL.XNAS: [Hardware"}, "Not started: The sectors are not valid YAML"),
        ({"current_weights": "AAPL.XNAS: half"}, "Not started: The current weights hold a value that is not a float"),
        ({"max_weight": 0.1}, "Stopped: Infeasible constraints for max_sharpe: weights summing to 1 and weight bounds"),
        ({"method": "efficient_return", "target_return": 5.0}, "Stopped: target_return=5 is above the highest"),
    ],
)
def test_bad_input_is_one_message_not_a_traceback(catalog_root: Path, changes: dict, message: str) -> None:
    dashboard = PortfolioDashboard(catalog=str(catalog_root))
    dashboard.param.update(**changes)
    if message.startswith("Not started") or "2012-13-01" in message:
        with pytest.raises(QuantDeskError):
            dashboard.to_config()
    _run(dashboard)
    assert dashboard.result is None and message in dashboard.error and "Traceback" not in dashboard.error
    alerts = [pane for pane in dashboard._status().select(pn.pane.Alert) if pane.alert_type == "danger"]
    assert len(alerts) == 1 and message in alerts[0].object


def test_hrp_runs_with_the_forms_sectors_capital_and_holdings(catalog_root: Path) -> None:
    dashboard = PortfolioDashboard(catalog=str(catalog_root), method="hrp", current_weights="AAPL.XNAS: 0.5")
    config = dashboard.to_config()
    assert (config.sectors, config.capital, config.current_weights) == (SECTORS, 1_000_000.0, {"AAPL.XNAS": 0.5})
    _run(dashboard)
    assert not dashboard.error, dashboard.error
    review = dashboard.result
    # A sector map, capital and holdings restrict nothing: the weights are those of HRP on the closes alone.
    bare = PortfolioConfig(universe=STOCKS, start=config.start, end=config.end, method="hrp")
    pd.testing.assert_series_equal(review.allocation.weights, run_portfolio(bare, catalog=catalog_root).weights)
    # They still drive the breakdown and the trades.
    assert set(review.allocation.sector_weights(config.sectors).index) == set(SECTORS.values())
    sold = review.rebalancing().trades.set_index("asset").loc["AAPL.XNAS"]
    held = np.trunc(0.5 * 1_000_000.0 / review.prices["AAPL.XNAS"])
    target = review.allocation.weights["AAPL.XNAS"] * 1_000_000.0 / review.prices["AAPL.XNAS"]
    assert sold["side"] == "sell" and abs(held - sold["shares"] - target) <= 1.0 + 1e-9
    # FB.XNAS lists in 2012: the allocation says its estimates rest on a shorter history.
    assert list(review.late_starters().index) == ["FB.XNAS"]
    notes = [pane.object for pane in dashboard._allocation_view().select(pn.pane.Alert)]
    assert notes and "FB.XNAS from 2012-05-18" in notes[0]

    # A real restriction is named, as the run's one alert.
    dashboard.param.update(max_sector_weight=0.3, turnover_limit=0.5)
    _run(dashboard)
    message = ("Stopped: Method hrp is long-only and fully invested and cannot honour the constraints set "
               "(sector_limits, turnover_limit): clear them or use a mean-variance method")
    assert dashboard.error == message
