"""Rolling statistics over a trailing window of periods (the conventions of ``analytics.returns``).

Each value uses the ``window`` returns ending at its date; the first ``window - 1`` dates are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantdesk.analytics.inputs import aligned, periods_per_year, return_series
from quantdesk.analytics.returns import TRADING_DAYS, excess_returns
from quantdesk.errors import QuantDeskError


def _window(window: object, available: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise QuantDeskError(f"window={window!r}: pass a whole number of periods, at least 2 (e.g. 126)")
    if window > available:
        raise QuantDeskError(f"window={window} is longer than the {available} returns given: pass a shorter window")
    return int(window)


def rolling_volatility(returns: pd.Series, window: int = 126, periods: int = TRADING_DAYS) -> pd.Series:
    """Return the annualized volatility over each trailing window."""
    returns = return_series(returns)
    window = _window(window, len(returns))
    return (returns.rolling(window).std(ddof=1) * np.sqrt(periods_per_year(periods))).rename("volatility")


def rolling_sharpe(
    returns: pd.Series, window: int = 126, risk_free: float = 0.0, periods: int = TRADING_DAYS
) -> pd.Series:
    """Return the annualized Sharpe ratio over each trailing window."""
    excess = excess_returns(returns, risk_free, periods)
    window = _window(window, len(excess))
    rolling = excess.rolling(window)
    deviation = rolling.std(ddof=1)
    ratio = rolling.mean() / deviation.where(deviation > 0) * np.sqrt(periods_per_year(periods))
    return ratio.rename("sharpe")


def rolling_beta(returns: pd.Series, benchmark: pd.Series, window: int = 126) -> pd.Series:
    """Return the OLS beta of ``returns`` on ``benchmark`` over each trailing window of common dates."""
    returns, benchmark = aligned(returns, benchmark)
    window = _window(window, len(returns))
    variance = benchmark.rolling(window).var(ddof=1)
    beta = returns.rolling(window).cov(benchmark, ddof=1) / variance.where(variance > 0)
    return beta.rename("beta")
