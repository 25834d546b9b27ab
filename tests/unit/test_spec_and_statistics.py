"""The backtest spec (frozen, hashed, validated) and the statistics, against hand computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantdesk.backtest.examples import demo_spec
from quantdesk.backtest.statistics import daily_returns, drawdown, equity_curve, monthly_returns
from quantdesk.config import BacktestSpec
from quantdesk.errors import QuantDeskError


def test_spec_is_frozen_hashable_and_round_trips() -> None:
    spec = demo_spec()
    again = BacktestSpec.parse(spec.json())
    assert again == spec and again.id == spec.id and hash(again) == hash(spec)
    assert len({spec, again}) == 1
    with pytest.raises(AttributeError):
        spec.start = "2001-01-01"  # type: ignore[misc]
    changed = BacktestSpec.from_mapping({**json.loads(spec.json()), "start": "2006-01-01"})
    assert changed.id != spec.id
    assert spec.bar_types == ["AAPL.XNAS-1-DAY-LAST-EXTERNAL"] and spec.venue == "XNAS"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unknown_field", 1, "unknown field `unknown_field`"),
        ("account_type", "BANK", "Unknown account_type 'BANK'"),
        ("starting_capital", -5.0, "starting_capital -5.0 must be positive"),
        ("instrument_ids", ["AAPL.XNAS", "IBM.XNYS"], "span venues XNAS, XNYS"),
        ("instrument_ids", [], "instrument_ids is empty"),
        ("bar_spec", "DAILY", "Bad bar_spec 'DAILY'"),
        ("end", "yesterday", "Bad end date 'yesterday'"),
    ],
)
def test_spec_rejects_bad_fields(field: str, value, message: str) -> None:
    with pytest.raises(QuantDeskError, match=message.replace("(", r"\(")):
        BacktestSpec.from_mapping({**json.loads(demo_spec().json()), field: value})


def test_bare_end_date_includes_the_whole_day() -> None:
    start, end = BacktestSpec.from_mapping({**json.loads(demo_spec().json()), "end": "2012-12-31"}).period()
    assert end == pd.Timestamp("2012-12-31 23:59:59.999999999", tz="UTC")
    _, exact = BacktestSpec.from_mapping({**json.loads(demo_spec().json()), "end": "2012-12-31T12:00"}).period()
    assert exact == pd.Timestamp("2012-12-31 12:00", tz="UTC")


def test_equity_curve_by_hand() -> None:
    times = pd.date_range("2020-01-01 21:00", periods=4, freq="D", tz="UTC")
    closes = {"X.V": pd.Series([10.0, 11.0, 9.0, 12.0], index=times)}
    fills = pd.DataFrame(
        {
            "ts_event": [times[0], times[2]],
            "instrument_id": ["X.V", "X.V"],
            "quantity": [100.0, -100.0],
            "price": [10.0, 9.0],
            "commission": [1.0, 0.9],
        }
    )
    equity = equity_curve(1000.0, fills, closes)
    # day 0: cash 1000-1000-1 = -1, holds 100 @10 -> 999; day 1: -1 + 1100 = 1099;
    # day 2: sold at 9: cash -1 + 900 - 0.9 = 898.1, flat; day 3: 898.1.
    np.testing.assert_allclose(equity.to_numpy(), [999.0, 1099.0, 898.1, 898.1])
    np.testing.assert_allclose(drawdown(equity).to_numpy(), [0.0, 0.0, 898.1 / 1099 - 1, 898.1 / 1099 - 1])
    np.testing.assert_allclose(daily_returns(equity).to_numpy(), [1099 / 999 - 1, 898.1 / 1099 - 1, 0.0])


def test_monthly_returns_compound_from_month_ends() -> None:
    times = pd.to_datetime(["2020-01-15", "2020-01-31", "2020-02-28", "2020-03-31"], utc=True)
    table = monthly_returns(pd.Series([100.0, 110.0, 99.0, 108.9], index=times))
    assert table.loc[2020, 1] == pytest.approx(0.10)
    assert table.loc[2020, 2] == pytest.approx(-0.10)
    assert table.loc[2020, 3] == pytest.approx(0.10)
    assert np.isnan(table.loc[2020, 12])
