"""The Factor Viewer in-process: the config a click runs, a run on Dask, the views a chosen factor drives, bad input named."""

from __future__ import annotations

import time
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
import pytest

from quantdesk.config import FactorRunConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.registry import registry
from quantdesk.ui.dashboards import FactorDashboard

STOCKS = ["AAPL.XNAS", "FB.XNAS", "GOOG.XNAS", "IBM.XNYS", "MSFT.XNAS"]
SMALL = "momentum:\n  window: [5, 21]\nvolatility:\n  window: [21]"


def _holoviews(view) -> list:
    """Return the HoloViews objects shown anywhere inside a Panel layout."""
    return [pane.object for pane in view.select(pn.pane.HoloViews)]


def test_to_config_is_the_run_a_notebook_would_write(catalog_root: Path) -> None:
    dashboard = FactorDashboard(catalog=str(catalog_root), factors=SMALL, horizons=[5, 1], quantiles=5)
    assert dashboard.universe == STOCKS  # every tradeable instrument; the SPX index is the market, not a stock
    expected = FactorRunConfig(universe=STOCKS, start="2005-01-01", end="2012-12-31",
                               factors={"momentum": {"window": [5, 21]}, "volatility": {"window": [21]}},
                               horizons=[1, 5], quantiles=5)
    config = dashboard.to_config()
    assert config == expected and config.id == expected.id
    assert FactorRunConfig.parse(config.json()) == config  # JSON round trip, as a job would read it

    dashboard.param.update(families=["macro"], factors="momentum:")
    macro = {name for name, item in registry().items() if item.family == "macro"}
    assert dashboard.to_config().factors == {**{name: None for name in macro}, "momentum": None}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"universe": ["AAPL.XNAS", "NOPE.XNAS"]}, "Not in the catalog: NOPE.XNAS"),
        ({"universe": []}, "The universe is empty"),
        ({"factors": "momentum: [5, 21"}, "The factors are not valid YAML"),
        ({"factors": ""}, "No factors chosen"),
        ({"factors": "no_such_factor:"}, "no_such_factor"),
        ({"start": "2012-13-01"}, "2012-13-01"),
    ],
)
def test_bad_input_is_named_and_not_run(catalog_root: Path, changes: dict, message: str) -> None:
    dashboard = FactorDashboard(catalog=str(catalog_root))
    dashboard.param.update(**changes)
    with pytest.raises(QuantDeskError, match=message):
        dashboard.to_config()
    assert message in dashboard._config_view().object
    dashboard.param.trigger("run")
    assert not dashboard.running and dashboard.message.startswith("Not started:")
    alerts = [pane for pane in dashboard._status().select(pn.pane.Alert) if pane.alert_type == "danger"]
    assert alerts and message in alerts[0].object  # an alert, not a traceback


def test_run_on_dask_then_pick_a_factor(catalog_root: Path, dask_client) -> None:
    dashboard = FactorDashboard(catalog=str(catalog_root), factors=SMALL, horizons=[1, 5], client=dask_client)
    config = dashboard.to_config()
    seen: list[tuple[int, int]] = []
    dashboard.param.watch(lambda event: seen.append((dashboard.done, dashboard.total)), "done")
    dashboard.param.trigger("run")
    deadline = time.monotonic() + 300
    while (dashboard.running or dashboard.result is None) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dashboard.message.startswith(f"Finished factor run {config.id[:12]}"), dashboard.message
    assert not dashboard.error and seen and seen[-1][0] == seen[-1][1] >= 1

    run = dashboard.result
    labels = {"momentum(window=5)", "momentum(window=21)", "volatility(window=21)"}
    assert run.config == config and set(run.leaderboard.index) == labels
    assert dashboard.run_id == run.path.name and run.path.name in dashboard.param.run_id.objects.values()
    board = dashboard.leaderboard_frame()
    assert list(board["factor"]) == list(run.leaderboard.index) and dashboard.factor == board["factor"].iloc[0]
    assert {"rank_ic_mean_1", "rank_ic_mean_5", "turnover", "coverage"} <= set(board.columns)

    # Picking a factor redraws its charts from its own scores.
    dashboard.param.update(factor="volatility(window=21)", horizon=5)
    view = dashboard._factor_view()
    ic, quantiles, decay = _holoviews(view)
    expected_ic = run.scores["rank_ic"].sel(factor="volatility(window=21)", horizon=5).to_series().dropna()
    daily = ic.get(0)  # the thin daily curve under the rolling mean
    np.testing.assert_allclose(daily.dimension_values(1), expected_ic.to_numpy())
    np.testing.assert_allclose(
        quantiles.dimension_values(1) / 100.0,
        run.scores["quantile_return"].sel(factor="volatility(window=21)", horizon=5).to_numpy(),
    )
    assert list(decay.get(0).dimension_values(0)) == [1, 5]
    assert "volatility(window=21) at 5 bars" in view[0].object

    # A click on a leaderboard row picks that factor.
    table = dashboard._leaderboard().select(pn.widgets.Tabulator)[0]
    row = list(board["factor"]).index("momentum(window=5)")
    table.selection = [row]
    assert dashboard.factor == "momentum(window=5)"

    # The correlation heatmap covers the top factors; a factor correlates perfectly with itself.
    heatmap = _holoviews(dashboard._correlation_view())[0]
    assert isinstance(heatmap, hv.HeatMap)
    cells = heatmap.data
    assert set(cells["factor"]) == labels and len(cells) == 9
    assert np.allclose(cells.loc[cells["factor"] == cells["other"], "rho"], 1.0)
    assert not np.allclose(cells["rho"], 1.0)

    # Per-regime scores of the chosen factor, from score_by_regime on the run's regimes.
    regimes = dashboard.regime_scores()
    assert set(regimes.index.get_level_values("factor")) == labels
    assert set(regimes.index.get_level_values("regime")) <= {"low", "normal", "high"}
    bars = _holoviews(dashboard._regime_view())[0]
    mine = regimes.loc["momentum(window=5)"]
    np.testing.assert_allclose(bars.dimension_values(1), mine["mean"].to_numpy())
    dashboard.regime = "trend"
    assert set(dashboard.regime_scores().index.get_level_values("regime")) <= {"down", "sideways", "up"}

    dashboard.__panel__().get_root()  # every view renders to Bokeh models (as a served page does)

    # A fresh dashboard on the same catalog finds the stored run.
    again = FactorDashboard(catalog=str(catalog_root))
    assert run.path.name in again.param.run_id.objects.values()


def test_fewer_than_five_assets_runs_but_says_it_is_not_scored(catalog_root: Path, dask_client) -> None:
    dashboard = FactorDashboard(catalog=str(catalog_root), universe=["AAPL.XNAS", "MSFT.XNAS"],
                                factors="momentum:\n  window: [5]", client=dask_client)
    dashboard.param.trigger("run")
    deadline = time.monotonic() + 300
    while dashboard.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "not scored" in dashboard.message and dashboard.result.scores is None
    texts = " ".join(str(pane.object) for pane in dashboard._leaderboard().select(pn.pane.Alert))
    assert "at least 5 assets" in texts
    assert dashboard._factor_view().objects == []
