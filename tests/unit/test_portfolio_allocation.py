"""Whole-share allocation and rebalancing plans, checked against hand computations and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.allocation import TradingCosts, allocate_shares, plan_rebalance

WEIGHTS = {"A": 0.5, "B": 0.3, "C": 0.2}
PRICES = {"A": 45.0, "B": 20.0, "C": 7.0}
STOCKS = "/work/shared/data/daily/pyportfolioopt/tests-stock_prices.csv.gz"


def brute_force_lp(weights: dict[str, float], prices: dict[str, float], capital: float) -> tuple[tuple[int, ...], float]:
    """Enumerate every affordable share vector; minimize sum |w C - x p| + leftover (PyPortfolioOpt's objective)."""
    assets = list(weights)
    best, best_objective = None, math.inf
    ranges = [range(int(capital // prices[a]) + 1) for a in assets]
    for shares in itertools.product(*ranges):
        spent = sum(x * prices[a] for x, a in zip(shares, assets))
        if spent > capital:
            continue
        objective = sum(abs(weights[a] * capital - x * prices[a]) for x, a in zip(shares, assets)) + capital - spent
        if objective < best_objective - 1e-9:
            best, best_objective = shares, objective
    return best, capital - sum(x * prices[a] for x, a in zip(best, assets))


def test_greedy_matches_hand_rounding() -> None:
    # Round 1 floors each share count: A 500/45 -> 11 (495), B 300/20 -> 15 (300), C 200/7 -> 28 (196),
    # 9 left. Round 2: weights of what is held are A .4995, B .3027, C .1978, so C (largest deficit,
    # 7 <= 9) gets one more share: 2 left. Next the most underweight is A at 45 > 2: nothing affordable.
    allocation = allocate_shares(WEIGHTS, PRICES, 1000.0, method="greedy")
    assert allocation.method == "greedy"
    assert allocation.shares.to_dict() == {"A": 11, "B": 15, "C": 29}
    assert allocation.leftover_cash == pytest.approx(2.0)
    assert allocation.leftover_cash < min(PRICES.values())
    assert allocation.realized_weights.to_dict() == pytest.approx({"A": 0.495, "B": 0.3, "C": 0.203})


@pytest.mark.parametrize("capital", [1000.0, 437.0, 2513.5])
def test_integer_program_matches_brute_force(capital: float) -> None:
    allocation = allocate_shares(WEIGHTS, PRICES, capital)
    shares, leftover = brute_force_lp(WEIGHTS, PRICES, capital)
    assert allocation.method == "lp"
    assert tuple(allocation.shares[list(WEIGHTS)]) == shares
    assert allocation.leftover_cash == pytest.approx(leftover)
    assert float((allocation.shares * pd.Series(PRICES)).sum()) + allocation.leftover_cash == pytest.approx(capital)


def test_prices_in_another_order_than_weights() -> None:
    # PyPortfolioOpt's integer program pairs weights and prices by position, not by name.
    reordered = {"C": 7.0, "A": 45.0, "B": 20.0, "unused": 1.0}
    assert allocate_shares(WEIGHTS, reordered, 1000.0).shares.to_dict() == {"A": 11, "B": 15, "C": 29}


def test_real_prices_never_spend_more_than_capital() -> None:
    prices = pd.read_csv(STOCKS, index_col=0).iloc[-1]
    weights = pd.Series(np.linspace(1, 2, len(prices)), index=prices.index)
    weights /= weights.sum()
    for method in ("lp", "greedy"):
        allocation = allocate_shares(weights, prices, 25_000.0, method=method)
        spent = float((allocation.shares * prices).sum())
        assert spent <= 25_000.0
        assert allocation.leftover_cash == pytest.approx(25_000.0 - spent)
        assert allocation.weight_error < 0.01
    greedy = allocate_shares(weights, prices, 25_000.0, method="greedy")
    assert greedy.leftover_cash < prices.min()


def test_long_short_allocation_values_each_side_at_its_weight() -> None:
    allocation = allocate_shares({"A": 0.8, "B": 0.5, "C": -0.3}, PRICES, 1000.0)
    value = allocation.shares * pd.Series(PRICES)
    assert allocation.shares["C"] < 0
    assert float(value[value > 0].sum()) <= 1300.0
    assert float(-value[value < 0].sum()) <= 300.0
    assert allocation.leftover_cash == pytest.approx(1000.0 - float(value.sum()))
    assert (allocation.realized_weights - allocation.target_weights).abs().max() < 0.03


def test_rebalance_turns_current_into_target_with_hand_computed_costs() -> None:
    current = {"A": 10, "C": 50, "D": 5}
    prices = {**PRICES, "D": 30.0}
    volume = {"A": 1000.0, "B": 500.0, "C": 2000.0, "D": 100.0}
    volatility = {"A": 0.02, "B": 0.03, "C": 0.01, "D": 0.02}
    costs = TradingCosts(commission_bps=10, commission_per_share=0.01, half_spread_bps=5, impact_coefficient=0.8)
    plan = plan_rebalance(current, WEIGHTS, prices, 2000.0, costs, average_daily_volume=volume, daily_volatility=volatility)

    held = pd.Series(current, dtype=float).reindex(list(prices), fill_value=0.0)
    signed = plan.trades.set_index("asset").apply(lambda row: row.shares if row.side == "buy" else -row.shares, axis=1)
    assert (held + signed.reindex(held.index, fill_value=0)).to_dict() == plan.holdings["final_shares"].to_dict()
    assert plan.holdings.loc["D", "final_shares"] == 0  # held, not in the target: sold
    assert list(plan.trades["side"]) == sorted(plan.trades["side"], reverse=True)  # sells first

    for row in plan.trades.itertuples():
        notional = row.shares * prices[row.asset]
        commission = notional * 10 / 1e4 + row.shares * 0.01
        spread = notional * 5 / 1e4
        impact = 0.8 * volatility[row.asset] * math.sqrt(row.shares / volume[row.asset]) * notional
        assert row.notional == pytest.approx(notional)
        assert (row.commission, row.spread, row.impact) == pytest.approx((commission, spread, impact))
        assert row.cost == pytest.approx(commission + spread + impact)

    final_value = float((plan.holdings["final_shares"] * plan.holdings["price"]).sum())
    assert plan.cash_before == pytest.approx(2000.0 - (10 * 45 + 50 * 7 + 5 * 30))
    assert plan.cash_after == pytest.approx(2000.0 - final_value - plan.total_cost)
    assert plan.cash_after >= 0
    assert plan.turnover == pytest.approx(plan.trades["notional"].sum() / 2000.0)


def test_rebalance_without_costs_reaches_the_whole_share_allocation() -> None:
    plan = plan_rebalance({"A": 3, "B": 40}, WEIGHTS, PRICES, 1000.0)
    assert plan.holdings["final_shares"].to_dict() == allocate_shares(WEIGHTS, PRICES, 1000.0).shares.astype(float).to_dict()
    assert plan.total_cost == 0.0


def test_rebalance_holds_back_cash_for_costs() -> None:
    # Spending all capital on the target would leave 2.0 in cash; 1% costs on ~1000 of buys need ~10.
    plan = plan_rebalance({}, WEIGHTS, PRICES, 1000.0, TradingCosts(commission_bps=100))
    bought = float((plan.holdings["final_shares"] * plan.holdings["price"]).sum())
    assert plan.total_cost == pytest.approx(bought * 0.01)
    assert plan.cash_after >= 0
    assert plan.cash_after == pytest.approx(1000.0 - bought - plan.total_cost)
    assert bought < float((allocate_shares(WEIGHTS, PRICES, 1000.0).shares * pd.Series(PRICES)).sum())


def test_long_only_never_sells_more_than_held() -> None:
    plan = plan_rebalance({"A": 2.6, "B": 10}, {"B": 1.0}, {"A": 45.0, "B": 20.0}, 400.0)
    sold = plan.trades.set_index("asset").loc["A"]
    assert (sold.side, sold.shares) == ("sell", 2)
    assert plan.holdings.loc["A", "final_shares"] == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: allocate_shares(WEIGHTS, {"A": 45.0, "B": 20.0}, 1000.0), "No price for ['C']"),
        (lambda: allocate_shares(WEIGHTS, {**PRICES, "B": 0.0}, 1000.0), "Prices must be positive"),
        (lambda: allocate_shares(WEIGHTS, {**PRICES, "B": float("nan")}, 1000.0), "Prices must be positive"),
        (lambda: allocate_shares(WEIGHTS, PRICES, -5.0), "Capital -5.0 is not a positive amount"),
        (lambda: allocate_shares(WEIGHTS, PRICES, 1000.0, method="round"), "Unknown allocation method 'round'"),
        (lambda: allocate_shares({"A": float("nan")}, PRICES, 1000.0), "not finite"),
        (lambda: plan_rebalance({"A": 1}, {"A": 0.5, "B": -0.5}, PRICES, 100.0), "short weights for ['B']"),
        (lambda: plan_rebalance({"D": 1}, WEIGHTS, PRICES, 100.0), "No price for ['D']"),
        (lambda: plan_rebalance({}, WEIGHTS, PRICES, 100.0, average_daily_volume={"A": 1.0}), "both"),
        (lambda: plan_rebalance({}, WEIGHTS, PRICES, 100.0, average_daily_volume={"A": 1.0},
                                daily_volatility={"A": 0.01, "B": 0.01, "C": 0.01}), "average_daily_volume has no value for ['B', 'C']"),
        (lambda: TradingCosts(half_spread_bps=-1), "half_spread_bps=-1"),
        (lambda: plan_rebalance({}, WEIGHTS, PRICES, 10.0, TradingCosts(commission_per_share=1000.0)), "cannot cover"),
    ],
)
def test_bad_input_is_one_clear_error(call, message: str) -> None:
    with pytest.raises(QuantDeskError, match=None) as raised:
        call()
    assert message in str(raised.value)


def test_an_optimizer_allocation_is_a_target() -> None:
    from quantdesk.portfolio.estimators import expected_returns, risk_model
    from quantdesk.portfolio.optimize import optimize

    history = pd.read_csv(STOCKS, index_col=0, parse_dates=True).iloc[-500:].dropna(axis=1)
    target = optimize(expected_returns(history), risk_model(history), "min_volatility")
    allocation = allocate_shares(target, history.iloc[-1], 100_000.0)
    pd.testing.assert_series_equal(allocation.target_weights, target.weights.astype(float), check_names=False)
    # The integer program's objective (absolute value misses plus leftover cash) is no worse than
    # that of rounding every position down, which is one of the share vectors it chose among.
    prices, wanted = history.iloc[-1], target.weights * 100_000.0
    floored = np.floor(wanted / prices)
    floor_objective = float((wanted - floored * prices).abs().sum() + 100_000.0 - (floored * prices).sum())
    lp_objective = float((wanted - allocation.shares * prices).abs().sum() + allocation.leftover_cash)
    assert lp_objective <= floor_objective + 1e-6
    assert allocation.leftover_cash >= 0
    plan = plan_rebalance({}, target, history.iloc[-1], 100_000.0, TradingCosts(half_spread_bps=2))
    assert plan.holdings["final_shares"].sum() > 0 and plan.cash_after >= 0
