"""Vectorized screens: every parameter combination of a strategy in compiled loops, the best confirmed on Nautilus.

A strategy can have a *twin* here: a compiled function that reproduces its trades
(same entries and exits, same bars) from an array of closes, without an event engine.
Screening thousands of combinations that way takes seconds; the top few then run as real
Nautilus backtests, and the report shows how far the twin's gross P&L is from Nautilus's
(commissions, and any fill that differs).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numba
import numpy as np
import pandas as pd

from quantdesk.backtest.batch import Progress, run_specs
from quantdesk.backtest.sweep import check_parameters
from quantdesk.catalog import bars_frame, catalog_root, open_catalog
from quantdesk.config.sweep import SweepConfig
from quantdesk.errors import QuantDeskError
from quantdesk.strategies.ema_cross import EMACrossConfig

EMA_CROSS = "quantdesk.strategies.ema_cross:EMACross"
PERIODS = ("fast_period", "slow_period")
# Screen statistics per combination, in the order the compiled kernel fills them.
STATISTICS = ("trades", "gross_pnl", "wins", "gross_profit", "gross_loss")
SCREEN_OBJECTIVES = ("total_return", "profit_factor", "win_rate")
# Columns of ScreenResult.confirmed after the periods.
CONFIRMED_COLUMNS = ("screen_trades", "nautilus_trades", "screen_gross_pnl", "nautilus_gross_pnl", "difference",
                     "commissions", "nautilus_net_pnl", "status", "error", "run_id")


@numba.njit(cache=True, nogil=True)
def _ema_cross_walk(close: np.ndarray, fast: int, slow: int, size: float, trades: np.ndarray, statistics: np.ndarray) -> None:
    """Walk the bars as EMACross does: fill ``statistics`` (see :data:`STATISTICS`) and the first rows of ``trades``.

    The averages are updated exactly as Nautilus's ExponentialMovingAverage does (the first
    value is the first close; ``value = alpha * close + (1 - alpha) * value``; ready after
    ``period`` closes), so that near-ties compare the same way. Once both are ready, a change
    of which average is above buys the up-cross and sells the down-cross at that bar's close;
    an open long is sold at the last close (``close_positions_on_stop``).
    """
    fast_alpha, slow_alpha = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    fast_keep, slow_keep = 1.0 - fast_alpha, 1.0 - slow_alpha
    fast_ema = slow_ema = close[0]
    ready = max(fast, slow) - 1
    state = -1  # which average is above: unknown (-1), slow (0), fast (1)
    entry = -1
    count, wins, profit, loss = 0, 0, 0.0, 0.0
    last = close.size - 1
    for bar in range(close.size):
        price = close[bar]
        fast_ema = fast_alpha * price + fast_keep * fast_ema
        slow_ema = slow_alpha * price + slow_keep * slow_ema
        if bar < ready:
            continue
        above = 1 if fast_ema > slow_ema else 0
        crossed = state != -1 and above != state
        state = above
        if crossed and above == 1:
            entry = bar
        if entry >= 0 and ((crossed and above == 0) or bar == last):
            if count < trades.shape[0]:
                trades[count, 0], trades[count, 1] = entry, bar
            pnl = size * (price - close[entry])
            count += 1
            if pnl > 0:
                wins += 1
                profit += pnl
            else:
                loss -= pnl
            entry = -1
    statistics[0], statistics[1], statistics[2], statistics[3], statistics[4] = count, profit - loss, wins, profit, loss


@numba.njit(parallel=True, cache=True)
def _ema_cross_grid(close: np.ndarray, fasts: np.ndarray, slows: np.ndarray, size: float) -> np.ndarray:
    out = np.full((fasts.size, len(STATISTICS)), np.nan)
    no_trades = np.empty((0, 2), dtype=np.int64)
    for k in numba.prange(fasts.size):
        if 0 < fasts[k] < slows[k]:  # EMACrossConfig refuses the others
            _ema_cross_walk(close, fasts[k], slows[k], size, no_trades, out[k])
    return out


def _closes(close: np.ndarray) -> np.ndarray:
    close = np.ascontiguousarray(close, dtype="float64")
    if close.ndim != 1 or close.size == 0:
        raise QuantDeskError(f"Screen closes must be a non-empty 1-D array, not shape {close.shape}")
    return close


def ema_cross_trades(close: np.ndarray, fast_period: int, slow_period: int) -> np.ndarray:
    """Return the trades :class:`~quantdesk.strategies.ema_cross.EMACross` makes on ``close`` (long only).

    Parameters
    ----------
    close : numpy.ndarray
        Bar closes, oldest first.
    fast_period, slow_period : int
        The strategy's periods (``0 < fast_period < slow_period``).

    Returns
    -------
    numpy.ndarray
        One ``(entry bar, exit bar)`` row of indices into ``close`` per round trip; a long
        still open at the end exits at the last bar.
    """
    close = _closes(close)
    if not 0 < fast_period < slow_period:
        raise QuantDeskError(f"fast_period {fast_period} and slow_period {slow_period}: need 0 < fast < slow")
    trades = np.empty((close.size // 2 + 1, 2), dtype=np.int64)
    statistics = np.empty(len(STATISTICS))
    _ema_cross_walk(close, int(fast_period), int(slow_period), 1.0, trades, statistics)
    return trades[: int(statistics[0])]


def ema_cross_screen(close: np.ndarray, fast_periods: np.ndarray, slow_periods: np.ndarray, trade_size: float) -> np.ndarray:
    """Screen EMACross over (fast, slow) pairs on all cores.

    Parameters
    ----------
    close : numpy.ndarray
        Bar closes, oldest first.
    fast_periods, slow_periods : numpy.ndarray
        One pair per combination, same length.
    trade_size : float
        Units bought on each entry.

    Returns
    -------
    numpy.ndarray
        One row of :data:`STATISTICS` per pair (P&L gross of costs); NaN for pairs
        EMACrossConfig refuses (``fast >= slow``).
    """
    fasts, slows = np.asarray(fast_periods, dtype=np.int64), np.asarray(slow_periods, dtype=np.int64)
    if fasts.shape != slows.shape or fasts.ndim != 1:
        raise QuantDeskError(f"fast_periods {fasts.shape} and slow_periods {slows.shape} must be 1-D and the same length")
    return _ema_cross_grid(_closes(close), fasts, slows, float(trade_size))


@dataclass(frozen=True)
class ScreenResult:
    """Every combination screened, and the top ones confirmed on Nautilus.

    Attributes
    ----------
    screen : pandas.DataFrame
        One row per combination, best first (see :func:`screen_table`).
    confirmed : pandas.DataFrame
        The top valid rows run on Nautilus: the periods, then :data:`CONFIRMED_COLUMNS`: trade
        counts and gross P&L of the screen and of Nautilus side by side, ``difference``
        (Nautilus minus screen, gross: 0 when every fill is at the bar close the twin uses),
        Nautilus's commissions and net P&L, ``status``, ``error`` and ``run_id``.
    bars : int
        Bars each combination was screened on.
    seconds : float
        Time the screen took (the confirmation runs not included).
    """

    screen: pd.DataFrame
    confirmed: pd.DataFrame
    bars: int
    seconds: float


def _check_screenable(config: SweepConfig) -> None:
    base = config.base
    if base.strategy != EMA_CROSS:
        raise QuantDeskError(f"No vectorized twin of {base.strategy!r}: screens exist for {EMA_CROSS}; run a sweep instead")
    if len(base.instrument_ids) != 1:
        raise QuantDeskError(f"A screen trades one instrument, not {len(base.instrument_ids)}: give one instrument id")
    other = sorted(set(config.grid) - set(PERIODS))
    if other:
        raise QuantDeskError(f"The EMACross screen varies fast_period and slow_period only, not {', '.join(other)}: "
                             "fix the others in base.parameters, or run a sweep")
    if base.parameters.get("allow_short") or base.parameters.get("close_positions_on_stop") is False:
        raise QuantDeskError("The EMACross screen reproduces long-only runs flattened at the end: "
                             "drop allow_short and close_positions_on_stop from base.parameters")
    if config.objective not in SCREEN_OBJECTIVES:
        raise QuantDeskError(f"A screen ranks by {', '.join(SCREEN_OBJECTIVES)} (it keeps no equity curve per "
                             f"combination), not {config.objective!r}: set objective to one of them")
    values = config.values()
    for name in PERIODS:
        for value in values.get(name, [base.parameters[name]] if name in base.parameters else []):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise QuantDeskError(f"{name} {value!r} is not a whole number of bars: use positive integers")


def screen_table(config: SweepConfig, close: np.ndarray) -> pd.DataFrame:
    """Screen every combination of ``config`` on ``close`` with the EMACross twin.

    Parameters
    ----------
    config : SweepConfig
        An EMACross sweep varying ``fast_period`` and/or ``slow_period``.
    close : numpy.ndarray
        The bars' closes, oldest first.

    Returns
    -------
    pandas.DataFrame
        ``fast_period``, ``slow_period``, :data:`STATISTICS` (gross of costs), ``total_return``,
        ``win_rate``, ``profit_factor`` and ``valid`` (False where ``fast >= slow``, which
        EMACrossConfig refuses), best objective first.
    """
    defaults = {f.name: f.default for f in msgspec.structs.fields(EMACrossConfig)}
    fixed = {**defaults, **config.base.parameters}
    combos = pd.DataFrame([{name: combo.get(name, fixed[name]) for name in PERIODS} for combo in config.combinations()],
                          columns=list(PERIODS), dtype="int64")
    fasts, slows = combos["fast_period"].to_numpy(), combos["slow_period"].to_numpy()
    statistics = ema_cross_screen(close, fasts, slows, float(fixed["trade_size"]))
    table = combos.join(pd.DataFrame(statistics, columns=STATISTICS))
    table["total_return"] = table["gross_pnl"] / config.base.starting_capital
    table["win_rate"] = table["wins"] / table["trades"].where(table["trades"] > 0)
    table["profit_factor"] = table["gross_profit"] / table["gross_loss"].where(table["gross_loss"] > 0)
    table["valid"] = fasts < slows
    table[["trades", "wins"]] = table[["trades", "wins"]].astype("Int64")  # counts; missing where not valid
    return table.sort_values(config.objective, ascending=False, na_position="last", kind="stable", ignore_index=True)


def screen_and_confirm(
    config: SweepConfig,
    top: int = 10,
    catalog: str | Path | None = None,
    client: Any = None,
    progress: bool | Progress = True,
    stop: threading.Event | None = None,
) -> ScreenResult:
    """Screen every combination of an EMACross sweep with its twin, then run the ``top`` ones on Nautilus.

    Parameters
    ----------
    config : SweepConfig
        An EMACross sweep on one instrument varying ``fast_period``/``slow_period``, long only,
        ranked by one of :data:`SCREEN_OBJECTIVES`.
    top : int
        Best valid combinations to confirm as Nautilus backtests (0: screen only).
    catalog : str or Path, optional
        Catalog root; defaults to the configured one.
    client : distributed.Client, optional
        Dask client for the confirmation runs; defaults to the platform's.
    progress : bool or callable
        True shows a tqdm bar over the confirmation runs; a callable receives ``(done, total)``.
    stop : threading.Event, optional
        Set it to cancel the confirmation runs; finished ones are kept.

    Returns
    -------
    ScreenResult
    """
    config.check()
    check_parameters(config)
    _check_screenable(config)
    if top < 0:
        raise QuantDeskError(f"top={top}: confirm zero or more combinations")
    root = catalog_root(catalog)
    bar_type = config.base.bar_types[0]
    start, end = config.base.period()
    close = bars_frame(open_catalog(root), bar_type, start, end)["close"].to_numpy()
    if close.size == 0:
        raise QuantDeskError(f"No bars {bar_type} between {config.base.start} and {config.base.end}: widen the period")
    started = time.perf_counter()
    table = screen_table(config, close)
    seconds = time.perf_counter() - started
    best = table[table["valid"]].head(top)
    specs = [msgspec.structs.replace(config.base, parameters={**config.base.parameters, "fast_period": int(row.fast_period),
                                                               "slow_period": int(row.slow_period)})
             for row in best.itertuples()]
    outcomes = run_specs(specs, root, client=client, progress=progress, stop=stop, description="confirm") if specs else []
    rows = []
    for row, outcome in zip(best.itertuples(), outcomes):
        summary = outcome.summary or {}
        gross = summary.get("realized_pnl")  # gross of commissions (see statistics.summarize)
        rows.append({
            "fast_period": int(row.fast_period), "slow_period": int(row.slow_period),
            "screen_trades": int(row.trades), "nautilus_trades": summary.get("round_trips"),
            "screen_gross_pnl": row.gross_pnl, "nautilus_gross_pnl": gross,
            "difference": None if gross is None else gross - row.gross_pnl,
            "commissions": summary.get("commissions"),
            "nautilus_net_pnl": None if gross is None else gross - summary["commissions"],
            "status": outcome.status, "error": outcome.error, "run_id": outcome.run_id,
        })
    confirmed = pd.DataFrame(rows, columns=[*PERIODS, *CONFIRMED_COLUMNS])
    numbers = ["screen_gross_pnl", "nautilus_gross_pnl", "difference", "commissions", "nautilus_net_pnl"]
    confirmed[numbers] = confirmed[numbers].astype("float64")
    confirmed["nautilus_trades"] = confirmed["nautilus_trades"].astype("Int64")
    return ScreenResult(table, confirmed, int(close.size), seconds)
