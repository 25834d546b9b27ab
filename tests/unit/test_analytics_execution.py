"""Execution quality on hand-made fills (backtest and live formats alike) and on a real backtest's fills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.analytics import execution_costs, impact_by_size, live_orders, shortfall_summary, standard_fills
from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.errors import QuantDeskError
from quantdesk.store.trades import TradeHistory

DAY = "2024-03-04 "


def _t(clock: str) -> pd.Timestamp:
    return pd.Timestamp(DAY + clock, tz="UTC")


# Two orders: a buy of 100 AAPL filled in two pieces, and a sell of 200 MSFT filled 150 and
# then canceled at 15:00 with 50 left.
BACKTEST_FILLS = pd.DataFrame(
    {
        "ts_event": [_t("10:01"), _t("10:02"), _t("10:31")],
        "instrument_id": ["AAPL.XNAS", "AAPL.XNAS", "MSFT.XNAS"],
        "side": ["BUY", "BUY", "SELL"],
        "quantity": [60.0, 40.0, -150.0],
        "price": [101.00, 101.50, 49.60],
        "commission": [0.6, 0.4, 1.5],
        "client_order_id": ["O-1", "O-1", "O-2"],
        "trade_id": ["T-1", "T-2", "T-3"],
    }
)
BACKTEST_ORDERS = pd.DataFrame(
    {
        "client_order_id": ["O-1", "O-2"], "instrument_id": ["AAPL.XNAS", "MSFT.XNAS"], "side": ["BUY", "SELL"],
        "quantity": [100.0, 200.0], "ts_init": [_t("10:00"), _t("10:30")], "ts_last": [_t("10:02"), _t("15:00")],
    }
)  # fmt: skip
PRICES = {
    "AAPL.XNAS": pd.Series([100.20, 100.50, 101.30], index=[_t("09:59"), _t("10:00"), _t("10:05")]),
    "MSFT.XNAS": pd.Series([49.80, 49.50, 49.00], index=[_t("10:29"), _t("12:00"), _t("15:00")]),
}
DECISIONS = {"O-1": 100.00, "O-2": 50.00}


def _check_hand_numbers(costs: pd.DataFrame) -> None:
    buy, sell = costs.loc["O-1"], costs.loc["O-2"]
    # Buy: average (60 x 101.00 + 40 x 101.50) / 100 = 101.20 against arrival 100.50 and decision 100.
    assert buy["average_price"] == pytest.approx(101.20, rel=1e-12)
    assert buy["arrival_slippage_bps"] == pytest.approx((101.20 - 100.50) / 100.50 * 1e4, rel=1e-10)  # 69.65 bp
    assert buy["decision_slippage_bps"] == pytest.approx(120.0, rel=1e-10)
    # Shortfall: 1.20 x 100 execution + 1.00 fees on a paper 100 x 100 = 121 bp.
    assert buy[["execution_cost", "opportunity_cost", "fees"]].tolist() == pytest.approx([120.0, 0.0, 1.0])
    assert buy["shortfall_bps"] == pytest.approx(121.0, rel=1e-10)
    # Sell: 150 at 49.60 against arrival 49.80 (cost 40.16 bp) and decision 50 (80 bp); the 50 left
    # are marked at 49.00 when canceled: (50 - 49) x 50 = 50 of opportunity cost.
    assert sell["arrival_slippage_bps"] == pytest.approx(0.20 / 49.80 * 1e4, rel=1e-10)
    assert sell["decision_slippage_bps"] == pytest.approx(80.0, rel=1e-10)
    assert sell[["execution_cost", "opportunity_cost", "fees"]].tolist() == pytest.approx([60.0, 50.0, 1.5])
    assert sell["shortfall_bps"] == pytest.approx(111.5 / (50.0 * 200) * 1e4, rel=1e-10)
    total = shortfall_summary(costs)
    assert total["shortfall"] == pytest.approx(121.0 + 111.5)
    assert total["shortfall_bps"] == pytest.approx((121.0 + 111.5) / (10_000 + 10_000) * 1e4)
    assert total["filled_share"] == pytest.approx(250 / 300)
    weighted = (69.65174129353234 * 10_120 + 40.16064257028112 * 7_440) / (10_120 + 7_440)
    assert total["arrival_slippage_bps"] == pytest.approx(weighted, rel=1e-10)


def test_backtest_fills_by_hand() -> None:
    _check_hand_numbers(execution_costs(BACKTEST_FILLS, PRICES, BACKTEST_ORDERS, DECISIONS))


def _event(number: int, kind: str, order: str, instrument: str, clock: str, data: dict) -> dict:
    return {"event_id": f"E-{number}", "kind": kind, "ts_event": _t(clock).value, "trader_id": "TRADER-001",
            "strategy_id": "S-1", "instrument_id": instrument, "client_order_id": order, "data": data}  # fmt: skip


def test_live_trade_history_gives_the_same_numbers(tmp_path: Path) -> None:
    history = TradeHistory(f"sqlite:///{tmp_path / 'store.sqlite'}")
    events = [
        _event(1, "OrderInitialized", "O-1", "AAPL.XNAS", "10:00", {"order_side": "BUY", "quantity": 100}),
        _event(2, "OrderInitialized", "O-2", "MSFT.XNAS", "10:30", {"order_side": "SELL", "quantity": 200}),
    ]
    for number, fill in enumerate(BACKTEST_FILLS.itertuples(), start=3):
        data = {"trade_id": fill.trade_id, "order_side": fill.side, "last_qty": abs(fill.quantity),
                "last_px": fill.price, "commission": fill.commission, "currency": "USD", "venue_order_id": "V"}
        events.append(_event(number, "OrderFilled", fill.client_order_id, fill.instrument_id,
                             fill.ts_event.strftime("%H:%M"), data))  # fmt: skip
    events.append(_event(9, "OrderCanceled", "O-2", "MSFT.XNAS", "15:00", {}))
    history.record(events)
    fills = history.fills()
    assert "order_side" in fills.columns  # the live format, not the backtest one
    pd.testing.assert_frame_equal(standard_fills(fills), standard_fills(BACKTEST_FILLS))
    costs = execution_costs(fills, PRICES, live_orders(history), DECISIONS)
    _check_hand_numbers(costs)


def test_without_orders_every_order_is_filled_at_its_first_fill_time() -> None:
    costs = execution_costs(BACKTEST_FILLS, PRICES)
    # O-2's first fill at 10:31 meets the 10:29 price; no decision prices: shortfall against arrival.
    assert costs.loc["O-2", "opportunity_cost"] == 0.0 and np.isnan(costs.loc["O-2", "decision_slippage_bps"])
    assert costs.loc["O-2", "shortfall"] == pytest.approx((49.80 - 49.60) * 150 + 1.5)
    # O-1's first fill at 10:01 meets the 10:00 price.
    assert costs.loc["O-1", "arrival_price"] == 100.50


def test_impact_by_size_buckets() -> None:
    orders = pd.DataFrame(
        {"instrument_id": ["A"] * 4 + ["B"] * 2, "order_quantity": [100, 200, 5_000, 9_000, 10, 3_000],
         "filled_quantity": [100, 200, 5_000, 9_000, 10, 3_000], "average_price": [10.0] * 6,
         "arrival_slippage_bps": [1.0, 3.0, 10.0, 20.0, 2.0, 40.0]}
    )  # fmt: skip
    volume = {"A": 100_000.0, "B": 10_000.0}
    # Participation: 0.1%, 0.2%, 5%, 9% for A; 0.1% and 30% for B. Buckets (0, 1%], (1%, 5%],
    # (5%, 10%], (10%, 25%] (empty, so not listed) and over 25%.
    table = impact_by_size(orders, volume)
    assert table["orders"].tolist() == [3, 1, 1, 1]
    assert table["mean_slippage_bps"].tolist() == pytest.approx([2.0, 10.0, 20.0, 40.0])
    assert table["mean_size"].iloc[0] == pytest.approx((0.001 + 0.002 + 0.001) / 3)
    assert table["weighted_slippage_bps"].iloc[0] == pytest.approx((1 * 100 + 3 * 200 + 2 * 10) / 310)
    by_quantity = impact_by_size(orders, buckets=2)
    assert by_quantity["mean_slippage_bps"].tolist() == pytest.approx([2.0, 70 / 3])
    with pytest.raises(QuantDeskError, match="no positive volume for 'B'"):
        impact_by_size(orders, {"A": 1e5})


def test_bad_execution_input_names_the_problem() -> None:
    with pytest.raises(QuantDeskError, match="fills has no column 'price'"):
        execution_costs(BACKTEST_FILLS.drop(columns="price"), PRICES)
    with pytest.raises(QuantDeskError, match="no series for instrument 'MSFT.XNAS'"):
        execution_costs(BACKTEST_FILLS, {"AAPL.XNAS": PRICES["AAPL.XNAS"]})
    with pytest.raises(QuantDeskError, match="prices of 'AAPL.XNAS' start after"):
        execution_costs(BACKTEST_FILLS, {**PRICES, "AAPL.XNAS": PRICES["AAPL.XNAS"].iloc[2:]}, BACKTEST_ORDERS)
    with pytest.raises(QuantDeskError, match="fills of order 'O-2' have no row in orders"):
        execution_costs(BACKTEST_FILLS, PRICES, BACKTEST_ORDERS.iloc[:1])
    with pytest.raises(QuantDeskError, match="names order 'O-9'"):
        execution_costs(BACKTEST_FILLS, PRICES, decision_prices={"O-9": 1.0})


@pytest.mark.slow
def test_real_backtest_fills(demo_result, catalog_root: Path) -> None:
    bars = bars_frame(open_catalog(catalog_root), "AAPL.XNAS-1-DAY-LAST-EXTERNAL")
    orders, fills = demo_result.orders, demo_result.fills
    # Decide at each submission bar's open; the market order then fills at that bar's close.
    opens = bars["open"].reindex(pd.DatetimeIndex(orders["ts_init"]))
    decisions = pd.Series(opens.to_numpy(), index=orders["client_order_id"])
    costs = execution_costs(fills, {"AAPL.XNAS": bars["close"]}, orders, decisions)
    assert len(costs) == len(orders) > 10
    closes = bars["close"].reindex(pd.DatetimeIndex(orders["ts_init"])).to_numpy()
    np.testing.assert_allclose(costs["average_price"], orders["avg_px"], rtol=1e-12)
    # Nautilus fills a market order at the close it was sent on: no slippage against arrival.
    np.testing.assert_allclose(costs["arrival_price"], closes)
    np.testing.assert_allclose(costs["arrival_slippage_bps"], 0.0, atol=1e-9)
    side = np.where(orders["side"] == "BUY", 1.0, -1.0)
    decided = opens.to_numpy()
    np.testing.assert_allclose(costs["decision_slippage_bps"], side * (closes - decided) / decided * 1e4, rtol=1e-9)
    total = shortfall_summary(costs)
    assert total["fees"] == pytest.approx(demo_result.summary["commissions"])
    assert total["execution_cost"] == pytest.approx(float((side * (closes - decided) * orders["quantity"]).sum()))
