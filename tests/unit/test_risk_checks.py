"""Pre-trade checks: every limit type passes an order exactly at its level and blocks one unit over.

The book in most tests, worked by hand: AAPL long 300 at 100 (30,000), XOM short 200 at 50
(-10,000), so gross 40,000 and net 20,000; MSFT (Technology, like AAPL) is flat and quoted
at 1, so buying q MSFT adds exactly q to gross and net.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.risk import AuditTrail, LimitBook, LimitConfig, Order, PreTradeChecker, RiskLimitsConfig

SECTORS = {"AAPL.XNAS": "Technology", "MSFT.XNAS": "Technology", "XOM.XNYS": "Energy"}
EQUITY = 100_000.0


def checker(*limits: LimitConfig, equity: float = EQUITY, audit: AuditTrail | None = None) -> PreTradeChecker:
    risk = PreTradeChecker(LimitBook(RiskLimitsConfig(instrument_sectors=SECTORS, limits=list(limits))),
                           equity=equity, audit=audit)  # fmt: skip
    risk.load_positions([("AAPL.XNAS", "Alpha", 300.0, 100.0), ("XOM.XNYS", "Beta", -200.0, 50.0)])
    risk.on_price("MSFT.XNAS", 1.0)
    return risk


def buy(instrument: str, quantity: float, price: float, strategy: str = "Alpha", **extra) -> Order:
    return Order(instrument, strategy, "BUY", quantity, price, **extra)


def sell(instrument: str, quantity: float, price: float, strategy: str = "Alpha", **extra) -> Order:
    return Order(instrument, strategy, "SELL", quantity, price, **extra)


def assert_blocks_at(risk: PreTradeChecker, at: Order, over: Order, limit_id: str, value: str, threshold: str,
                     level: str = "hard") -> None:
    """``at`` passes ``limit_id``'s ``level`` and ``over`` crosses it: rejected at a hard level, warned at a soft one."""
    passed = risk.check(at)
    assert passed.action == ("warn" if level == "hard" and risk.book.get(limit_id).soft is not None else "accept")
    assert all(breach.level != level for breach in passed.breaches), passed.reason
    decision = risk.check(over)
    assert decision.action == ("reject" if level == "hard" else "warn")
    breach = decision.breaches[0]
    assert (breach.limit_id, breach.level) == (limit_id, level)
    assert f"limit {limit_id!r}" in decision.reason
    assert f"value {value} > threshold {threshold}" in decision.reason, decision.reason


def test_the_book_sums_are_the_hand_computed_ones() -> None:
    summary = checker().summary()
    assert (summary.gross_exposure, summary.net_exposure, summary.leverage) == (40_000, 20_000, 0.4)
    assert summary.sector_gross == {"Technology": 30_000, "Energy": 10_000}
    assert summary.strategy_gross == {"Alpha": 30_000, "Beta": 10_000}


def test_order_quantity() -> None:
    risk = checker(LimitConfig(limit_id="quantity", type="order_quantity", soft=80, hard=100))
    assert_blocks_at(risk, buy("MSFT.XNAS", 100, 1.0), buy("MSFT.XNAS", 101, 1.0), "quantity", "101", "100")
    assert_blocks_at(risk, buy("MSFT.XNAS", 80, 1.0), buy("MSFT.XNAS", 81, 1.0), "quantity", "81", "80", "soft")


def test_order_notional_uses_the_limit_price_when_there_is_one() -> None:
    risk = checker(LimitConfig(limit_id="notional", type="order_notional", soft=8_000, hard=10_000))
    assert_blocks_at(risk, buy("MSFT.XNAS", 10_000, 1.0), buy("MSFT.XNAS", 10_001, 1.0), "notional", "10,001", "10,000")
    # 100 x 100.01 = 10,001 at the limit price, though only 9,000 at the market.
    assert_blocks_at(risk, buy("XOM.XNYS", 100, 90.0, limit_price=100.0), buy("XOM.XNYS", 100, 90.0, limit_price=100.01),
                     "notional", "10,001", "10,000")  # fmt: skip
    assert_blocks_at(risk, buy("MSFT.XNAS", 8_000, 1.0), buy("MSFT.XNAS", 8_001, 1.0), "notional", "8,001", "8,000", "soft")


def test_position_counts_the_held_quantity_both_ways() -> None:
    risk = checker(LimitConfig(limit_id="position", type="position", soft=400, hard=500))
    assert_blocks_at(risk, buy("AAPL.XNAS", 200, 100.0), buy("AAPL.XNAS", 201, 100.0), "position", "501", "500")
    # Long 300: selling 800 leaves -500, selling 801 leaves -501.
    assert_blocks_at(risk, sell("AAPL.XNAS", 800, 100.0), sell("AAPL.XNAS", 801, 100.0), "position", "501", "500")
    assert_blocks_at(risk, buy("AAPL.XNAS", 100, 100.0), buy("AAPL.XNAS", 101, 100.0), "position", "401", "400", "soft")


def test_gross_exposure() -> None:
    risk = checker(LimitConfig(limit_id="gross", type="gross_exposure", soft=90_000, hard=100_000))
    assert_blocks_at(risk, buy("MSFT.XNAS", 60_000, 1.0), buy("MSFT.XNAS", 60_001, 1.0), "gross", "100,001", "100,000")
    assert_blocks_at(risk, buy("MSFT.XNAS", 50_000, 1.0), buy("MSFT.XNAS", 50_001, 1.0), "gross", "90,001", "90,000", "soft")


def test_net_exposure_is_the_absolute_net() -> None:
    risk = checker(LimitConfig(limit_id="net", type="net_exposure", hard=30_000))
    assert_blocks_at(risk, buy("MSFT.XNAS", 10_000, 1.0), buy("MSFT.XNAS", 10_001, 1.0), "net", "30,001", "30,000")
    # Net 20,000 - 50,000 = -30,000.
    assert_blocks_at(risk, sell("MSFT.XNAS", 50_000, 1.0), sell("MSFT.XNAS", 50_001, 1.0), "net", "30,001", "30,000")


def test_concentration_of_an_instrument_and_of_a_sector() -> None:
    # MSFT's share after buying q: q / (40,000 + q) = 0.5 at q = 40,000.
    risk = checker(LimitConfig(limit_id="single", type="concentration", hard=0.5))
    over = risk.check(buy("MSFT.XNAS", 40_001, 1.0))
    assert risk.check(buy("MSFT.XNAS", 40_000, 1.0)).action == "accept"
    assert over.action == "reject" and over.breaches[0].value == pytest.approx(40_001 / 80_001)
    # Technology's share: (30,000 + q) / (40,000 + q) = 0.8 at q = 10,000.
    risk = checker(LimitConfig(limit_id="sector", type="concentration", by="sector", soft=0.75, hard=0.8))
    over = risk.check(buy("MSFT.XNAS", 10_001, 1.0))
    assert risk.check(buy("MSFT.XNAS", 10_000, 1.0)).action == "warn"
    assert over.action == "reject" and over.breaches[0].value == pytest.approx(40_001 / 50_001)
    assert "threshold 0.8" in over.reason
    # Below minimum_gross the share is not measured (a first position would be 100%).
    risk = checker(LimitConfig(limit_id="floor", type="concentration", hard=0.5, minimum_gross=100_000))
    assert risk.check(buy("MSFT.XNAS", 60_000, 1.0)).action == "accept"
    assert risk.check(buy("MSFT.XNAS", 60_001, 1.0)).action == "reject"


def test_leverage_is_gross_over_equity() -> None:
    risk = checker(LimitConfig(limit_id="leverage", type="leverage", soft=1.5, hard=2.0))
    assert_blocks_at(risk, buy("MSFT.XNAS", 160_000, 1.0), buy("MSFT.XNAS", 160_001, 1.0), "leverage", "2.00001", "2")
    assert_blocks_at(risk, buy("MSFT.XNAS", 110_000, 1.0), buy("MSFT.XNAS", 110_001, 1.0), "leverage", "1.50001", "1.5",
                     "soft")  # fmt: skip


@pytest.mark.parametrize(
    ("limit", "setter", "at", "over", "texts"),
    [
        (LimitConfig(limit_id="day", type="daily_loss", hard=5_000), "set_equity", 95_000, 94_999, ("5,001", "5,000")),
        (LimitConfig(limit_id="drawdown", type="drawdown", hard=0.1), "set_equity", 90_000, 89_990, ("0.1001", "0.1")),
        (LimitConfig(limit_id="var", type="var", hard=10_000), "value_at_risk", 10_000, 10_001, ("10,001", "10,000")),
        (LimitConfig(limit_id="es", type="expected_shortfall", hard=12_000), "expected_shortfall", 12_000, 12_001,
         ("12,001", "12,000")),
    ],
)  # fmt: skip
def test_book_limits_block_growing_orders_and_let_reducing_ones_through(
    limit: LimitConfig, setter: str, at: float, over: float, texts: tuple[str, str]
) -> None:
    risk = checker(limit)  # day start = peak = 100,000

    def put(value: float) -> None:
        if setter == "set_equity":
            risk.set_equity(value)
        else:
            risk.set_risk(**{setter: value})

    put(at)
    assert risk.check(buy("AAPL.XNAS", 10, 100.0)).action == "accept"
    put(over)
    decision = risk.check(buy("AAPL.XNAS", 10, 100.0))
    assert decision.action == "reject" and f"value {texts[0]} > threshold {texts[1]}" in decision.reason
    assert risk.check(sell("AAPL.XNAS", 10, 100.0)).action == "accept"  # reduces the long


def test_a_new_day_resets_the_daily_loss() -> None:
    risk = checker(LimitConfig(limit_id="day", type="daily_loss", hard=5_000))
    risk.set_equity(90_000)
    assert risk.check(buy("AAPL.XNAS", 1, 100.0)).action == "reject"
    risk.start_day()
    assert risk.check(buy("AAPL.XNAS", 1, 100.0)).action == "accept"


def test_order_rate_counts_accepted_orders_in_a_sliding_window() -> None:
    risk = checker(LimitConfig(limit_id="per-second", type="order_rate", hard=3),
                   LimitConfig(limit_id="per-minute", type="order_rate", window_seconds=60, hard=5),
                   LimitConfig(limit_id="size", type="order_quantity", hard=100))  # fmt: skip
    at = [risk.check(buy("MSFT.XNAS", 1, 1.0, timestamp=t)).action for t in (0.0, 0.2, 0.4)]
    assert at == ["accept"] * 3
    fourth = risk.check(buy("MSFT.XNAS", 1, 1.0, timestamp=0.6))
    assert fourth.action == "reject" and "value 4 > threshold 3" in fourth.reason
    # A rejected order does not count: at t=1.0 the order of t=0 has left the window, 2 remain.
    assert risk.check(buy("MSFT.XNAS", 1_000, 1.0, timestamp=1.0)).breaches[0].limit_id == "size"
    assert risk.check(buy("MSFT.XNAS", 1, 1.0, timestamp=1.0)).action == "accept"
    assert risk.check(buy("MSFT.XNAS", 1, 1.0, timestamp=2.5)).action == "accept"  # 5th in the minute
    sixth = risk.check(buy("MSFT.XNAS", 1, 1.0, timestamp=3.0))
    assert sixth.breaches[0].limit_id == "per-minute" and "value 6 > threshold 5" in sixth.reason


def test_price_collar_in_basis_points_and_percent() -> None:
    risk = checker(LimitConfig(limit_id="collar", type="price_collar", hard=100))
    assert_blocks_at(risk, buy("AAPL.XNAS", 1, 100.0, limit_price=101.0), buy("AAPL.XNAS", 1, 100.0, limit_price=101.01),
                     "collar", "101", "100")  # fmt: skip
    assert risk.check(sell("AAPL.XNAS", 1, 100.0, limit_price=98.99)).action == "reject"
    assert risk.check(buy("AAPL.XNAS", 1, 100.0)).action == "accept"  # market orders have no limit price
    risk = checker(LimitConfig(limit_id="collar", type="price_collar", unit="percent", hard=2))
    assert_blocks_at(risk, buy("AAPL.XNAS", 1, 100.0, limit_price=98.0), buy("AAPL.XNAS", 1, 100.0, limit_price=97.9),
                     "collar", "2.1", "2")  # fmt: skip


def test_exposure_limits_let_an_order_that_reduces_an_over_limit_book_through() -> None:
    risk = checker(LimitConfig(limit_id="gross", type="gross_exposure", hard=35_000))  # the book holds 40,000
    assert risk.check(sell("AAPL.XNAS", 10, 100.0)).action == "accept"
    assert risk.check(buy("AAPL.XNAS", 10, 100.0)).action == "reject"


def test_an_instrument_limit_does_not_touch_another_instrument() -> None:
    risk = checker(LimitConfig(limit_id="aapl", type="position", scope="instrument", target="AAPL.XNAS", hard=500))
    assert risk.check(buy("AAPL.XNAS", 201, 100.0)).action == "reject"
    assert risk.check(buy("MSFT.XNAS", 1_000_000, 1.0)).action == "accept"


def test_a_sector_limit_measures_the_sector_and_ignores_other_sectors() -> None:
    risk = checker(LimitConfig(limit_id="technology", type="gross_exposure", scope="sector", target="Technology",
                               hard=50_000))  # fmt: skip
    assert_blocks_at(risk, buy("MSFT.XNAS", 20_000, 1.0), buy("MSFT.XNAS", 20_001, 1.0), "technology", "50,001", "50,000")
    assert risk.check(sell("XOM.XNYS", 10_000, 50.0)).action == "accept"  # Energy


def test_a_strategy_limit_measures_the_strategy_own_positions() -> None:
    risk = checker(LimitConfig(limit_id="alpha", type="position", scope="strategy", target="Alpha", hard=50),
                   LimitConfig(limit_id="alpha-gross", type="gross_exposure", scope="strategy", target="Alpha",
                               hard=31_000))  # fmt: skip
    risk.on_fill("MSFT.XNAS", "Beta", "BUY", 40, 1.0)
    # Alpha holds no MSFT of its own: 50 is within, 51 is over, whatever Beta holds.
    assert_blocks_at(risk, buy("MSFT.XNAS", 50, 1.0), buy("MSFT.XNAS", 51, 1.0), "alpha", "51", "50")
    assert risk.check(buy("MSFT.XNAS", 51, 1.0, strategy="Beta")).action == "accept"
    # Alpha's gross: 30,000 of AAPL + 1,000 = 31,000.
    assert risk.check(buy("XOM.XNYS", 20, 50.0)).action == "accept"
    assert risk.check(buy("XOM.XNYS", 21, 50.0)).breaches[0].limit_id == "alpha-gross"


def test_incremental_sums_match_a_recount_after_random_fills_and_prices() -> None:
    generator = random.Random(7)
    risk = checker()
    for _ in range(2_000):
        instrument = generator.choice(list(SECTORS))
        if generator.random() < 0.5:
            risk.on_price(instrument, generator.uniform(1, 200))
        else:
            risk.on_fill(instrument, generator.choice(["Alpha", "Beta"]), generator.choice(["BUY", "SELL"]),
                         generator.randint(1, 50), generator.uniform(1, 200))  # fmt: skip
    summary = risk.summary()
    frame = risk.positions()
    by_instrument = frame.groupby("instrument_id")["exposure"].sum()
    assert summary.gross_exposure == pytest.approx(by_instrument.abs().sum(), rel=1e-9)
    assert summary.net_exposure == pytest.approx(frame["exposure"].sum(), rel=1e-9, abs=1e-6)
    sectors = by_instrument.abs().groupby(pd.Series(SECTORS)).sum()
    for sector, gross in sectors.items():
        assert summary.sector_gross[sector] == pytest.approx(gross, rel=1e-9)
    for strategy, group in frame.groupby("strategy_id"):
        assert summary.strategy_gross[strategy] == pytest.approx(group["exposure"].abs().sum(), rel=1e-9)


def test_an_edit_of_the_book_applies_to_the_next_check() -> None:
    risk = checker()
    order = buy("MSFT.XNAS", 1_000, 1.0)
    assert risk.check(order).action == "accept"
    risk.book.set_limit(LimitConfig(limit_id="size", type="order_quantity", hard=999), actor="risk.officer")
    assert risk.check(order).action == "reject"
    risk.book.remove_limit("size", actor="risk.officer")
    assert risk.check(order).action == "accept"


def test_breaches_and_rejections_reach_the_audit_trail(tmp_path: Path) -> None:
    audit = AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    risk = checker(LimitConfig(limit_id="size", type="order_quantity", soft=10, hard=20), audit=audit)
    risk.check(buy("MSFT.XNAS", 5, 1.0))
    risk.check(buy("MSFT.XNAS", 15, 1.0))
    risk.check(buy("MSFT.XNAS", 25, 1.0))
    assert audit.records().empty  # queued, not written on the order path
    assert risk.flush_audit() == 2
    records = audit.records()
    assert list(records["kind"]) == ["breach", "rejection"]
    assert list(records["actor"]) == ["Alpha", "Alpha"] and set(records["limit_id"]) == {"size"}
    rejection = records["details"].iloc[1]
    assert (rejection["value"], rejection["threshold"], rejection["level"]) == (25, 20, "hard")
    assert rejection["order"]["instrument_id"] == "MSFT.XNAS"
    assert risk.flush_audit() == 0


@pytest.mark.parametrize(
    ("order", "named"),
    [
        (Order("AAPL.XNAS", "Alpha", "HOLD", 1, 100.0), "'HOLD'"),
        (Order("AAPL.XNAS", "Alpha", "BUY", 0, 100.0), "quantity 0"),
        (Order("AAPL.XNAS", "Alpha", "BUY", 1, float("nan")), "nan"),
    ],
)
def test_an_unusable_order_is_named(order: Order, named: str) -> None:
    with pytest.raises(QuantDeskError, match=named):
        checker().check(order)
