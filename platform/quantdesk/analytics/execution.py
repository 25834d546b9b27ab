"""Execution quality from fills: slippage, implementation shortfall and market impact by order size.

Backtests (:func:`quantdesk.backtest.extract.fills_table`) and live trading
(:meth:`quantdesk.store.trades.TradeHistory.fills`) name their fill columns differently;
:func:`standard_fills` maps both to one table, so everything after it is shared.

Signs: costs are positive. A buy filled above its benchmark price and a sell filled below
it have positive slippage. Money amounts are price x quantity (no contract multiplier) plus
commissions, so mix instruments only when their multipliers are 1 and currencies agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quantdesk.analytics.inputs import require_columns
from quantdesk.errors import QuantDeskError

if TYPE_CHECKING:
    from quantdesk.store.trades import TradeHistory

BASIS_POINTS = 1e4
FILL_COLUMNS = ["time", "instrument_id", "client_order_id", "side", "quantity", "price", "commission"]
# Each source's column -> the standard column; quantities of backtest fills are signed.
BACKTEST_FILLS = {"ts_event": "time", "side": "side", "quantity": "quantity", "price": "price"}
LIVE_FILLS = {"ts_event": "time", "order_side": "side", "last_qty": "quantity", "last_px": "price"}
# Order tables: backtest orders_table uses ts_init/ts_last, TradeHistory.orders() last_event_time.
SUBMITTED_NAMES = ("submitted", "ts_init")
ENDED_NAMES = ("ended", "ts_last", "last_event_time")
PARTICIPATION_EDGES = (0.0, 0.01, 0.05, 0.10, 0.25, np.inf)

PriceTable = Mapping[str, pd.Series] | pd.DataFrame


def standard_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """Return fills of a backtest or of live trading under :data:`FILL_COLUMNS`.

    ``quantity`` is positive and ``side`` is ``BUY`` or ``SELL``. A backtest's
    ``fills_table`` (columns ``side``, signed ``quantity``, ``price``) and a
    ``TradeHistory.fills()`` frame (``order_side``, ``last_qty``, ``last_px``) are recognized.

    Raises
    ------
    QuantDeskError
        When a column either source needs is missing, or a side is not BUY/SELL.
    """
    if not isinstance(fills, pd.DataFrame):
        raise QuantDeskError(f"fills is a {type(fills).__name__}: pass a fills DataFrame")
    names = LIVE_FILLS if "order_side" in fills.columns else BACKTEST_FILLS
    require_columns(fills, [*names, "instrument_id", "client_order_id", "commission"], "fills")
    table = fills.rename(columns=names)[FILL_COLUMNS].copy()
    table["time"] = pd.to_datetime(table["time"], utc=True)
    table["quantity"] = table["quantity"].astype("float64").abs()
    table["price"] = table["price"].astype("float64")
    table["commission"] = table["commission"].astype("float64")
    bad = ~table["side"].isin(["BUY", "SELL"])
    if bad.any():
        raise QuantDeskError(f"fills has side {table['side'][bad].iloc[0]!r}: sides must be 'BUY' or 'SELL'")
    return table.reset_index(drop=True)


def _first_column(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((name for name in names if name in frame.columns), None)


def order_fills(fills: pd.DataFrame, orders: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per order: what was asked, what was filled, at what average price.

    Parameters
    ----------
    fills : pandas.DataFrame
        Backtest or live fills (see :func:`standard_fills`).
    orders : pandas.DataFrame, optional
        One row per order with ``client_order_id``, ``instrument_id``, ``side`` and
        ``quantity`` (the quantity ordered), and optionally a submission time (``submitted``
        or ``ts_init``) and an end time (``ended``, ``ts_last`` or ``last_event_time``):
        a backtest's ``orders_table`` or :func:`live_orders` of the live store. Without it each order
        is taken as filled in full, submitted at its first fill and ended at its last.
        Orders without fills count as unfilled.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``client_order_id``: ``instrument_id``, ``side``, ``submitted``,
        ``ended``, ``order_quantity``, ``filled_quantity``, ``average_price``, ``commission``.
    """
    table = standard_fills(fills)
    table["notional"] = table["quantity"] * table["price"]
    grouped = table.groupby("client_order_id", sort=False)
    executed = grouped.agg(
        instrument_id=("instrument_id", "first"), side=("side", "first"), first_fill=("time", "min"),
        last_fill=("time", "max"), filled_quantity=("quantity", "sum"), notional=("notional", "sum"),
        commission=("commission", "sum"),
    )  # fmt: skip
    executed["average_price"] = executed["notional"] / executed["filled_quantity"]
    if orders is None:
        executed["order_quantity"] = executed["filled_quantity"]
        executed["submitted"], executed["ended"] = executed["first_fill"], executed["last_fill"]
    else:
        if not isinstance(orders, pd.DataFrame):
            raise QuantDeskError(f"orders is a {type(orders).__name__}: pass an orders DataFrame")
        require_columns(orders, ["client_order_id", "instrument_id", "side", "quantity"], "orders")
        asked = orders.drop_duplicates("client_order_id", keep="last").set_index("client_order_id")
        unknown = executed.index.difference(asked.index)
        if len(unknown):
            raise QuantDeskError(f"fills of order {unknown[0]!r} have no row in orders: pass every filled order")
        executed = executed.drop(columns=["instrument_id", "side"]).reindex(asked.index)
        executed[["instrument_id", "side"]] = asked[["instrument_id", "side"]]
        executed["order_quantity"] = asked["quantity"].astype("float64")
        executed[["filled_quantity", "commission"]] = executed[["filled_quantity", "commission"]].fillna(0.0)
        submitted, ended = _first_column(asked, SUBMITTED_NAMES), _first_column(asked, ENDED_NAMES)
        executed["submitted"] = pd.to_datetime(asked[submitted], utc=True) if submitted else executed["first_fill"]
        executed["ended"] = pd.to_datetime(asked[ended], utc=True) if ended else executed["last_fill"]
        if executed["submitted"].isna().any():
            order = executed.index[executed["submitted"].isna()][0]
            raise QuantDeskError(f"order {order!r} has no submission time and no fill: add a 'submitted' column")
        executed["ended"] = executed["ended"].fillna(executed["submitted"])
    columns = ["instrument_id", "side", "submitted", "ended", "order_quantity", "filled_quantity", "average_price",
               "commission"]  # fmt: skip
    executed = executed[columns]
    executed.index.name = "client_order_id"
    return executed


def live_orders(
    history: TradeHistory, instrument_id: str | None = None, strategy_id: str | None = None
) -> pd.DataFrame:
    """Return ``history.orders()`` with a ``submitted`` column: the time of each order's first event.

    The live store keeps each order's latest state; its first event (``OrderInitialized``)
    dates the submission, which the arrival price needs.
    """
    orders = history.orders(instrument_id=instrument_id, strategy_id=strategy_id)
    events = history.order_events(instrument_id=instrument_id, strategy_id=strategy_id)
    first = events.groupby("client_order_id")["ts_event"].min()
    return orders.assign(submitted=orders["client_order_id"].map(first))


def price_at(prices: PriceTable, instrument_ids: Sequence[str], times: Sequence[pd.Timestamp]) -> np.ndarray:
    """Return each instrument's last price at or before each time (the prevailing price then).

    Parameters
    ----------
    prices : mapping of str to Series, or DataFrame
        Instrument id -> prices on a DatetimeIndex (bar closes, quote mids or trades), or a
        DataFrame with one column per instrument.

    Raises
    ------
    QuantDeskError
        When an instrument has no prices, or none at or before the time asked.
    """
    found = np.full(len(instrument_ids), np.nan)
    for position, (instrument_id, time) in enumerate(zip(instrument_ids, times, strict=True)):
        if instrument_id not in prices:
            raise QuantDeskError(f"prices has no series for instrument {instrument_id!r}: add its prices")
        series = prices[instrument_id].dropna().sort_index()
        if series.index.tz is None:
            series = series.tz_localize("UTC")
        if series.empty or series.index[0] > time:
            raise QuantDeskError(
                f"prices of {instrument_id!r} start after {time}: pass prices from before the first order"
            )
        found[position] = series.asof(time)
    return found


def execution_costs(
    fills: pd.DataFrame,
    prices: PriceTable,
    orders: pd.DataFrame | None = None,
    decision_prices: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Return slippage and implementation shortfall per order.

    With ``s`` = +1 for buys and -1 for sells, average fill price ``p``, arrival price ``a``
    (the prevailing price at submission, from ``prices``), decision price ``d`` (the price
    when the order was decided; the arrival price when none is given), end price ``e`` (the
    prevailing price when the order ended), ordered quantity ``Q`` and filled quantity ``q``:

    - ``arrival_slippage_bps`` = ``s * (p - a) / a * 10000``
    - ``decision_slippage_bps`` = ``s * (p - d) / d * 10000`` (NaN without a decision price)
    - Perold's implementation shortfall against a paper portfolio traded at ``d``:
      ``execution_cost`` = ``s * (p - d) * q``, ``opportunity_cost`` = ``s * (e - d) * (Q - q)``,
      ``fees`` = commissions, ``shortfall`` = their sum, ``shortfall_bps`` = shortfall over
      ``d * Q`` in basis points.

    Parameters
    ----------
    fills : pandas.DataFrame
        Backtest or live fills (see :func:`standard_fills`).
    prices : mapping of str to Series, or DataFrame
        Prices per instrument (see :func:`price_at`).
    orders : pandas.DataFrame, optional
        Ordered quantities and times (see :func:`order_fills`); needed for unfilled
        quantities and their opportunity cost.
    decision_prices : mapping or Series, optional
        Client order id -> the price when the order was decided.
    """
    executed = order_fills(fills, orders)
    side = np.where(executed["side"] == "BUY", 1.0, -1.0)
    arrival = price_at(prices, executed["instrument_id"].tolist(), executed["submitted"].tolist())
    end = price_at(prices, executed["instrument_id"].tolist(), executed["ended"].tolist())
    decided = pd.Series(dtype="float64") if decision_prices is None else pd.Series(decision_prices, dtype="float64")
    unknown = decided.index.difference(executed.index)
    if len(unknown):
        raise QuantDeskError(f"decision_prices names order {unknown[0]!r}, which is not among the orders")
    decision = decided.reindex(executed.index).to_numpy()
    benchmark = np.where(np.isnan(decision), arrival, decision)
    average, filled, ordered = (executed[c].to_numpy() for c in ("average_price", "filled_quantity", "order_quantity"))
    costs = executed.copy()
    costs["arrival_price"], costs["decision_price"], costs["end_price"] = arrival, decision, end
    costs["arrival_slippage_bps"] = side * (average - arrival) / arrival * BASIS_POINTS
    costs["decision_slippage_bps"] = side * (average - decision) / decision * BASIS_POINTS
    costs["paper_notional"] = benchmark * ordered
    costs["execution_cost"] = np.where(filled > 0, side * (average - benchmark) * filled, 0.0)
    costs["opportunity_cost"] = side * (end - benchmark) * (ordered - filled)
    costs["fees"] = executed["commission"]
    costs["shortfall"] = costs["execution_cost"] + costs["opportunity_cost"] + costs["fees"]
    costs["shortfall_bps"] = costs["shortfall"] / costs["paper_notional"] * BASIS_POINTS
    return costs


def shortfall_summary(costs: pd.DataFrame) -> pd.Series:
    """Aggregate :func:`execution_costs` over orders.

    Money columns are summed; ``shortfall_bps`` is total shortfall over total paper
    notional; ``arrival_slippage_bps`` is the filled-notional-weighted mean over filled orders.
    """
    require_columns(costs, ["order_quantity", "filled_quantity", "average_price", "paper_notional", "execution_cost",
                            "opportunity_cost", "fees", "shortfall", "arrival_slippage_bps"], "costs")  # fmt: skip
    filled = costs[costs["filled_quantity"] > 0]
    weights = filled["filled_quantity"] * filled["average_price"]
    return pd.Series(
        {
            "orders": len(costs),
            "filled_share": float(costs["filled_quantity"].sum() / costs["order_quantity"].sum()),
            "paper_notional": float(costs["paper_notional"].sum()),
            "execution_cost": float(costs["execution_cost"].sum()),
            "opportunity_cost": float(costs["opportunity_cost"].sum()),
            "fees": float(costs["fees"].sum()),
            "shortfall": float(costs["shortfall"].sum()),
            "shortfall_bps": float(costs["shortfall"].sum() / costs["paper_notional"].sum() * BASIS_POINTS),
            "arrival_slippage_bps": float(np.average(filled["arrival_slippage_bps"], weights=weights))
            if len(filled) else float("nan"),
        }
    )  # fmt: skip


def impact_by_size(
    costs: pd.DataFrame,
    average_daily_volume: Mapping[str, float] | pd.Series | None = None,
    buckets: int | Sequence[float] | None = None,
) -> pd.DataFrame:
    """Return mean arrival slippage per bucket of order size: market impact as orders grow.

    With ``average_daily_volume`` (instrument -> shares a day) orders are bucketed by
    participation, ordered quantity / ADV, at the edges ``buckets`` (default 1%, 5%, 10%,
    25%). Without it they are bucketed by ordered quantity into ``buckets`` quantiles
    (default 4). Only filled orders count.

    Returns
    -------
    pandas.DataFrame
        One row per bucket: ``orders``, ``mean_size``, ``mean_slippage_bps``,
        ``weighted_slippage_bps`` (by filled notional) and ``median_slippage_bps``.
    """
    require_columns(costs, ["instrument_id", "order_quantity", "filled_quantity", "arrival_slippage_bps"], "costs")
    filled = costs[costs["filled_quantity"] > 0].copy()
    if filled.empty:
        raise QuantDeskError("no order was filled: market impact needs filled orders")
    if average_daily_volume is not None:
        volume = pd.Series(average_daily_volume, dtype="float64")
        lacking = sorted(set(filled["instrument_id"]) - set(volume.index[volume > 0]))
        if lacking:
            raise QuantDeskError(f"average_daily_volume has no positive volume for {lacking[0]!r}: add it")
        filled["size"] = filled["order_quantity"] / filled["instrument_id"].map(volume)
        edges = PARTICIPATION_EDGES if buckets is None else buckets
        if isinstance(edges, int):
            raise QuantDeskError(
                "with average_daily_volume pass buckets as participation edges, e.g. [0, 0.01, 0.1, 1]"
            )
        filled["bucket"] = pd.cut(filled["size"], bins=list(edges), include_lowest=True)
    else:
        filled["size"] = filled["order_quantity"]
        count = 4 if buckets is None else buckets
        if not isinstance(count, int) or count < 1:
            raise QuantDeskError(f"buckets={buckets!r}: without average_daily_volume pass a number of quantiles")
        filled["bucket"] = pd.qcut(filled["size"], q=count, duplicates="drop")
    filled["notional"] = filled["filled_quantity"] * filled["average_price"]
    rows = {}
    for bucket, group in filled.groupby("bucket", observed=True, sort=True):
        rows[bucket] = {
            "orders": len(group),
            "mean_size": float(group["size"].mean()),
            "mean_slippage_bps": float(group["arrival_slippage_bps"].mean()),
            "weighted_slippage_bps": float(np.average(group["arrival_slippage_bps"], weights=group["notional"])),
            "median_slippage_bps": float(group["arrival_slippage_bps"].median()),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "participation" if average_daily_volume is not None else "quantity"
    return table
