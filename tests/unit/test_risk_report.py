"""What the Risk dashboard and the risk report show of a book, checked by hand on the sample catalog."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.catalog import bars_frame, open_catalog
from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.errors import QuantDeskError
from quantdesk.live.config import DEFAULT_LIMITS
from quantdesk.risk.report import (
    backtest_table, book_history, daily_returns, limits_table, measure_book, parse_quantities, var_history, var_methods,
)  # fmt: skip

BOOK = {"AAPL.XNAS": 40_000.0, "IBM.XNYS": -25_000.0}


def closes(catalog: Path, *instruments: str) -> pd.DataFrame:
    parquet = open_catalog(catalog)
    return pd.DataFrame({i: bars_frame(parquet, f"{i}-1-DAY-LAST-EXTERNAL")["close"] for i in instruments})


def test_positions_are_read_from_text_and_bad_entries_are_named() -> None:
    assert parse_quantities("AAPL.XNAS: 1000, IBM.XNYS: -200, AAPL.XNAS: 5") == {"AAPL.XNAS": 1005.0, "IBM.XNYS": -200.0}
    assert parse_quantities("  ") == {}
    with pytest.raises(QuantDeskError, match=r"^Bad position 'AAPL.XNAS 1000': write INSTRUMENT: QUANTITY"):
        parse_quantities("AAPL.XNAS 1000")


def test_the_hypothetical_pnl_is_todays_exposures_over_past_returns(catalog_root: Path) -> None:
    history = book_history(BOOK, catalog_root)
    prices = closes(catalog_root, "AAPL.XNAS", "IBM.XNYS")
    returns = prices.pct_change().dropna()
    expected = 40_000.0 * returns["AAPL.XNAS"] - 25_000.0 * returns["IBM.XNYS"]
    pd.testing.assert_series_equal(history.pnl, expected, check_names=False, check_freq=False)
    assert history.source.startswith("Hypothetical P&L of the current book (AAPL.XNAS, IBM.XNYS, gross 65,000 USD)")

    flat = book_history({"AAPL.XNAS": 0.0}, catalog_root, flat_value=500_000.0)
    spx = closes(catalog_root, "SPX.INDEX")["SPX.INDEX"].pct_change().dropna()
    pd.testing.assert_series_equal(flat.pnl, 500_000.0 * spx, check_names=False, check_freq=False)
    assert flat.source.startswith("The book is flat: a 500,000 USD position in SPX.INDEX stands in for it")

    with pytest.raises(QuantDeskError, match=r"^Unknown asset\(s\) NOPE.XNAS: the catalog has 1-DAY-LAST bars for AAPL.XNAS"):
        daily_returns(["NOPE.XNAS"], catalog_root)


def test_var_by_three_methods_and_the_basel_table(catalog_root: Path) -> None:
    history = book_history(BOOK, catalog_root)
    table = var_methods(history, 0.99, window=1000, paths=200_000)
    pnl = history.pnl.iloc[-1000:].to_numpy()
    worst = np.sort(pnl)[:10]  # ceil(1000 x 1%) worst days
    assert table.loc["historical", "value_at_risk"] == pytest.approx(-worst[-1])
    assert table.loc["historical", "expected_shortfall"] == pytest.approx(-worst.mean())
    mean, deviation = pnl.mean(), pnl.std(ddof=1)
    z = 2.3263478740408408  # the standard normal's 99% quantile
    assert table.loc["parametric", "value_at_risk"] == pytest.approx(z * deviation - mean)
    assert table.loc["monte_carlo", "value_at_risk"] == pytest.approx(z * deviation - mean, rel=0.02)

    frame, backtest = var_history(history, window=250, confidence=0.99)
    tested = frame.iloc[-250:]
    exceptions = int((tested["profit_and_loss"] < -tested["value_at_risk"]).sum())
    shown = backtest_table(backtest).set_index("figure")["value"]
    assert shown["Exceptions (loss above VaR)"] == str(exceptions) and shown["Days tested"] == "250"
    assert shown["Basel traffic light"] == ("green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red")


def test_a_book_is_measured_against_its_limits_as_the_monitor_does(catalog_root: Path) -> None:
    limits = RiskLimitsConfig.load(DEFAULT_LIMITS)
    snapshot = measure_book(limits, {"AAPL.XNAS": 1_200}, catalog_root)
    last = closes(catalog_root, "AAPL.XNAS")["AAPL.XNAS"].iloc[-1]
    assert snapshot.gross_exposure == pytest.approx(1_200 * last)
    table = limits_table(limits.limits, snapshot.as_event()["limits"]).set_index("limit_id")
    assert table.loc["aapl-position", "utilization"] == pytest.approx(1_200 / 3_000)
    assert table.loc["book-leverage", "value"] == pytest.approx(1_200 * last / 1_000_000)
    assert table.loc["order-rate", "level"] == "per order"
    returns = closes(catalog_root, "AAPL.XNAS")["AAPL.XNAS"].pct_change().dropna().tail(2520)
    assert snapshot.value_at_risk == pytest.approx(-np.sort(1_200 * last * returns.to_numpy())[math.ceil(25.2) - 1])

    flat = measure_book(limits, {}, catalog_root)
    assert (flat.value_at_risk, flat.gross_exposure) == (0.0, 0.0)
    with pytest.raises(QuantDeskError, match="names unknown instrument 'NOPE.XNAS'"):
        measure_book(RiskLimitsConfig(limits=[LimitConfig(limit_id="x", type="position", scope="instrument",
                                                          target="NOPE.XNAS", hard=1)]), {}, catalog_root)
