"""The monitor's forward look on real prices: the book's GARCH volatility drives a dynamic limit (audited), a breach
model trained on the replayed book predicts, and the monitor alerts once when a probability reaches the threshold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quantdesk.factors.regimes import garch_volatility
from quantdesk.risk import AuditTrail, LimitBook, LimitConfig, PreTradeChecker, RiskLimitsConfig, RiskMonitor
from quantdesk.risk.dynamic import DynamicLimits, DynamicLimitsConfig, DynamicRuleConfig
from quantdesk.risk.forecast import RiskForecaster

PRICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz"
ASSETS = ["AAPL", "GE", "WMT", "XOM", "JPM"]
LIMITS = [
    LimitConfig(limit_id="daily-loss", type="daily_loss", soft=15_000, hard=25_000),
    LimitConfig(limit_id="drawdown", type="drawdown", hard=0.10),
    LimitConfig(limit_id="var", type="var", hard=45_000),
]


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_csv(PRICES, parse_dates=["date"], index_col="date")[ASSETS].dropna()


def test_refresh_scales_the_dynamic_limit_by_the_books_garch_forecast_and_trains_a_model(prices, tmp_path: Path
                                                                                         ) -> None:
    audit = AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    book = LimitBook(RiskLimitsConfig(limits=LIMITS), audit=audit)
    rule = DynamicRuleConfig(limit_id="daily-loss", rule="volatility", base_soft=15_000, base_hard=25_000,
                             reference_volatility=0.001, minimum_multiplier=0.2)
    forecaster = RiskForecaster(prices, book, DynamicLimits(DynamicLimitsConfig(rules=[rule])))
    exposures = pd.Series({"AAPL": 600_000.0, "XOM": -400_000.0})
    outlook = forecaster.refresh(exposures)
    assert outlook.weights == {"AAPL": 0.6, "XOM": -0.4}
    # The reference: the same causal GARCH forecast of the book's daily returns, computed here from the prices.
    returns = prices[["AAPL", "XOM"]].pct_change().iloc[1:] @ pd.Series({"AAPL": 0.6, "XOM": -0.4})
    expected = garch_volatility(returns)["forecast"].dropna().iloc[-1]
    assert outlook.volatility == pytest.approx(expected, rel=1e-9)
    multiplier = min(max(0.001 / expected, 0.2), 1.0)
    assert book.get("daily-loss").hard == pytest.approx(25_000 * multiplier)
    change = audit.records(kind="limit_change").iloc[-1]
    assert change["actor"] == "dynamic-limits" and "GARCH 1-day vol" in change["details"]["after"]["description"]
    assert forecaster.model is not None and forecaster.evaluation is not None
    assert forecaster.evaluation.base_rate < 0.5


def test_the_monitor_reports_probabilities_and_alerts_once_when_one_reaches_the_threshold(prices) -> None:
    book = LimitBook(RiskLimitsConfig(limits=LIMITS))
    forecaster = RiskForecaster(prices, book, threshold=0.2)
    forecaster.refresh(None)  # flat: an equal-weight book of the prices' instruments
    assert set(forecaster.outlook.weights) == set(ASSETS)
    checker = PreTradeChecker(book, equity=1_000_000.0)
    monitor = RiskMonitor(checker, forecaster=forecaster)
    calm = monitor.cycle()
    assert set(calm.breach_probabilities) == {"daily-loss", "drawdown", "var"}
    assert all(0.0 <= p <= 1.0 for p in calm.breach_probabilities.values())
    checker.set_equity(910_000.0)  # 9% below the peak: drawdown at 90% of its hard level
    stressed = monitor.cycle()
    # Drawdowns persist, so a deep one makes a breach far likelier (a day's loss hardly predicts the next day's).
    assert stressed.breach_probabilities["drawdown"] > 2 * calm.breach_probabilities["drawdown"]
    assert stressed.breach_probabilities["drawdown"] >= 0.2, stressed.breach_probabilities
    predicted = [alert for alert in stressed.alerts if alert.level == "predicted"]
    assert "drawdown" in [a.limit_id for a in predicted] and "probability" in predicted[0].message
    assert not [a for a in monitor.cycle().alerts if a.level == "predicted"]  # not repeated while it stays high
    assert stressed.volatility == forecaster.outlook.volatility and stressed.regime in ("low", "normal", "high")
