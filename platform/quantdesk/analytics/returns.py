"""Performance statistics of a periodic return series (daily by default).

Conventions, stated once because libraries differ on them:

- ``returns`` are simple (not log) returns per period, indexed by date; missing values are
  dropped. ``periods`` is the number of periods per year (252 daily, 52 weekly, 12 monthly).
- ``risk_free`` is an annual rate, turned into a per-period rate geometrically:
  ``(1 + risk_free) ** (1 / periods) - 1``; excess returns subtract it from every period.
- Standard deviations are sample ones (``ddof=1``); quantiles interpolate linearly.
- Value at risk and expected shortfall live in :mod:`quantdesk.risk.measures`; ``summary``
  reports its historical ones.
- Compounded wealth starts at 1 before the first return, so a first loss is a drawdown.

These match quantstats' definitions (checked in ``tests/unit/test_analytics_returns.py``)
except where a docstring says otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantdesk.analytics.inputs import aligned, periods_per_year, probability, return_series
from quantdesk.errors import QuantDeskError

TRADING_DAYS = 252
DRAWDOWN_COLUMNS = ["peak", "trough", "recovery", "depth", "days"]


def excess_returns(returns: pd.Series, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> pd.Series:
    """Return ``returns`` minus the per-period equivalent of the annual ``risk_free`` rate."""
    returns = return_series(returns)
    if risk_free == 0:
        return returns
    return returns - ((1.0 + risk_free) ** (1.0 / periods_per_year(periods)) - 1.0)


def wealth(returns: pd.Series) -> pd.Series:
    """Return the compounded value of 1 invested: ``prod(1 + r)`` up to each date."""
    return (1.0 + return_series(returns)).cumprod().rename("wealth")


def total_return(returns: pd.Series) -> float:
    """Return the compounded return over the whole series: ``prod(1 + r) - 1``."""
    return float(wealth(returns).iloc[-1] - 1.0)


def cagr(returns: pd.Series, periods: int = TRADING_DAYS) -> float:
    """Return the compound annual growth rate.

    ``(1 + total return) ** (periods / n) - 1`` with ``n`` the number of returns, so years
    are counted in periods, not calendar days (the backtest summary's ``cagr`` counts
    calendar days of its equity curve instead). NaN when the wealth ends below zero.
    """
    growth = 1.0 + total_return(returns)
    if growth < 0:
        return float("nan")
    return float(growth ** (periods_per_year(periods) / len(return_series(returns))) - 1.0)


def annual_volatility(returns: pd.Series, periods: int = TRADING_DAYS) -> float:
    """Return the annualized volatility: sample standard deviation times ``sqrt(periods)``."""
    return float(return_series(returns).std(ddof=1) * np.sqrt(periods_per_year(periods)))


def sharpe_ratio(returns: pd.Series, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """Return the annualized Sharpe ratio: ``mean(excess) / std(excess) * sqrt(periods)``.

    NaN when the excess returns do not vary (or there is only one).
    """
    excess = excess_returns(returns, risk_free, periods)
    mean, deviation = excess.mean(), excess.std(ddof=1)
    if not deviation > 0:
        return float("nan")
    return float(mean / deviation * np.sqrt(periods_per_year(periods)))


def sortino_ratio(returns: pd.Series, risk_free: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """Return the annualized Sortino ratio: ``mean(excess) / downside deviation * sqrt(periods)``.

    The downside deviation is ``sqrt(mean(min(excess, 0) ** 2))`` over all periods (gains
    count as zero, the target is the risk-free rate). NaN when no period lost.
    """
    excess = excess_returns(returns, risk_free, periods)
    downside = np.sqrt(np.mean(np.minimum(excess.to_numpy(), 0.0) ** 2))
    if not downside > 0:
        return float("nan")
    return float(excess.mean() / downside * np.sqrt(periods_per_year(periods)))


def drawdown(equity: pd.Series, start: float | None = None) -> pd.Series:
    """Return the fractional drawdown of an equity curve from its running peak.

    0 at a new high, negative below it. ``start`` is a value held before the first point
    (the starting capital), which counts as the first peak.
    """
    peak = equity.cummax()
    if start is not None:
        peak = peak.clip(lower=start)
    return (equity / peak - 1.0).rename("drawdown")


def underwater(returns: pd.Series) -> pd.Series:
    """Return the drawdown of the compounded wealth of ``returns`` (which starts at 1)."""
    return drawdown(wealth(returns), start=1.0)


def drawdown_periods(returns: pd.Series) -> pd.DataFrame:
    """Return one row per drawdown, deepest first.

    Columns: ``peak`` (the last date at the high; a drawdown from the starting value is
    dated at the first return), ``trough`` (date of the lowest wealth), ``recovery`` (the
    first date back at the peak; NaT if not recovered by the end), ``depth`` (the lowest
    drawdown, negative) and ``days`` (calendar days from peak to recovery, or to the last
    date when not recovered).
    """
    below = underwater(returns)
    dates = below.index
    under = (below < 0).to_numpy()
    if not under.any():
        return pd.DataFrame(columns=DRAWDOWN_COLUMNS)
    # Each run of consecutive underwater periods is one drawdown.
    episode = np.cumsum(~under)[under]
    positions = np.flatnonzero(under)
    rows = []
    for number in np.unique(episode):
        inside = positions[episode == number]
        first, last = inside[0], inside[-1]
        peak = dates[first - 1] if first > 0 else dates[0]
        recovery = dates[last + 1] if last + 1 < len(dates) else pd.NaT
        trough = inside[np.argmin(below.to_numpy()[inside])]
        end = recovery if recovery is not pd.NaT else dates[-1]
        rows.append([peak, dates[trough], recovery, float(below.iloc[trough]), int((end - peak).days)])
    table = pd.DataFrame(rows, columns=DRAWDOWN_COLUMNS)
    return table.sort_values(["depth", "peak"], kind="stable").reset_index(drop=True)


def max_drawdown(returns: pd.Series) -> float:
    """Return the deepest drawdown of the compounded wealth (negative, or 0 without one)."""
    return float(min(underwater(returns).min(), 0.0))


def max_drawdown_duration(returns: pd.Series) -> int:
    """Return the calendar days from peak to recovery of the deepest drawdown (0 without one).

    An unrecovered drawdown counts up to the last date.
    """
    periods = drawdown_periods(returns)
    return int(periods["days"].iloc[0]) if len(periods) else 0


def longest_drawdown_duration(returns: pd.Series) -> int:
    """Return the calendar days of the longest drawdown, peak to recovery (0 without one)."""
    periods = drawdown_periods(returns)
    return int(periods["days"].max()) if len(periods) else 0


def calmar_ratio(returns: pd.Series, periods: int = TRADING_DAYS) -> float:
    """Return CAGR divided by the absolute maximum drawdown (NaN without a drawdown)."""
    deepest = max_drawdown(returns)
    return float(cagr(returns, periods) / -deepest) if deepest < 0 else float("nan")


def hit_rate(returns: pd.Series) -> float:
    """Return the share of winning periods among periods that moved: ``#(r > 0) / #(r != 0)``.

    Flat periods (no position, a holiday) are left out, as quantstats' ``win_rate`` does.
    NaN when no period moved.
    """
    returns = return_series(returns)
    moved = int((returns != 0).sum())
    return float((returns > 0).sum() / moved) if moved else float("nan")


def profit_factor(returns: pd.Series) -> float:
    """Return the sum of gains over the absolute sum of losses.

    Works on any dated amounts alike (returns or daily P&L). ``inf`` with gains and no losses, NaN
    with neither.
    """
    values = return_series(returns).to_numpy()
    gains, losses = values[values > 0].sum(), -values[values < 0].sum()
    if losses == 0:
        return float("inf") if gains > 0 else float("nan")
    return float(gains / losses)


def tail_ratio(returns: pd.Series, level: float = 0.95) -> float:
    """Return ``|quantile(level) / quantile(1 - level)|``: right tail size over left tail size."""
    returns = return_series(returns)
    level = probability(level, "level")
    lower = returns.quantile(1.0 - level)
    return float(abs(returns.quantile(level) / lower)) if lower != 0 else float("nan")


def alpha_beta(
    returns: pd.Series, benchmark: pd.Series, risk_free: float = 0.0, periods: int = TRADING_DAYS
) -> pd.Series:
    """Regress excess returns on excess benchmark returns (CAPM) over their common dates.

    ``r - rf = alpha + beta * (b - rf) + e`` by ordinary least squares. Returns a Series with
    ``alpha`` (the intercept times ``periods``: arithmetic annualization, as quantstats'
    ``greeks``), ``beta``, ``r_squared`` and ``correlation``.

    Raises
    ------
    QuantDeskError
        When fewer than three dates are shared or the benchmark does not move.
    """
    returns, benchmark = aligned(returns, benchmark, minimum=3)
    y = excess_returns(returns, risk_free, periods).to_numpy()
    x = excess_returns(benchmark, risk_free, periods).to_numpy()
    covariance = np.cov(y, x, ddof=1)
    if not covariance[1, 1] > 0:
        raise QuantDeskError(
            "benchmark returns do not vary over the common dates: beta is undefined; pass another benchmark"
        )
    beta = covariance[0, 1] / covariance[1, 1]
    alpha = y.mean() - beta * x.mean()
    correlation = covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1]) if covariance[0, 0] > 0 else np.nan
    annual_alpha = alpha * periods_per_year(periods)
    return pd.Series({"alpha": annual_alpha, "beta": beta, "r_squared": correlation**2, "correlation": correlation})


def summary(
    returns: pd.Series,
    benchmark: pd.Series | None = None,
    risk_free: float = 0.0,
    periods: int = TRADING_DAYS,
    confidence: float = 0.95,
) -> pd.Series:
    """Return this module's statistics of ``returns``, with historical VaR and ES, in one Series.

    Parameters
    ----------
    returns : pandas.Series
        Periodic simple returns on a DatetimeIndex.
    benchmark : pandas.Series, optional
        Benchmark returns; adds ``alpha``, ``beta``, ``r_squared`` and ``correlation``.
    risk_free : float
        Annual risk-free rate for Sharpe, Sortino and the CAPM regression.
    periods : int
        Return periods per year.
    confidence : float
        Level of the one-period historical ``value_at_risk`` and ``expected_shortfall``,
        positive losses as :func:`quantdesk.risk.measures.historical_var` defines them.

    Raises
    ------
    QuantDeskError
        On an empty or non-date-indexed series, a misaligned benchmark or a bad parameter.
    """
    returns = return_series(returns)
    periods = periods_per_year(periods)
    statistics = {
        "start": returns.index[0],
        "end": returns.index[-1],
        "observations": len(returns),
        "total_return": total_return(returns),
        "cagr": cagr(returns, periods),
        "annual_volatility": annual_volatility(returns, periods),
        "sharpe": sharpe_ratio(returns, risk_free, periods),
        "sortino": sortino_ratio(returns, risk_free, periods),
        "calmar": calmar_ratio(returns, periods),
        "max_drawdown": max_drawdown(returns),
        "max_drawdown_days": max_drawdown_duration(returns),
        "longest_drawdown_days": longest_drawdown_duration(returns),
        "hit_rate": hit_rate(returns),
        "profit_factor": profit_factor(returns),
        "tail_ratio": tail_ratio(returns),
    }
    # VaR and ES have one home, the risk engine (positive losses, lower-tail order statistic).
    # Imported here: the risk package loads GARCH fitting and the store, which the backtest
    # engine, importing this module for its summaries, does not need.
    from quantdesk.risk.measures import historical_var

    tail = historical_var(returns, confidence)
    statistics.update(value_at_risk=tail.value_at_risk, expected_shortfall=tail.expected_shortfall)
    if benchmark is not None:
        statistics.update(alpha_beta(returns, benchmark, risk_free, periods).to_dict())
    return pd.Series(statistics, dtype=object, name="statistics")
