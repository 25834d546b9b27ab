"""Backtests through quantdesk reconcile, match a hand-built Nautilus engine, and are stored by hash."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money

from quantdesk.backtest import list_runs, load_result, run_backtest
from quantdesk.backtest.examples import demo_spec
from quantdesk.backtest.extract import fills_table, positions_table
from quantdesk.catalog import bars_frame, load_instrument, open_catalog
from quantdesk.strategies.ema_cross import EMACross, EMACrossConfig


def hand_equity(starting_capital: float, fills: pd.DataFrame, closes: pd.Series) -> pd.Series:
    """Mark to market bar by bar with a plain loop: the reference for the vectorized curve."""
    cash, held, values, queue = starting_capital, 0.0, [], list(fills.itertuples())
    for stamp, close in closes.items():
        while queue and queue[0].ts_event <= stamp:
            fill = queue.pop(0)
            cash -= fill.quantity * fill.price + fill.commission
            held += fill.quantity
        values.append(cash + held * close)
    return pd.Series(values, index=closes.index)


def check_reconciles(result, catalog_root: Path) -> None:
    s = result.summary
    # The accounting identity, from Nautilus's positions (realized) and our marks (unrealized).
    assert s["ending_equity"] == pytest.approx(
        s["starting_capital"] + s["realized_pnl"] + s["unrealized_pnl"] - s["commissions"], abs=0.01
    )
    assert result.equity.iloc[-1] == pytest.approx(s["ending_equity"], abs=1e-9)
    # Nautilus's cash balance is equity minus the market value of what is still held.
    closes = bars_frame(open_catalog(catalog_root), result.spec.bar_types[0], *result.spec.period())["close"]
    held = result.fills["quantity"].sum()
    assert s["ending_balance"] == pytest.approx(s["ending_equity"] - held * closes.iloc[-1], abs=0.01)
    # Every filled order's fills add up to its quantity, at its average price.
    orders = result.orders[result.orders["status"] == "FILLED"]
    assert len(orders) == result.fills["client_order_id"].nunique() == len(result.orders)
    by_order = result.fills.groupby("client_order_id")
    for order in orders.itertuples():
        fills = by_order.get_group(order.client_order_id)
        assert fills["quantity"].abs().sum() == pytest.approx(float(order.filled_qty))
        assert np.average(fills["price"], weights=fills["quantity"].abs()) == pytest.approx(float(order.avg_px))
    # The stored curve equals a bar-by-bar hand computation.
    expected = hand_equity(s["starting_capital"], result.fills, closes)
    np.testing.assert_allclose(result.equity.to_numpy(), expected.to_numpy(), atol=1e-6)


def test_demo_run_reconciles(demo_result, catalog_root: Path) -> None:
    assert demo_result.summary["round_trips"] > 10
    assert demo_result.summary["unrealized_pnl"] == 0.0  # flattened on stop
    check_reconciles(demo_result, catalog_root)


def test_run_ending_with_an_open_position_reconciles(demo_result, catalog_root: Path) -> None:
    # End three days into a long trade and keep the position open on stop.
    long_trade = demo_result.positions.iloc[len(demo_result.positions) // 2]
    end = (long_trade["opened"] + pd.Timedelta(days=3)).date().isoformat()
    spec = msgspec.structs.replace(
        demo_spec(), end=end, parameters={**demo_spec().parameters, "close_positions_on_stop": False}
    )
    result = run_backtest(spec, catalog=catalog_root)
    assert result.positions["is_open"].iloc[-1]
    assert result.summary["unrealized_pnl"] != 0.0
    check_reconciles(result, catalog_root)


def stock_engine_run(spec, catalog_root: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run ``spec`` on a stock BacktestEngine with default settings (logging at ERROR).

    Return its fills and positions, checked against Nautilus's own reports, and its
    portfolio analyzer's statistics.
    """
    catalog = open_catalog(catalog_root)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    try:
        engine.add_venue(
            venue=Venue(spec.venue),
            oms_type=OmsType[spec.oms_type],
            account_type=AccountType[spec.account_type],
            base_currency=USD,
            starting_balances=[Money(spec.starting_capital, USD)],
            bar_execution=True,
        )
        engine.add_instrument(load_instrument(catalog, spec.instrument_ids[0]))
        start, end = spec.period()
        engine.add_data(catalog.bars(bar_types=[spec.bar_types[0]], start=start, end=end))
        parameters = {name: value for name, value in spec.parameters.items() if name != "trade_size"}
        engine.add_strategy(
            EMACross(
                EMACrossConfig(
                    instrument_id=InstrumentId.from_str(spec.instrument_ids[0]),
                    bar_type=BarType.from_str(spec.bar_types[0]),
                    trade_size=Decimal(spec.parameters["trade_size"]),
                    **parameters,
                )
            )
        )
        engine.run()
        fills = fills_table(engine.cache.orders())
        # The platform's tables carry the same numbers as Nautilus's own reports.
        report = engine.trader.generate_fills_report().sort_values("ts_event", kind="stable")
        assert list(fills["trade_id"]) == [str(t) for t in report["trade_id"]]
        np.testing.assert_allclose(fills["quantity"].abs(), report["last_qty"].astype(str).astype(float))
        np.testing.assert_allclose(fills["price"], report["last_px"].astype(str).astype(float))
        np.testing.assert_allclose(fills["commission"], [float(str(c).split()[0]) for c in report["commission"]])
        positions = positions_table([*engine.cache.position_snapshots(), *engine.cache.positions()])
        nautilus_positions = engine.trader.generate_positions_report()
        np.testing.assert_allclose(
            sorted(positions["realized_pnl"]), sorted(float(str(m).split()[0]) for m in nautilus_positions["realized_pnl"])
        )
        analyzer = engine.portfolio.analyzer  # filled by the stock engine's post-run analysis
        statistics = {
            **analyzer.get_performance_stats_pnls(USD),
            **analyzer.get_performance_stats_returns(),
            **analyzer.get_performance_stats_general(),
        }
    finally:
        engine.dispose()
    return fills, positions, statistics


def check_same_as_stock_nautilus(result, catalog_root: Path) -> None:
    """Same fills, positions and statistics as a stock engine on the same spec."""
    fills, positions, statistics = stock_engine_run(result.spec, catalog_root)
    columns = ["ts_event", "side", "quantity", "price", "commission", "trade_id"]
    pd.testing.assert_frame_equal(fills[columns], result.fills[columns], check_dtype=False)
    np.testing.assert_allclose(np.sort(positions["realized_pnl"]), np.sort(result.positions["realized_pnl"]))
    ours = result.summary["nautilus_statistics"]
    assert set(ours) == set(statistics)
    for name, value in statistics.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            assert ours[name] is None, name
        else:
            assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_same_fills_and_statistics_as_a_stock_engine(demo_result, catalog_root: Path) -> None:
    assert len(demo_result.fills) > 20
    check_same_as_stock_nautilus(demo_result, catalog_root)


def test_trade_heavy_margin_run_same_as_a_stock_engine(catalog_root: Path) -> None:
    # Long and short, flipping through zero, on a MARGIN account: hundreds of orders over four
    # weeks of minute bars, so closed orders are purged from the engine's cache many times.
    spec = msgspec.structs.replace(
        demo_spec(), bar_spec="1-MINUTE-LAST", start="2013-06-03", end="2013-06-28", account_type="MARGIN",
        parameters={"trade_size": 100, "fast_period": 5, "slow_period": 12, "allow_short": True},
    )
    result = run_backtest(spec, catalog=catalog_root)
    assert len(result.orders) > 300 and (result.positions["entry"] == "SELL").any()
    assert len(result.orders) == result.fills["client_order_id"].nunique()
    check_same_as_stock_nautilus(result, catalog_root)


def test_result_is_stored_by_spec_hash(demo_result, catalog_root: Path) -> None:
    folder = catalog_root / "backtests" / demo_result.run_id
    assert {p.name for p in folder.iterdir()} >= {"spec.json", "summary.json", "equity.parquet", "fills.parquet"}
    again = run_backtest(demo_spec(), catalog=catalog_root)  # read back, not rerun
    assert again.summary["created"] == load_result(catalog_root, demo_result.run_id[:10]).summary["created"]
    pd.testing.assert_series_equal(again.equity, demo_result.equity, check_freq=False, check_names=False)
    assert demo_result.run_id in set(list_runs(catalog_root)["run_id"])
    assert not [p for p in (catalog_root / "backtests").iterdir() if p.name.startswith(".")]


def test_minute_bars_run(catalog_root: Path) -> None:
    spec = msgspec.structs.replace(demo_spec(), bar_spec="1-MINUTE-LAST", start="2013-06-03", end="2013-06-07")
    result = run_backtest(spec, catalog=catalog_root)
    assert result.summary["bars"] == 5 * 390
    assert result.summary["fills"] > 10 and not result.summary["halted_early"]
    check_reconciles(result, catalog_root)


def test_run_halted_by_nautilus_is_flagged_and_not_marked_after_the_halt(catalog_root: Path) -> None:
    # 100 shares at ~$433 cost more than $41,000 of cash: Nautilus stops the run at the first fill.
    spec = msgspec.structs.replace(
        demo_spec(), bar_spec="1-MINUTE-LAST", start=None, end=None, starting_capital=41_000.0
    )
    result = run_backtest(spec, catalog=catalog_root)
    assert result.summary["halted_early"]
    assert result.equity.index[-1] < pd.Timestamp(demo_result_last_minute(catalog_root))
    assert result.equity.index[-1] <= result.fills["ts_event"].max() + pd.Timedelta(minutes=1)


def demo_result_last_minute(catalog_root: Path) -> str:
    return bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-MINUTE-LAST-EXTERNAL").index[-1].isoformat()
