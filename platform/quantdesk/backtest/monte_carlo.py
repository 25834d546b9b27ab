"""Monte Carlo resampling of a finished backtest: how much of its result could have been luck.

Two resampling schemes, both vectorized over all simulations at once (one
``simulations x horizon`` array, no Python loop per path):

``trades``
    Draw the run's closed trades' net P&L with replacement, in random order, and add
    them to the starting capital. Position sizes stay as they were traded (fixed
    currency P&L per trade), so the spread of the final equity is that of a sum of
    independent draws. Drawdowns are measured on the closed-trade equity, which cannot
    see the losses a position suffers while it is open: expect them to be shallower
    than the run's mark-to-market drawdown.
``returns``
    Circular block bootstrap (Politis and Romano, 1992) of the run's end-of-day
    returns: glue blocks of consecutive days, each starting on a uniformly drawn day
    and wrapping past the last day to the first, until the horizon is filled. Blocks
    keep short-range autocorrelation and volatility clusters; wrapping gives every
    day the same chance to be drawn, so the resampled returns have the original mean
    on average (a non-wrapping moving-block bootstrap under-draws the first and last
    days).

Statistics use the run's own definitions (:mod:`quantdesk.backtest.statistics`):
drawdown is the fall from the running peak as a negative fraction, and the Sharpe
ratio is ``mean / std(ddof=1) * sqrt(periods per year)`` with no risk-free rate.
Daily paths use 252 periods a year, so a ``returns`` path that is a reordering of the
run's days has exactly the run's Sharpe ratio. Trade paths use per-trade returns,
the trade's P&L over the equity before it, annualized by the run's trade rate (closed
trades per year): for independent trades, mean and variance both add up over the
trades of a year, so this estimates the same annual Sharpe ratio as daily returns
do, without counting flat days between trades.

An account whose equity reaches zero is ruined: its path stays at zero (drawdown
-100%) and its later returns are zero.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from quantdesk.backtest.results import BacktestResult, load_result, runs_root
from quantdesk.backtest.statistics import TRADING_DAYS, daily_returns
from quantdesk.catalog.store import catalog_root
from quantdesk.config.monte_carlo import MonteCarloConfig
from quantdesk.errors import QuantDeskError

METRICS = ("final_equity", "total_return", "max_drawdown", "sharpe")
# Several arrays of this many float64 values are alive at once (draws, paths, peaks):
# 20 million values is about 160 MB each, a sensible ceiling on a laptop.
MAX_VALUES = 20_000_000

Seed = int | np.random.Generator


@dataclass(frozen=True)
class MonteCarloResult:
    """Distributions, bands and probabilities from resampling one backtest.

    Attributes
    ----------
    method : str
        ``trades`` or ``returns``.
    run_id : str or None
        The resampled run; None when arrays were fed directly.
    starting_capital : float
        Equity every path starts from.
    simulations, horizon, seed : int
        Number of paths, steps per path (trades or days), and the seed of the draws.
    block_size : int or None
        Days per block (``returns`` only).
    quantiles : tuple of float
        Levels of ``bands`` and of the summary table's quantile columns.
    bands : pandas.DataFrame
        Fan chart: equity quantiles (columns, by level) at each step (index ``trade``
        or ``day``; step 0 is the start).
    final_equity, max_drawdown, sharpe : numpy.ndarray
        One value per path. ``max_drawdown`` is negative (-0.25 is a 25% drawdown);
        ``sharpe`` is NaN for a path whose returns do not vary.
    summary : pandas.DataFrame
        Rows ``final_equity``, ``total_return``, ``max_drawdown``, ``sharpe``; columns
        one per quantile level (``"5%"``...), ``mean`` and ``original``.
    drawdown_threshold : float
        The drawdown depth asked about, as a positive fraction.
    drawdown_probability : float
        Share of paths whose maximum drawdown is deeper than ``drawdown_threshold``.
    original : dict
        The original run's ``final_equity``, ``total_return``, ``max_drawdown`` and
        ``sharpe``, measured the way the paths are (closed-trade equity for ``trades``,
        end-of-day equity for ``returns``).
    """

    method: str
    run_id: str | None
    starting_capital: float
    simulations: int
    horizon: int
    seed: int
    block_size: int | None
    quantiles: tuple[float, ...]
    bands: pd.DataFrame
    final_equity: np.ndarray
    max_drawdown: np.ndarray
    sharpe: np.ndarray
    summary: pd.DataFrame
    drawdown_threshold: float
    drawdown_probability: float
    original: dict[str, float]

    def report(self) -> str:
        """Return a short plain-text report: what was run, the summary table, the drawdown probability."""
        unit = "trades" if self.method == "trades" else "days"
        run = f" of run {self.run_id[:12]}" if self.run_id else ""
        block = f", blocks of {self.block_size} days" if self.block_size else ""
        shown = self.summary.copy().astype(object)
        for metric in shown.index:
            pattern = "{:,.2f}" if metric == "final_equity" else "{:.4f}"
            shown.loc[metric] = [pattern.format(v) if v == v else "n/a" for v in self.summary.loc[metric]]
        return "\n".join(
            [
                f"Monte Carlo ({self.method}){run}: {self.simulations} paths of {self.horizon} {unit}{block}, seed {self.seed}",
                shown.to_string(),
                f"P(max drawdown deeper than {self.drawdown_threshold:.1%}) = {self.drawdown_probability:.1%}",
            ]
        )


def resample_trades(pnl: np.ndarray, simulations: int, horizon: int, rng: Seed) -> np.ndarray:
    """Draw trade P&Ls with replacement: a ``(simulations, horizon)`` array of values from ``pnl``."""
    pnl = np.asarray(pnl, dtype=float)
    rng = np.random.default_rng(rng)
    return pnl[rng.integers(0, len(pnl), size=(simulations, horizon))]


def block_indices(length: int, block_size: int, simulations: int, horizon: int, rng: Seed) -> np.ndarray:
    """Return circular block bootstrap indices into a series of ``length`` values.

    Each row glues ``ceil(horizon / block_size)`` blocks of ``block_size`` consecutive
    indices, each starting at a uniform random index and wrapping from ``length - 1``
    to 0, cut to ``horizon``.

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(simulations, horizon)``.
    """
    rng = np.random.default_rng(rng)
    blocks = -(-horizon // block_size)
    starts = rng.integers(0, length, size=(simulations, blocks))
    indices = (starts[:, :, None] + np.arange(block_size)) % length
    return indices.reshape(simulations, blocks * block_size)[:, :horizon]


def equity_from_pnl(pnl: np.ndarray, starting_capital: float) -> np.ndarray:
    """Return equity paths ``(..., steps + 1)``: the starting capital, then after each P&L."""
    pnl = np.asarray(pnl, dtype=float)
    start = np.full(pnl.shape[:-1] + (1,), float(starting_capital))
    return _absorb_ruin(np.concatenate([start, starting_capital + np.cumsum(pnl, axis=-1)], axis=-1))


def equity_from_returns(returns: np.ndarray, starting_capital: float) -> np.ndarray:
    """Return equity paths ``(..., steps + 1)``: the starting capital compounded by each return."""
    returns = np.asarray(returns, dtype=float)
    start = np.full(returns.shape[:-1] + (1,), float(starting_capital))
    return _absorb_ruin(np.concatenate([start, starting_capital * np.cumprod(1.0 + returns, axis=-1)], axis=-1))


def _absorb_ruin(paths: np.ndarray) -> np.ndarray:
    # A ruined account cannot trade its way back: zero from the first non-positive value on.
    ruined = np.logical_or.accumulate(paths <= 0.0, axis=-1)
    return np.where(ruined, 0.0, paths)


def step_returns(paths: np.ndarray) -> np.ndarray:
    """Return each step's return on the equity before it (zero once a path is ruined)."""
    before = paths[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0.0, np.diff(paths, axis=-1) / before, 0.0)


def max_drawdowns(paths: np.ndarray) -> np.ndarray:
    """Return each path's deepest fall from its running peak, as a negative fraction (0 if it never fell)."""
    paths = np.asarray(paths, dtype=float)
    return (paths / np.maximum.accumulate(paths, axis=-1) - 1.0).min(axis=-1)


def sharpe_ratios(returns: np.ndarray, periods_per_year: float | None = None) -> np.ndarray:
    """Return ``mean / std(ddof=1) * sqrt(periods_per_year)`` along the last axis (NaN where std is 0).

    ``periods_per_year`` None leaves the ratio per period.
    """
    returns = np.asarray(returns, dtype=float)
    scale = math.sqrt(periods_per_year) if periods_per_year else 1.0
    mean = returns.mean(axis=-1)
    std = returns.std(axis=-1, ddof=1) if returns.shape[-1] > 1 else np.zeros_like(mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0.0, mean / std * scale, np.nan)


def probability_of_drawdown(max_drawdown: np.ndarray, threshold: float) -> float:
    """Return the share of paths whose maximum drawdown is deeper than ``threshold`` (a positive fraction)."""
    return float(np.mean(np.asarray(max_drawdown) < -threshold))


def bootstrap_trades(
    pnl: np.ndarray,
    starting_capital: float,
    *,
    simulations: int = 1000,
    seed: int = 0,
    horizon: int | None = None,
    trades_per_year: float | None = None,
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95),
    drawdown_threshold: float = 0.2,
    run_id: str | None = None,
) -> MonteCarloResult:
    """Resample trade P&Ls with replacement and summarize the equity paths.

    Parameters
    ----------
    pnl : array-like
        Net P&L of each closed trade, in the order they closed (the order only matters
        for the ``original`` column).
    starting_capital : float
        Equity before the first trade.
    simulations : int
        Number of paths.
    seed : int
        Seed of ``numpy.random.default_rng``.
    horizon : int, optional
        Trades per path; None means ``len(pnl)``.
    trades_per_year : float, optional
        Annualizes the per-trade Sharpe ratio; None leaves it per trade.
    quantiles : tuple of float
        Levels of the bands and summary columns.
    drawdown_threshold : float
        Drawdown depth (positive fraction) whose exceedance probability is reported.
    run_id : str, optional
        Recorded in the result.
    """
    pnl = _checked(pnl, "closed trade P&L values", "the trade bootstrap")
    horizon = len(pnl) if horizon is None else horizon
    _check_sizes(starting_capital, simulations, horizon)
    paths = equity_from_pnl(resample_trades(pnl, simulations, horizon, seed), starting_capital)
    original = equity_from_pnl(pnl, starting_capital)
    return _summarize(
        "trades", paths, original, trades_per_year, starting_capital, simulations, seed, None,
        quantiles, drawdown_threshold, run_id,
    )


def bootstrap_returns(
    returns: np.ndarray,
    starting_capital: float,
    *,
    block_size: int | None = None,
    simulations: int = 1000,
    seed: int = 0,
    horizon: int | None = None,
    periods_per_year: float = TRADING_DAYS,
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95),
    drawdown_threshold: float = 0.2,
    run_id: str | None = None,
) -> MonteCarloResult:
    """Circular-block-bootstrap periodic returns and summarize the equity paths.

    Parameters
    ----------
    returns : array-like
        Simple returns in time order (e.g. end-of-day returns of a run's equity).
    starting_capital : float
        Equity before the first return.
    block_size : int, optional
        Consecutive returns per block; None means ``round(len(returns) ** (1/3))``.
    simulations, seed, horizon, quantiles, drawdown_threshold, run_id
        As in :func:`bootstrap_trades`; ``horizon`` counts returns.
    periods_per_year : float
        Annualizes the Sharpe ratio (252 for daily returns).
    """
    returns = _checked(returns, "returns", "the block bootstrap")
    horizon = len(returns) if horizon is None else horizon
    block_size = default_block_size(len(returns)) if block_size is None else block_size
    if not 1 <= block_size <= len(returns):
        raise QuantDeskError(
            f"block_size={block_size} must be between 1 and the number of returns ({len(returns)}): choose a shorter block"
        )
    _check_sizes(starting_capital, simulations, horizon)
    drawn = returns[block_indices(len(returns), block_size, simulations, horizon, seed)]
    paths = equity_from_returns(drawn, starting_capital)
    original = equity_from_returns(returns, starting_capital)
    return _summarize(
        "returns", paths, original, periods_per_year, starting_capital, simulations, seed, block_size,
        quantiles, drawdown_threshold, run_id,
    )


def default_block_size(length: int) -> int:
    """Return the default block length for ``length`` returns: the cube root, rounded, at least 1."""
    return max(1, round(length ** (1.0 / 3.0)))


def _checked(values: np.ndarray, what: str, scheme: str) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    if len(values) < 2:
        raise QuantDeskError(f"{scheme.capitalize()} needs at least 2 {what}, got {len(values)}")
    if not np.isfinite(values).all():
        raise QuantDeskError(f"{scheme.capitalize()} got non-finite {what} (NaN or infinite): drop or fix them first")
    return values


def _check_sizes(starting_capital: float, simulations: int, horizon: int) -> None:
    if not starting_capital > 0:
        raise QuantDeskError(f"starting_capital {starting_capital} must be positive")
    if simulations < 1 or horizon < 1:
        raise QuantDeskError(f"simulations={simulations} and horizon={horizon} must both be at least 1")
    if simulations * (horizon + 1) > MAX_VALUES:
        raise QuantDeskError(
            f"{simulations} simulations x {horizon + 1} steps is more than {MAX_VALUES:,} values to hold in memory: "
            "lower simulations or horizon"
        )


def _summarize(
    method: str,
    paths: np.ndarray,
    original_path: np.ndarray,
    periods_per_year: float | None,
    starting_capital: float,
    simulations: int,
    seed: int,
    block_size: int | None,
    quantiles: tuple[float, ...],
    drawdown_threshold: float,
    run_id: str | None,
) -> MonteCarloResult:
    levels = tuple(sorted(float(q) for q in quantiles))
    final = paths[:, -1]
    drawdowns = max_drawdowns(paths)
    sharpe = sharpe_ratios(step_returns(paths), periods_per_year)
    distributions = {
        "final_equity": final,
        "total_return": final / starting_capital - 1.0,
        "max_drawdown": drawdowns,
        "sharpe": sharpe,
    }
    original = {
        "final_equity": float(original_path[-1]),
        "total_return": float(original_path[-1] / starting_capital - 1.0),
        "max_drawdown": float(max_drawdowns(original_path)),
        "sharpe": float(sharpe_ratios(step_returns(original_path), periods_per_year)),
    }
    labels = [_label(q) for q in levels]
    with warnings.catch_warnings():
        # A metric that is NaN on every path (a Sharpe ratio of flat paths) is reported as NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = {name: [*np.nanquantile(values, levels), np.nanmean(values), original[name]] for name, values in distributions.items()}
    summary = pd.DataFrame.from_dict(rows, orient="index", columns=[*labels, "mean", "original"])
    summary.index.name = "metric"
    step = pd.RangeIndex(paths.shape[1], name="trade" if method == "trades" else "day")
    bands = pd.DataFrame(np.quantile(paths, levels, axis=0).T, index=step, columns=labels)
    return MonteCarloResult(
        method=method,
        run_id=run_id,
        starting_capital=float(starting_capital),
        simulations=simulations,
        horizon=paths.shape[1] - 1,
        seed=seed,
        block_size=block_size,
        quantiles=levels,
        bands=bands,
        final_equity=final,
        max_drawdown=drawdowns,
        sharpe=sharpe,
        summary=summary,
        drawdown_threshold=float(drawdown_threshold),
        drawdown_probability=probability_of_drawdown(drawdowns, drawdown_threshold),
        original=original,
    )


def _label(level: float) -> str:
    return f"{level * 100:g}%"


def simulate_run(result: BacktestResult, config: MonteCarloConfig) -> MonteCarloResult:
    """Run the Monte Carlo study ``config`` on a backtest result already in memory.

    ``config.run_id`` is not used to find the run; the result records ``result.run_id``.
    """
    config.check()
    run = result.run_id[:12]
    if config.method == "trades":
        positions = result.positions
        closed = positions[~positions["is_open"].astype(bool)].sort_values("closed", kind="stable") if len(positions) else positions
        if len(closed) < 2:
            raise QuantDeskError(
                f"Run {run} has {len(closed)} closed trade{'s' if len(closed) != 1 else ''}: the trade bootstrap needs "
                "at least 2; use method 'returns' or a run with more trades"
            )
        equity = result.equity
        years = max((equity.index[-1] - equity.index[0]).days / 365.25, 1 / 365.25)
        return bootstrap_trades(
            closed["realized_pnl"].to_numpy(dtype=float),
            result.spec.starting_capital,
            simulations=config.simulations,
            seed=config.seed,
            horizon=config.horizon,
            trades_per_year=len(closed) / years,
            quantiles=config.quantiles,
            drawdown_threshold=config.drawdown_threshold,
            run_id=result.run_id,
        )
    returns = daily_returns(result.equity).to_numpy(dtype=float)
    if len(returns) < 2:
        raise QuantDeskError(
            f"Run {run} spans {len(returns) + 1} trading day(s): the returns bootstrap needs at least 3; "
            "run the backtest over a longer period"
        )
    if config.block_size is not None and config.block_size > len(returns):
        raise QuantDeskError(
            f"block_size={config.block_size} is longer than run {run}'s {len(returns)} daily returns: choose a shorter block"
        )
    # Start from the first day's closing equity so a path that reorders the run's days
    # ends exactly at the run's ending equity (it equals the starting capital unless the
    # strategy traded on the first day).
    first_day_equity = float(result.equity.groupby(result.equity.index.normalize()).last().iloc[0])
    return bootstrap_returns(
        returns,
        first_day_equity,
        block_size=config.block_size,
        simulations=config.simulations,
        seed=config.seed,
        horizon=config.horizon,
        quantiles=config.quantiles,
        drawdown_threshold=config.drawdown_threshold,
        run_id=result.run_id,
    )


def run_monte_carlo(config: MonteCarloConfig, catalog: str | Path | None = None) -> MonteCarloResult:
    """Load the stored run ``config.run_id`` and resample it.

    Parameters
    ----------
    config : MonteCarloConfig
    catalog : str or Path, optional
        Catalog root holding the stored runs; default ``QUANTDESK_CATALOG``.

    Raises
    ------
    QuantDeskError
        When the config is invalid, the run is not stored, or it has too few trades or days.
    """
    config.check()
    root = catalog_root(catalog)
    result = load_result(root, config.run_id)
    if result is None:
        raise QuantDeskError(
            f"No stored backtest run {config.run_id!r} under {runs_root(root)}: "
            "`quantdesk backtest list` shows the stored run ids; run the spec first if it is not there"
        )
    return simulate_run(result, config)
