"""The Backtest Viewer in-process: the config a click would run, and bad input named before anything runs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from quantdesk.backtest.examples import demo_spec
from quantdesk.config import MonteCarloConfig, SweepConfig, WalkForwardConfig
from quantdesk.errors import QuantDeskError
from quantdesk.ui.dashboards import BacktestDashboard


def test_to_config_is_the_sweep_a_notebook_would_write(catalog_root: Path) -> None:
    dashboard = BacktestDashboard(catalog=str(catalog_root), fixed_parameters='{"trade_size": 100}',
                                  grid="fast_period: [5, 10]\nslow_period: {start: 30, stop: 50, step: 10}")
    base = msgspec.structs.replace(demo_spec(), parameters={"trade_size": 100})
    expected = SweepConfig(base=base, grid={"fast_period": [5, 10], "slow_period": {"start": 30, "stop": 50, "step": 10}})
    assert dashboard.bars == "AAPL.XNAS-1-DAY-LAST-EXTERNAL"
    assert "SPX.INDEX-1-DAY-LAST-EXTERNAL" not in dashboard.param.bars.objects  # an index level is not tradeable
    assert dashboard.to_config() == expected and dashboard.to_config().id == expected.id
    assert (dashboard.heatmap_x, dashboard.heatmap_y) == ("fast_period", "slow_period")

    dashboard.param.update(mode="walk-forward", in_sample_months=24, anchored=True)
    assert dashboard.to_config() == WalkForwardConfig(sweep=expected, in_sample_months=24, anchored=True)


def test_monte_carlo_config_names_the_chosen_run(catalog_root: Path, demo_result) -> None:
    dashboard = BacktestDashboard(catalog=str(catalog_root), mode="monte-carlo")
    dashboard.param.update(run_to_resample=demo_result.run_id, resample="returns", simulations=500, seed=3, block_size=5)
    assert dashboard.to_config() == MonteCarloConfig(run_id=demo_result.run_id, method="returns", simulations=500,
                                                     seed=3, block_size=5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid": "fast_period: [5, 10"}, "The grid is not valid YAML"),
        ({"grid": "- 5\n- 10"}, "The grid must be a mapping"),
        ({"fixed_parameters": "trade_size=100"}, "The fixed parameters are not valid JSON"),
        ({"grid": "speed: [1, 2]"}, "Sweep parameter 'speed' is not a field of EMACrossConfig"),
        ({"start": "2012-13-01"}, "Bad start date '2012-13-01'"),
        ({"mode": "walk-forward", "in_sample_months": 120}, "No walk-forward window fits"),
    ],
)
def test_bad_input_is_named_in_the_preview_and_not_run(catalog_root: Path, changes: dict, message: str) -> None:
    dashboard = BacktestDashboard(catalog=str(catalog_root))
    dashboard.param.update(**changes)
    with pytest.raises(QuantDeskError, match=message):
        dashboard.to_config()
    assert message.split("'")[0] in dashboard._config_view().object
    dashboard.param.trigger("run")
    assert not dashboard.running and dashboard.message.startswith("Not started:")
