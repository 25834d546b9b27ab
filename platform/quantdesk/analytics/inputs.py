"""Checks shared by the analytics modules: return series, benchmarks and tables from users."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from quantdesk.errors import QuantDeskError


def return_series(returns: object, name: str = "returns") -> pd.Series:
    """Return ``returns`` as a float Series on a DatetimeIndex, missing values dropped.

    Raises
    ------
    QuantDeskError
        When it is not a Series, has no DatetimeIndex, is not numeric, holds an infinite
        value, or is empty once missing values are dropped.
    """
    if isinstance(returns, pd.DataFrame) and returns.shape[1] == 1:
        returns = returns.iloc[:, 0]
    if not isinstance(returns, pd.Series):
        raise QuantDeskError(f"{name} is a {type(returns).__name__}: pass a pandas Series of periodic returns")
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise QuantDeskError(f"{name} is indexed by {type(returns.index).__name__}: index it by date (DatetimeIndex)")
    try:
        values = returns.astype("float64")
    except (TypeError, ValueError):
        raise QuantDeskError(
            f"{name} holds non-numeric values (dtype {returns.dtype}): pass returns as numbers"
        ) from None
    values = values.dropna()
    if values.empty:
        raise QuantDeskError(f"{name} is empty (no non-missing values): pass at least one return")
    if not np.isfinite(values.to_numpy()).all():
        where = values.index[~np.isfinite(values.to_numpy())][0]
        raise QuantDeskError(f"{name} holds an infinite return at {where}: fix the data")
    if not values.index.is_monotonic_increasing:
        values = values.sort_index()
    return values


def aligned(
    returns: pd.Series, benchmark: object, minimum: int = 2, name: str = "benchmark"
) -> tuple[pd.Series, pd.Series]:
    """Return ``returns`` and ``benchmark`` (called ``name`` in messages) on the dates both have.

    Raises
    ------
    QuantDeskError
        When fewer than ``minimum`` dates are shared (a misaligned benchmark).
    """
    returns = return_series(returns)
    benchmark = return_series(benchmark, name)
    if (returns.index.tz is None) != (benchmark.index.tz is None):
        raise QuantDeskError(
            f"returns and {name} disagree on time zones (one is tz-aware, the other naive): "
            "localize both or neither"
        )
    common = returns.index.intersection(benchmark.index)
    if len(common) < minimum:
        raise QuantDeskError(
            f"{name} shares {len(common)} dates with returns (returns {returns.index[0].date()}.."
            f"{returns.index[-1].date()}, {name} {benchmark.index[0].date()}..{benchmark.index[-1].date()}): "
            f"pass {name} over the same dates (at least {minimum} in common)"
        )
    return returns.loc[common], benchmark.loc[common]


def periods_per_year(periods: object) -> int:
    """Return ``periods`` checked to be a positive whole number of periods per year."""
    if isinstance(periods, bool) or not isinstance(periods, (int, np.integer)) or periods <= 0:
        raise QuantDeskError(f"periods={periods!r}: pass the number of return periods per year (252 for daily)")
    return int(periods)


def probability(value: object, name: str) -> float:
    """Return ``value`` checked to lie strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise QuantDeskError(f"{name}={value!r}: pass a level strictly between 0 and 1, e.g. 0.95")
    return float(value)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise when ``frame`` lacks any of ``columns``, naming the first missing one."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise QuantDeskError(
            f"{name} has no column {missing[0]!r} (it has {list(frame.columns)}): add it or rename yours to it"
        )
