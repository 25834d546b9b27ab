"""Whole-share allocation of target weights, and rebalancing plans with estimated trading costs.

Discrete allocation is PyPortfolioOpt's ``DiscreteAllocation``: its integer program first
(solved by SciPy's HiGHS MILP through cvxpy), its greedy rounding when the program fails.
A rebalancing plan allocates the target in whole shares, turns the difference from the
current holdings into trades, and keeps enough cash back to pay the trades' estimated costs.

Cost model (per trade of ``q`` shares at price ``p``, notional ``N = |q| p``)::

    commission = N * commission_bps / 10,000 + |q| * commission_per_share
    spread     = N * half_spread_bps / 10,000
    impact     = k * sigma * sqrt(|q| / ADV) * N

The impact term is the square-root model of market impact (the price moves against the
trade by about ``k`` daily standard deviations ``sigma`` times the square root of the trade's
share of average daily volume ``ADV``; ``k`` near 1 is the usual empirical estimate). It is
charged only when both ADV and daily volatility are given.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.errors import QuantDeskError

# Rounds of "allocate, estimate costs, hold back the shortfall" before giving up; costs
# change little between rounds, so two or three rounds settle it in practice.
_COST_ROUNDS = 25


@dataclass(frozen=True)
class ShareAllocation:
    """Whole shares that approximate target weights at given prices and capital.

    Attributes
    ----------
    shares : pandas.Series
        Asset -> whole shares (negative for shorts), one entry per target asset.
    prices : pandas.Series
        Asset -> price used.
    capital : float
        Money allocated.
    leftover_cash : float
        Capital not spent (short sales' proceeds count as cash).
    target_weights : pandas.Series
        Asset -> weight asked for.
    realized_weights : pandas.Series
        Asset -> ``shares * price / capital``.
    method : str
        ``lp`` (integer program) or ``greedy`` (used when asked, or when the program failed).
    """

    shares: pd.Series
    prices: pd.Series
    capital: float
    leftover_cash: float
    target_weights: pd.Series
    realized_weights: pd.Series
    method: str

    @property
    def weight_error(self) -> float:
        """Return the root-mean-square difference between realized and target weights."""
        return float(np.sqrt(np.mean((self.realized_weights - self.target_weights) ** 2)))

    def table(self) -> pd.DataFrame:
        """Return one row per asset: shares, price, value, target and realized weight, difference."""
        return pd.DataFrame({
            "shares": self.shares,
            "price": self.prices,
            "value": self.shares * self.prices,
            "target_weight": self.target_weights,
            "realized_weight": self.realized_weights,
            "difference": self.realized_weights - self.target_weights,
        }).rename_axis("asset")


@dataclass(frozen=True)
class TradingCosts:
    """Costs charged on each trade; see the module docstring for the model.

    Parameters
    ----------
    commission_bps : float
        Commission in basis points of notional.
    commission_per_share : float
        Commission in money per share traded (added to ``commission_bps``).
    half_spread_bps : float
        Half the bid-ask spread in basis points: what crossing the spread costs.
    impact_coefficient : float
        ``k`` of the square-root impact model.
    """

    commission_bps: float = 0.0
    commission_per_share: float = 0.0
    half_spread_bps: float = 0.0
    impact_coefficient: float = 1.0

    def __post_init__(self) -> None:
        for name in ("commission_bps", "commission_per_share", "half_spread_bps", "impact_coefficient"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise QuantDeskError(f"TradingCosts.{name}={value!r} is not a number >= 0: give a non-negative cost")

    def estimate(
        self,
        shares: pd.Series,
        prices: pd.Series,
        average_daily_volume: pd.Series | None = None,
        daily_volatility: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Return commission, spread, impact and total cost of trading ``shares`` (signed) at ``prices``.

        Parameters
        ----------
        shares, prices : pandas.Series
            Asset -> shares traded (sign ignored) and price; same index.
        average_daily_volume, daily_volatility : pandas.Series, optional
            Asset -> ADV in shares and daily return standard deviation; impact is charged
            only when both are given.

        Returns
        -------
        pandas.DataFrame
            Columns ``commission``, ``spread``, ``impact``, ``cost``, indexed like ``shares``.
        """
        quantity = shares.abs().astype(float)
        notional = quantity * prices
        commission = notional * self.commission_bps / 1e4 + quantity * self.commission_per_share
        spread = notional * self.half_spread_bps / 1e4
        if average_daily_volume is not None and daily_volatility is not None:
            participation = quantity / average_daily_volume.reindex(quantity.index)
            impact = self.impact_coefficient * daily_volatility.reindex(quantity.index) * np.sqrt(participation) * notional
        else:
            impact = pd.Series(0.0, index=quantity.index)
        return pd.DataFrame({"commission": commission, "spread": spread, "impact": impact,
                             "cost": commission + spread + impact})


@dataclass(frozen=True)
class RebalancingPlan:
    """Trades that turn current holdings into a whole-share target, with their estimated costs.

    Attributes
    ----------
    trades : pandas.DataFrame
        One row per traded asset, sells first: ``asset``, ``side`` (buy/sell), ``shares``
        (positive), ``price``, ``notional``, ``commission``, ``spread``, ``impact``, ``cost``.
    holdings : pandas.DataFrame
        Indexed by asset: ``price``, ``current_shares``, ``final_shares``, ``current_weight``,
        ``target_weight``, ``final_weight`` (weights are fractions of ``capital``).
    capital : float
        Value of the portfolio being rebalanced (holdings plus cash).
    cash_before, cash_after : float
        Cash before the trades, and after the trades and their costs (never negative).
    """

    trades: pd.DataFrame
    holdings: pd.DataFrame
    capital: float
    cash_before: float
    cash_after: float

    @property
    def total_cost(self) -> float:
        """Return the estimated cost of all trades."""
        return float(self.trades["cost"].sum())

    @property
    def turnover(self) -> float:
        """Return traded notional as a fraction of capital."""
        return float(self.trades["notional"].sum() / self.capital)


def allocate_shares(
    target: Any,
    prices: Mapping[str, float] | pd.Series,
    capital: float,
    method: str = "lp",
) -> ShareAllocation:
    """Convert target weights into whole shares at ``prices`` with ``capital`` to spend.

    Long weights are bought with ``capital * sum(long weights)`` and short weights sold for
    ``capital * sum(|short weights|)``, so each asset's value approaches ``weight * capital``.

    Parameters
    ----------
    target : pandas.Series, mapping or Allocation
        Asset -> weight, or an optimizer ``Allocation`` (its ``weights`` are used).
    prices : pandas.Series or mapping
        Asset -> price; every target asset needs a positive price.
    capital : float
        Money to allocate (> 0).
    method : {"lp", "greedy"}
        ``lp`` solves PyPortfolioOpt's integer program (falling back to greedy rounding if it
        fails); ``greedy`` rounds down and then buys one share at a time of the most underweight asset.

    Returns
    -------
    ShareAllocation
    """
    if method not in ("lp", "greedy"):
        raise QuantDeskError(f"Unknown allocation method {method!r}: use 'lp' or 'greedy'")
    weights = _weights(target)
    price = _prices(prices, weights.index)
    _check_capital(capital)
    return _allocate(weights, price, float(capital), method)


def plan_rebalance(
    current: Mapping[str, float] | pd.Series,
    target: Any,
    prices: Mapping[str, float] | pd.Series,
    capital: float | None = None,
    costs: TradingCosts | None = None,
    *,
    average_daily_volume: Mapping[str, float] | pd.Series | None = None,
    daily_volatility: Mapping[str, float] | pd.Series | None = None,
    long_only: bool = True,
    method: str = "lp",
) -> RebalancingPlan:
    """Plan the whole-share trades from ``current`` holdings to ``target`` weights, with their costs.

    The target is allocated in whole shares (:func:`allocate_shares`) with the capital left
    after the trades' estimated costs, so the cash after trading and paying costs is never
    negative. Assets held but absent from the target are sold.

    Parameters
    ----------
    current : pandas.Series or mapping
        Asset -> shares held now (negative for shorts when ``long_only`` is False).
    target : pandas.Series, mapping or Allocation
        Asset -> target weight, or an optimizer ``Allocation``.
    prices : pandas.Series or mapping
        Asset -> price for every held or targeted asset.
    capital : float, optional
        Portfolio value to allocate: holdings' market value plus cash. Default: the holdings'
        market value (no cash added or withdrawn).
    costs : TradingCosts, optional
        Cost model; default: no costs.
    average_daily_volume, daily_volatility : pandas.Series or mapping, optional
        Asset -> ADV in shares and daily return standard deviation, for the impact term;
        give both, covering every traded asset, or neither.
    long_only : bool
        Reject short targets and short holdings; never sell more shares than held.
    method : {"lp", "greedy"}
        Whole-share allocation method (see :func:`allocate_shares`).

    Returns
    -------
    RebalancingPlan
    """
    costs = costs or TradingCosts()
    weights = _weights(target)
    held = _holdings(current)
    if long_only:
        _check_long_only(weights, held)
    assets = list(dict.fromkeys([*weights.index, *held.index]))
    price = _prices(prices, assets)
    weights, held = weights.reindex(assets, fill_value=0.0), held.reindex(assets, fill_value=0.0)
    holdings_value = float((held * price).sum())
    if capital is None:
        capital = holdings_value
    _check_capital(capital)
    volume, volatility = _impact_inputs(average_daily_volume, daily_volatility, assets)

    investable = float(capital)
    for _ in range(_COST_ROUNDS):
        final = _allocate(weights, price, investable, method).shares
        trades = np.rint(final - held)
        if long_only:
            trades = np.maximum(trades, -np.floor(held))  # whole shares only, never more than held
        cost = costs.estimate(trades, price, volume, volatility)
        final = held + trades
        cash_after = capital - float((final * price).sum()) - float(cost["cost"].sum())
        if cash_after >= 0:
            break
        investable += cash_after
        if investable <= 0:
            break
    if cash_after < 0:
        raise QuantDeskError(
            f"Capital {capital:,.2f} cannot cover the target and the trades' estimated costs: "
            "add cash or lower the cost assumptions"
        )
    return _plan(held, final, trades, price, weights, cost, float(capital), capital - holdings_value, cash_after)


def _plan(
    held: pd.Series, final: pd.Series, trades: pd.Series, price: pd.Series, weights: pd.Series,
    cost: pd.DataFrame, capital: float, cash_before: float, cash_after: float,
) -> RebalancingPlan:
    traded = trades != 0
    table = pd.DataFrame({
        "asset": trades.index[traded],
        "side": np.where(trades[traded] > 0, "buy", "sell"),
        "shares": trades[traded].abs().to_numpy().astype("int64"),
        "price": price[traded].to_numpy(),
        "notional": (trades[traded].abs() * price[traded]).to_numpy(),
        **{column: cost.loc[traded, column].to_numpy() for column in ("commission", "spread", "impact", "cost")},
    })
    # Sells come first: they raise the cash the buys spend.
    table = table.sort_values(["side", "asset"], ascending=[False, True], kind="stable").reset_index(drop=True)
    holdings = pd.DataFrame({
        "price": price,
        "current_shares": held,
        "final_shares": final,
        "current_weight": held * price / capital,
        "target_weight": weights,
        "final_weight": final * price / capital,
    }).rename_axis("asset")
    return RebalancingPlan(table, holdings, capital, float(cash_before), float(cash_after))


def _allocate(weights: pd.Series, price: pd.Series, capital: float, method: str) -> ShareAllocation:
    price = price.reindex(weights.index)
    longs, shorts = weights[weights > 0], -weights[weights < 0]
    shares = pd.Series(0, index=weights.index, dtype="int64")
    leftover = capital
    used = "lp" if method == "lp" else "greedy"
    for side, sign in ((longs, 1), (shorts, -1)):
        if side.empty:
            continue
        value = capital * float(side.sum())
        bought, cash, side_method = _long_only_shares(side / side.sum(), price[side.index], value, method)
        shares[side.index] = sign * bought
        # Buying spends cash; a short sale brings in what it sells for.
        leftover -= sign * (value - cash)
        used = "greedy" if side_method == "greedy" else used
    realized = shares * price / capital
    return ShareAllocation(shares, price, capital, float(leftover), weights, realized, used)


def _long_only_shares(weights: pd.Series, price: pd.Series, value: float, method: str) -> tuple[pd.Series, float, str]:
    """Return whole shares for positive weights summing to one, the unspent part of ``value``, and the method used."""
    from pypfopt.discrete_allocation import DiscreteAllocation

    if value < float(price.min()):
        return pd.Series(0, index=weights.index, dtype="int64"), value, method  # not one share is affordable
    if method == "lp":
        allocator = DiscreteAllocation(weights.to_dict(), price, total_portfolio_value=value)
        try:
            # SciPy's HiGHS MILP, not cvxpy's own HIGHS interface: same solver, without its
            # banner printed to the console on first use.
            allocation, _ = allocator.lp_portfolio(solver="SCIPY")
        except Exception as error:  # any solver failure: the greedy rounding always has an answer
            warnings.warn(f"Whole-share integer program failed ({error}); using greedy rounding", stacklevel=3)
        else:
            shares = pd.Series(allocation, dtype="int64").reindex(weights.index, fill_value=0)
            # Recomputed from the shares: the program's own leftover carries solver round-off.
            return shares, value - float((shares * price).sum()), "lp"
    allocator = DiscreteAllocation(weights.to_dict(), price, total_portfolio_value=value)
    allocation, _ = allocator.greedy_portfolio()
    shares = pd.Series(allocation, dtype="int64").reindex(weights.index, fill_value=0)
    return shares, value - float((shares * price).sum()), "greedy"


def _weights(target: Any) -> pd.Series:
    weights = getattr(target, "weights", target)
    try:
        weights = pd.Series(weights, dtype=float)
    except (TypeError, ValueError):
        raise QuantDeskError(f"Target weights {weights!r} are not asset -> number: give a Series, a mapping or an Allocation") from None
    if weights.empty:
        raise QuantDeskError("Target weights are empty: give at least one asset's weight")
    bad = weights[~np.isfinite(weights)]
    if not bad.empty:
        raise QuantDeskError(f"Target weights of {list(bad.index)} are not finite numbers: give a weight for each asset")
    if weights.index.has_duplicates:
        raise QuantDeskError(f"Target weights name {list(weights.index[weights.index.duplicated()])} twice: give each asset once")
    return weights


def _holdings(current: Mapping[str, float] | pd.Series) -> pd.Series:
    try:
        held = pd.Series(current, dtype=float)
    except (TypeError, ValueError):
        raise QuantDeskError(f"Current holdings {current!r} are not asset -> shares: give a Series or a mapping") from None
    bad = held[~np.isfinite(held)]
    if not bad.empty:
        raise QuantDeskError(f"Current holdings of {list(bad.index)} are not finite numbers: give the shares held")
    return held


def _prices(prices: Mapping[str, float] | pd.Series, assets: Any) -> pd.Series:
    try:
        price = pd.Series(prices, dtype=float)
    except (TypeError, ValueError):
        raise QuantDeskError(f"Prices {prices!r} are not asset -> price: give a Series or a mapping") from None
    missing = [asset for asset in assets if asset not in price.index]
    if missing:
        raise QuantDeskError(f"No price for {missing}: give a price for every held or targeted asset")
    price = price.reindex(list(assets))
    bad = price[~(np.isfinite(price) & (price > 0))]
    if not bad.empty:
        raise QuantDeskError(f"Prices must be positive numbers; got {bad.to_dict()}: fix these prices")
    return price


def _check_capital(capital: float) -> None:
    if not isinstance(capital, (int, float, np.number)) or not math.isfinite(capital) or capital <= 0:
        raise QuantDeskError(f"Capital {capital!r} is not a positive amount: give the money to allocate (> 0)")


def _check_long_only(weights: pd.Series, held: pd.Series) -> None:
    if (weights < 0).any():
        raise QuantDeskError(
            f"Target has short weights for {list(weights.index[weights < 0])} in long-only mode: "
            "pass long_only=False or a long-only target"
        )
    if (held < 0).any():
        raise QuantDeskError(
            f"Current holdings are short {list(held.index[held < 0])} in long-only mode: pass long_only=False"
        )


def _impact_inputs(
    average_daily_volume: Mapping[str, float] | pd.Series | None,
    daily_volatility: Mapping[str, float] | pd.Series | None,
    assets: list[str],
) -> tuple[pd.Series | None, pd.Series | None]:
    if average_daily_volume is None and daily_volatility is None:
        return None, None
    if average_daily_volume is None or daily_volatility is None:
        raise QuantDeskError("Market impact needs both average_daily_volume and daily_volatility: give both or neither")
    volume, volatility = pd.Series(average_daily_volume, dtype=float), pd.Series(daily_volatility, dtype=float)
    for name, series, lowest in (("average_daily_volume", volume, "positive"), ("daily_volatility", volatility, "non-negative")):
        missing = [asset for asset in assets if asset not in series.index]
        if missing:
            raise QuantDeskError(f"{name} has no value for {missing}: give one for every held or targeted asset")
        values = series.reindex(assets)
        bad = values[~np.isfinite(values) | (values <= 0 if lowest == "positive" else values < 0)]
        if not bad.empty:
            raise QuantDeskError(f"{name} must be {lowest}; got {bad.to_dict()}: fix these values")
    return volume.reindex(assets), volatility.reindex(assets)
