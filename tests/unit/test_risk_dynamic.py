"""Dynamic limits: multipliers and bounds by hand, the regime table, audited changes with their explanation, tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.risk import (
    AuditTrail, DynamicLimits, DynamicLimitsConfig, DynamicRuleConfig, LimitBook, LimitConfig, RiskLimitsConfig,
    garch_forecast,
)  # fmt: skip

PRICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz"

LIMITS = [
    LimitConfig(limit_id="book-var", type="var", soft=800_000, hard=1_000_000),
    LimitConfig(limit_id="book-gross", type="gross_exposure", hard=10_000_000),
    LimitConfig(limit_id="daily-loss", type="daily_loss", soft=150_000, hard=200_000, description="officer's own"),
]
VAR_RULE = DynamicRuleConfig(limit_id="book-var", rule="volatility", reference_volatility=0.015,
                             base_soft=800_000, base_hard=1_000_000)
GROSS_RULE = DynamicRuleConfig(limit_id="book-gross", rule="regime", base_hard=10_000_000,
                               regime_multipliers={"low": 1.0, "normal": 0.9, "high": 0.6}, floor=7_000_000)


@pytest.fixture()
def audit(tmp_path: Path) -> AuditTrail:
    return AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")


@pytest.fixture()
def book(audit: AuditTrail) -> LimitBook:
    return LimitBook(RiskLimitsConfig(limits=LIMITS), audit=audit)


def dynamic(*rules: DynamicRuleConfig, tolerance: float = 0.01) -> DynamicLimits:
    return DynamicLimits(DynamicLimitsConfig(rules=list(rules), tolerance=tolerance))


@pytest.mark.parametrize(("volatility", "expected"), [
    (0.021, 0.015 / 0.021),  # inside the bounds: reference / forecast
    (0.015, 1.0),
    (0.010, 1.0),  # 1.5 capped at the maximum of 1
    (0.060, 0.5),  # 0.25 raised to the minimum of 0.5
])  # fmt: skip
def test_volatility_multiplier_is_reference_over_forecast_within_bounds(volatility: float, expected: float) -> None:
    multiplier, reason = dynamic(VAR_RULE).multiplier(VAR_RULE, volatility=volatility)
    assert multiplier == pytest.approx(expected, rel=1e-12)
    assert ("within [0.5, 1]" in reason) == (0.5 < 0.015 / volatility < 1.0 or volatility == 0.015)


def test_floor_and_ceiling_narrow_the_multiplier_bounds() -> None:
    rule = DynamicRuleConfig(limit_id="book-var", rule="volatility", reference_volatility=0.01, base_hard=1_000_000,
                             minimum_multiplier=0.2, maximum_multiplier=2.0, floor=600_000, ceiling=1_200_000)
    assert rule.bounds == pytest.approx((0.6, 1.2))
    engine = dynamic(rule)
    assert engine.multiplier(rule, volatility=0.05)[0] == pytest.approx(0.6)  # 0.2 raised to the floor's 0.6
    assert engine.multiplier(rule, volatility=0.005)[0] == pytest.approx(1.2)  # 2.0 cut to the ceiling's 1.2
    assert engine.multiplier(rule, volatility=0.0125)[0] == pytest.approx(0.8)


def test_adjust_sets_scaled_levels_and_audits_the_explanation(book: LimitBook, audit: AuditTrail) -> None:
    adjustments = dynamic(VAR_RULE).adjust(book, volatility=0.021)
    multiplier = 0.015 / 0.021
    limit = book.get("book-var")
    assert limit.hard == pytest.approx(1_000_000 * multiplier) and limit.soft == pytest.approx(800_000 * multiplier)
    assert [a.limit_id for a in adjustments if a.changed] == ["book-var"]
    expected = ("var limit soft 800k -> 571k; hard 1M -> 0.714M: GARCH 1-day vol 2.1% vs reference 1.5%, "
                "multiplier 0.71 within [0.5, 1]")
    assert adjustments[0].explanation == expected
    records = audit.records(kind="limit_change")
    assert records["limit_id"].tolist() == ["book-var"] and records["actor"].tolist() == ["dynamic-limits"]
    details = records["details"].iloc[0]
    assert details["after"]["description"] == expected
    assert details["before"]["hard"] == 1_000_000 and details["after"]["hard"] == pytest.approx(limit.hard)


def test_limits_without_a_rule_stay_as_they_are(book: LimitBook, audit: AuditTrail) -> None:
    untouched = {limit.limit_id: limit for limit in book.limits if limit.limit_id != "book-var"}
    dynamic(VAR_RULE).adjust(book, volatility=0.03)
    for limit_id, limit in untouched.items():
        assert book.get(limit_id) == limit
    assert book.get("daily-loss").description == "officer's own"
    assert set(audit.records()["limit_id"]) == {"book-var"}


def test_regime_table_with_floor(book: LimitBook, audit: AuditTrail) -> None:
    engine = dynamic(GROSS_RULE)
    engine.adjust(book, regime="normal")
    assert book.get("book-gross").hard == pytest.approx(9_000_000)
    adjustments = engine.adjust(book, regime="high")  # 0.6 of 10M is below the 7M floor: multiplier 0.7
    assert book.get("book-gross").hard == pytest.approx(7_000_000)
    assert adjustments[0].explanation == ("gross_exposure limit hard 9M -> 7M: regime 'high' in the regime table, "
                                          "multiplier 0.70 (0.60 bounded to [0.7, 1])")
    engine.adjust(book, regime="low")
    assert book.get("book-gross").hard == pytest.approx(10_000_000)
    assert [d["after"]["hard"] for d in audit.records()["details"]] == pytest.approx([9e6, 7e6, 10e6])


def test_changes_within_the_tolerance_are_skipped_without_audit(book: LimitBook, audit: AuditTrail) -> None:
    engine = dynamic(VAR_RULE, tolerance=0.02)
    engine.adjust(book, volatility=0.020)  # multiplier 0.75
    version = book.version
    # 0.015 / 0.0203 = 0.7389: the levels move 1.5% (<= 2%), so nothing is set or recorded
    adjustments = engine.adjust(book, volatility=0.0203)
    assert not adjustments[0].changed and book.version == version
    assert book.get("book-var").hard == pytest.approx(750_000)
    # 0.015 / 0.021 = 0.7143: 4.8% below 0.75, beyond the tolerance
    assert engine.adjust(book, volatility=0.021)[0].changed
    assert len(audit.records()) == 2


def test_garch_forecast_on_real_returns_drives_the_var_limit(book: LimitBook) -> None:
    prices = pd.read_csv(PRICES, parse_dates=["date"], index_col="date")["AAPL"].loc["2010":"2017"]
    forecast = garch_forecast(prices.pct_change().dropna())
    one_day = float(np.sqrt(forecast.variance.iloc[0]))
    rule = DynamicRuleConfig(limit_id="book-var", rule="volatility", reference_volatility=0.01,
                             base_soft=800_000, base_hard=1_000_000, minimum_multiplier=0.1, maximum_multiplier=10)
    adjustment = dynamic(rule).adjust(book, volatility=forecast)[0]
    assert adjustment.multiplier == pytest.approx(0.01 / one_day, rel=1e-12)
    assert book.get("book-var").hard == pytest.approx(1_000_000 * 0.01 / one_day, rel=1e-12)


def test_rules_load_from_a_file(tmp_path: Path, book: LimitBook) -> None:
    path = tmp_path / "dynamic.yaml"
    path.write_text("tolerance: 0.05\nrules:\n  - limit_id: book-gross\n    rule: regime\n    base_hard: 10_000_000\n"
                    "    regime_multipliers: {low: 1.0, high: 0.5}\n")
    config = DynamicLimitsConfig.load(path)
    assert config.tolerance == 0.05 and config.rules[0].regime_multipliers == {"low": 1.0, "high": 0.5}
    DynamicLimits(config).adjust(book, regime="high")
    assert book.get("book-gross").hard == pytest.approx(5_000_000)


@pytest.mark.parametrize(("rule", "message"), [
    ({"rule": "volatility", "base_hard": 1.0}, "needs reference_volatility"),
    ({"rule": "regime", "base_hard": 1.0}, "needs regime_multipliers"),
    ({"rule": "regime", "base_hard": 1.0, "regime_multipliers": {"high": -1.0}}, "regime 'high' has multiplier -1.0"),
    ({"rule": "volatility", "reference_volatility": 0.01}, "give base_hard, base_soft or both"),
    ({"rule": "volatility", "reference_volatility": 0.01, "base_soft": 2.0, "base_hard": 1.0}, "base_soft=2.0 is above"),
    ({"rule": "volatility", "reference_volatility": 0.01, "base_hard": 1.0, "regime_multipliers": {"low": 1.0}},
     "regime_multipliers applies only to rule 'regime'"),
    ({"rule": "volatility", "reference_volatility": 0.01, "base_hard": 1.0, "minimum_multiplier": 2.0},
     "must satisfy 0 < minimum_multiplier <= maximum_multiplier"),
    ({"rule": "volatility", "reference_volatility": 0.01, "base_hard": 10.0, "floor": 20.0}, "leave no multiplier"),
    ({"rule": "sideways", "base_hard": 1.0}, "'sideways'"),
])  # fmt: skip
def test_bad_rules_are_named(rule: dict, message: str) -> None:
    with pytest.raises(QuantDeskError) as error:
        DynamicLimitsConfig.from_mapping({"rules": [{"limit_id": "book-var", **rule}]})
    assert message in str(error.value)
    assert "book-var" in str(error.value) or "rules[0].rule" in str(error.value)


def test_bad_market_state_and_unknown_limits_are_named(book: LimitBook) -> None:
    with pytest.raises(QuantDeskError, match="pass volatility="):
        dynamic(VAR_RULE).adjust(book, regime="high")
    with pytest.raises(QuantDeskError, match=r"volatility=-0.01 must be a positive"):
        dynamic(VAR_RULE).adjust(book, volatility=-0.01)
    with pytest.raises(QuantDeskError, match="no multiplier for regime 'stressed'.*'low', 'normal', 'high'"):
        dynamic(GROSS_RULE).adjust(book, regime="stressed")
    ghost = DynamicRuleConfig(limit_id="ghost", rule="regime", base_hard=1.0, regime_multipliers={"low": 1.0})
    with pytest.raises(QuantDeskError, match="limit 'ghost', which the book does not hold"):
        dynamic(ghost).adjust(book, regime="low")
    hard_only = DynamicRuleConfig(limit_id="daily-loss", rule="regime", base_hard=1.0, regime_multipliers={"low": 1.0})
    with pytest.raises(QuantDeskError, match="the limit has a soft level but the rule no base_soft"):
        dynamic(hard_only).adjust(book, regime="low")
    with pytest.raises(QuantDeskError, match="two dynamic rules"):
        dynamic(VAR_RULE, VAR_RULE)
    with pytest.raises(QuantDeskError, match="tolerance=1.5"):
        dynamic(VAR_RULE, tolerance=1.5)


def test_a_level_the_limit_cannot_take_stops_the_whole_plan(audit: AuditTrail) -> None:
    drawdown = LimitConfig(limit_id="drawdown", type="drawdown", hard=0.8)
    book = LimitBook(RiskLimitsConfig(limits=[*LIMITS, drawdown]), audit=audit)
    widening = DynamicRuleConfig(limit_id="drawdown", rule="volatility", reference_volatility=0.02, base_hard=0.8,
                                 maximum_multiplier=2.0)
    with pytest.raises(QuantDeskError, match="Limit 'drawdown': hard=1.6 *: drawdown is a share between 0 and 1"):
        dynamic(VAR_RULE, widening).adjust(book, volatility=0.01)  # multiplier 2: 0.8 -> 1.6
    assert book.get("book-var") == LIMITS[0] and book.version == 0 and audit.records().empty
