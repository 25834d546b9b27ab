"""The Performance Viewer in-process: run picking, empty states, and chart data checked by hand."""

from __future__ import annotations

from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest

from quantdesk.backtest import run_backtest
from quantdesk.config import BacktestSpec
from quantdesk.ui.components import equity_and_drawdown, monthly_returns_heatmap, statistics_table, trades_table
from quantdesk.ui.components.charts import MAX_POINTS
from quantdesk.ui.dashboards import PerformanceDashboard


def _alert_text(view: pn.viewable.Viewable) -> str:
    assert isinstance(view, pn.pane.Alert), view
    return view.object


def test_picks_the_requested_run_by_prefix(catalog_root: Path, demo_result) -> None:
    dashboard = PerformanceDashboard(catalog=str(catalog_root), run_id=demo_result.run_id[:10])
    assert dashboard.run_id == demo_result.run_id
    content = dashboard._content()
    assert isinstance(content, pn.Column)
    assert "EMACross on AAPL.XNAS (1-DAY-LAST)" in content[0].object
    assert isinstance(pn.panel(dashboard), pn.Column)


def test_an_unknown_run_says_so_and_names_it(catalog_root: Path, demo_result) -> None:
    dashboard = PerformanceDashboard(catalog=str(catalog_root), run_id="feedfacefeed")
    assert dashboard.run_id is None
    text = _alert_text(dashboard._content())
    assert "'feedfacefeed' matches no stored run" in text and "pick one from the list" in text


def test_an_empty_catalog_says_how_to_make_a_run(tmp_path: Path) -> None:
    dashboard = PerformanceDashboard(catalog=str(tmp_path))
    assert dashboard.run_id is None and not any(dashboard.param.run_id.objects)
    text = _alert_text(dashboard._content())
    assert str(tmp_path) in text and "quantdesk backtest run SPEC" in text


def test_refresh_lists_a_run_stored_after_opening(tmp_path: Path, catalog_root: Path, demo_result) -> None:
    runs = tmp_path / "catalog"
    (runs / "backtests").mkdir(parents=True)
    dashboard = PerformanceDashboard(catalog=str(runs))
    assert dashboard.run_id is None
    # A run written by someone else (a notebook, a job) into this catalog's run folder.
    demo_folder = catalog_root / "backtests" / demo_result.run_id
    (runs / "backtests" / demo_result.run_id).symlink_to(demo_folder)
    dashboard.param.trigger("refresh")
    assert dashboard.run_id == demo_result.run_id
    assert isinstance(dashboard._content(), pn.Column)


def _curve(layout: hv.Layout, index: int) -> pd.Series:
    element = layout[index] if not hasattr(layout, "values") else list(layout.values())[index]
    frame = element.dframe()
    return pd.Series(frame.iloc[:, 1].to_numpy(), index=pd.to_datetime(frame.iloc[:, 0]))


def test_equity_and_drawdown_show_the_run_and_its_hand_computed_drawdown(demo_result) -> None:
    equity = demo_result.equity
    layout = equity_and_drawdown(equity)
    shown_equity, shown_drawdown = _curve(layout, 0), _curve(layout, 1)
    np.testing.assert_allclose(shown_equity.to_numpy(), equity.to_numpy())
    assert shown_equity.iloc[-1] == pytest.approx(demo_result.summary["ending_equity"])
    peak, expected = -np.inf, []
    for value in equity.to_numpy():  # a plain loop: the running peak and the fall below it
        peak = max(peak, value)
        expected.append(100.0 * (value / peak - 1.0))
    np.testing.assert_allclose(shown_drawdown.to_numpy(), expected, atol=1e-12)
    assert shown_drawdown.min() == pytest.approx(100.0 * demo_result.summary["max_drawdown"])


def test_long_intraday_curves_are_shown_per_day_without_hiding_the_worst_drawdown() -> None:
    minutes = pd.date_range("2013-03-04 14:31", periods=MAX_POINTS * 2, freq="min", tz="UTC")
    rng = np.random.default_rng(7)
    equity = pd.Series(100_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, len(minutes)))), index=minutes)
    layout = equity_and_drawdown(equity)
    shown_equity, shown_drawdown = _curve(layout, 0), _curve(layout, 1)
    days = equity.index.normalize().unique()
    assert len(shown_equity) == len(days) < MAX_POINTS
    assert shown_equity.iloc[-1] == equity.iloc[-1]
    worst = 100.0 * (equity / equity.cummax() - 1.0).min()
    assert shown_drawdown.min() == pytest.approx(worst)


def test_monthly_heatmap_matches_month_end_returns_computed_by_resampling(demo_result) -> None:
    equity = demo_result.equity
    month_end = equity.resample("ME").last().dropna()
    expected = month_end / pd.concat([pd.Series([equity.iloc[0]]), month_end.iloc[:-1]]).to_numpy() - 1.0
    heatmap = monthly_returns_heatmap(equity).get(0)
    cells = heatmap.dframe()
    shown = {(int(row["year"]), row["month"]): row["return"] for _, row in cells.iterrows()}
    assert len(shown) == len(expected)
    for stamp, value in expected.items():
        assert shown[(stamp.year, stamp.strftime("%b"))] == pytest.approx(100.0 * value), stamp


def test_tables_show_every_statistic_and_trade(demo_result) -> None:
    statistics = statistics_table(demo_result.summary).value.set_index("statistic")["value"]
    assert statistics["Sharpe ratio"] == f"{demo_result.summary['sharpe']:.2f}"
    assert statistics["Max drawdown"] == f"{demo_result.summary['max_drawdown']:.2%}"
    assert statistics["Round trips"] == str(demo_result.summary["round_trips"])
    assert statistics_table({"sharpe": None}).value.set_index("statistic")["value"]["Sharpe ratio"] == "n/a"
    trades = trades_table(demo_result.positions).value
    assert len(trades) == len(demo_result.positions)
    np.testing.assert_allclose(trades["return_pct"], 100.0 * demo_result.positions["realized_return"])


def test_a_halted_run_is_flagged_in_the_statistics(catalog_root: Path) -> None:
    # 1,000 shares at ~$200 or more cost more than $50,000 of cash: Nautilus stops the run at the first fill.
    spec = BacktestSpec(
        strategy="quantdesk.strategies.ema_cross:EMACross", instrument_ids=["AAPL.XNAS"], bar_spec="1-DAY-LAST",
        parameters={"trade_size": 1000}, start="2010-01-01", end="2012-12-31", starting_capital=50_000.0,
    )
    result = run_backtest(spec, catalog=catalog_root)
    assert result.summary["halted_early"]
    statistics = statistics_table(result.summary).value.set_index("statistic")["value"]
    assert statistics["Halted early"].startswith("yes")
