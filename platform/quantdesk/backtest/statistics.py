"""Equity curve and summary statistics of a finished run, computed from its fills.

Everything here is vectorized over the run's fills and bar closes, so it costs a
few milliseconds however many bars the run had.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.analytics.returns import TRADING_DAYS, annual_volatility, drawdown, sharpe_ratio, sortino_ratio
from quantdesk.config.backtest import BacktestSpec

__all__ = ["TRADING_DAYS", "daily_returns", "drawdown", "equity_curve", "monthly_returns", "nautilus_statistics",
           "summarize", "unrealized_pnl"]  # fmt: skip


def equity_curve(starting_capital: float, fills: pd.DataFrame, closes: dict[str, pd.Series]) -> pd.Series:
    """Mark the account to market at every bar close.

    equity(t) = starting capital - sum of (signed quantity x price + commission) of fills
    up to t + sum over instruments of position(t) x close(t).

    Parameters
    ----------
    starting_capital : float
    fills : pandas.DataFrame
        Output of :func:`quantdesk.backtest.extract.fills_table`.
    closes : dict of str to Series
        Close prices per instrument id, indexed by bar close time.
    """
    stamps = np.unique(np.concatenate([s.index.asi8 for s in closes.values()]))
    timeline = pd.DatetimeIndex(pd.to_datetime(stamps, unit="ns", utc=True), name="time")
    equity = pd.Series(float(starting_capital), index=timeline)
    if fills.empty:
        return equity.rename("equity")
    cash_flow = -(fills["quantity"] * fills["price"]) - fills["commission"]
    fill_times = pd.DatetimeIndex(fills["ts_event"])
    # Fills stamped at a bar's close belong to that bar: count them at or before it.
    position_at = np.searchsorted(timeline.asi8, fill_times.asi8, side="left")
    slot = np.minimum(position_at, len(timeline) - 1)
    equity += np.cumsum(np.bincount(slot, weights=cash_flow.to_numpy(), minlength=len(timeline)))
    for instrument_id, close in closes.items():
        mine = (fills["instrument_id"] == instrument_id).to_numpy()
        held = np.bincount(slot[mine], weights=fills["quantity"].to_numpy()[mine], minlength=len(timeline))
        marks = close.reindex(timeline).ffill().fillna(0.0).to_numpy()
        equity += np.cumsum(held) * marks
    return equity.rename("equity")


def unrealized_pnl(positions: pd.DataFrame, closes: dict[str, pd.Series]) -> float:
    """Return the open positions' P&L against each instrument's last close."""
    if positions.empty:
        return 0.0
    total = 0.0
    for row in positions[positions["is_open"].astype(bool)].itertuples():
        sign = 1.0 if row.entry == "BUY" else -1.0
        last = closes[row.instrument_id].iloc[-1]
        total += sign * row.open_quantity * (last - row.avg_px_open)
    return total


def daily_returns(equity: pd.Series) -> pd.Series:
    """Return returns of the end-of-day equity (intraday curves are sampled at each day's last bar)."""
    daily = equity.groupby(equity.index.normalize()).last()
    return daily.pct_change().dropna()


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return a year x month table of compounded returns."""
    month_end = equity.groupby([equity.index.year, equity.index.month]).last()
    previous = month_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    returns = (month_end / previous - 1.0).rename("return")
    returns.index.names = ["year", "month"]
    return returns.unstack("month").reindex(columns=range(1, 13))


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def summarize(
    spec: BacktestSpec,
    equity: pd.Series,
    fills: pd.DataFrame,
    positions: pd.DataFrame,
    ending_balance: float,
    unrealized_pnl: float,
) -> dict[str, Any]:
    """Return the run's headline numbers as plain JSON-able values."""
    returns = daily_returns(equity)
    years = max((equity.index[-1] - equity.index[0]).days / 365.25, 1 / 365.25) if len(equity) > 1 else float("nan")
    ending = float(equity.iloc[-1])
    total_return = ending / spec.starting_capital - 1.0
    # The ratios' definitions live in quantdesk.analytics; a run too short or broken to have
    # them (no returns, an infinite one after a zero equity) reports None.
    measurable = len(returns) > 0 and bool(np.isfinite(returns.to_numpy()).all())
    dd = drawdown(equity)
    closed = positions[~positions["is_open"].astype(bool)] if len(positions) else positions
    wins = closed["realized_pnl"][closed["realized_pnl"] > 0] if len(closed) else pd.Series(dtype=float)
    losses = closed["realized_pnl"][closed["realized_pnl"] < 0] if len(closed) else pd.Series(dtype=float)
    cagr = (ending / spec.starting_capital) ** (1.0 / years) - 1.0 if ending > 0 and years == years else float("nan")
    max_dd = float(dd.min()) if len(dd) else 0.0
    return {
        "starting_capital": spec.starting_capital,
        "ending_equity": ending,
        "ending_balance": ending_balance,
        # Nautilus books commissions into realized P&L; report it gross so that
        # ending equity = starting capital + realized + unrealized - commissions.
        "realized_pnl": float((positions["realized_pnl"] + positions["commissions"]).sum()) if len(positions) else 0.0,
        "unrealized_pnl": unrealized_pnl,
        "commissions": float(fills["commission"].sum()) if len(fills) else 0.0,
        "total_return": total_return,
        "cagr": _finite(cagr),
        "annual_volatility": _finite(annual_volatility(returns, TRADING_DAYS)) if measurable else None,
        "sharpe": _finite(sharpe_ratio(returns, 0.0, TRADING_DAYS)) if measurable else None,
        "sortino": _finite(sortino_ratio(returns, 0.0, TRADING_DAYS)) if measurable else None,
        "max_drawdown": max_dd,
        "calmar": _finite(cagr / -max_dd) if max_dd < 0 else None,
        "round_trips": int(len(closed)),
        "win_rate": _finite(len(wins) / len(closed)) if len(closed) else None,
        "profit_factor": _finite(wins.sum() / -losses.sum()) if len(losses) and losses.sum() < 0 else None,
        "fills": int(len(fills)),
        "first_bar": equity.index[0].isoformat() if len(equity) else None,
        "last_bar": equity.index[-1].isoformat() if len(equity) else None,
    }


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _mean_or_nan(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _account_daily_returns(balances: pd.Series) -> pd.Series:
    """Daily returns of the account balance, as Nautilus's analyzer derives its portfolio returns."""
    if len(balances) < 2:
        return pd.Series(dtype="float64")
    daily = balances.groupby(balances.index.normalize()).last()
    if len(daily) < 2:
        return pd.Series(dtype="float64")
    returns = daily.resample("D").last().ffill().pct_change().replace([np.inf, -np.inf], np.nan).dropna()
    return returns.astype("float64")


def nautilus_statistics(
    positions: pd.DataFrame, balances: pd.Series, starting_balance: float, trading_days: int = TRADING_DAYS
) -> dict[str, float | None]:
    """Return the statistics Nautilus's ``PortfolioAnalyzer`` reports for a run, computed after it.

    The platform turns Nautilus's analyzer off during runs (it concatenates a pandas Series per
    closed trade) and computes the same numbers here, vectorized, under the analyzer's names
    and with its definitions: P&L statistics over the positions' realized P&L (net of
    commissions), returns statistics over the account balance's daily returns, and the
    share of positions entered long. NaN values (no losers, fewer than two days) become None.

    Parameters
    ----------
    positions : pandas.DataFrame
        Output of :func:`quantdesk.backtest.extract.positions_table`.
    balances : pandas.Series
        Output of :func:`quantdesk.backtest.extract.balances_table`.
    starting_balance : float
    trading_days : int
        Annualization periods of Sharpe, Sortino and volatility (Nautilus's default, 252).
    """
    pnls = positions["realized_pnl"].to_numpy(dtype="float64") if len(positions) else np.empty(0)
    winners, losers = pnls[pnls > 0], pnls[pnls < 0]
    ending_balance = float(balances.iloc[-1]) if len(balances) else starting_balance
    decided = winners.size + losers.size
    average_winner, average_loser = _mean_or_nan(winners), _mean_or_nan(losers)
    if not pnls.size:
        expectancy = float("nan")
    elif decided:
        expectancy = (np.nan_to_num(average_winner) * winners.size + np.nan_to_num(average_loser) * losers.size) / decided
    else:
        expectancy = 0.0

    returns = _account_daily_returns(balances).to_numpy()
    daily_std = returns.std(ddof=1) if returns.size >= 2 else float("nan")
    mean = _mean_or_nan(returns)
    downside = math.sqrt(np.sum(returns[returns < 0] ** 2) / returns.size) if returns.size else float("nan")
    gains, pains = returns[returns > 0].sum(), returns[returns < 0].sum()
    meaningful_std = daily_std if daily_std >= np.finfo(float).eps else float("nan")
    annualizer = math.sqrt(trading_days)
    long_ratio = round(float((positions["entry"] == "BUY").mean()), 2) if len(positions) else None
    statistics = {
        "PnL (total)": ending_balance - starting_balance,
        "PnL% (total)": (ending_balance - starting_balance) / starting_balance * 100 if starting_balance else 0.0,
        "Max Winner": winners.max() if winners.size else float("nan"),
        "Avg Winner": average_winner,
        "Min Winner": winners.min() if winners.size else float("nan"),
        "Min Loser": losers.max() if losers.size else float("nan"),
        "Avg Loser": average_loser,
        "Max Loser": losers.min() if losers.size else float("nan"),
        "Expectancy": expectancy,
        # Nautilus counts break-even trades as losses here (but not in Expectancy).
        "Win Rate": winners.size / pnls.size if pnls.size else float("nan"),
        f"Returns Volatility ({trading_days} days)": daily_std * annualizer,
        "Average (Return)": mean,
        "Average Loss (Return)": _mean_or_nan(returns[returns < 0]),
        "Average Win (Return)": _mean_or_nan(returns[returns > 0]),
        f"Sharpe Ratio ({trading_days} days)": mean / meaningful_std * annualizer,
        f"Sortino Ratio ({trading_days} days)": mean / downside * annualizer if downside >= np.finfo(float).eps else float("nan"),
        "Profit Factor": abs(gains / pains) if pains != 0 else float("nan"),
        "Risk Return Ratio": mean / meaningful_std,
        "Long Ratio": long_ratio,
    }
    return {name: _nan_to_none(value) for name, value in statistics.items()}
