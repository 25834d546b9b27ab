"""Cross-asset: rolling beta, correlation, alpha and idiosyncratic risk against a benchmark.

The benchmark is ``market`` (the market instrument's returns, e.g. the S&P 500) or
``cross_mean`` (the equal-weighted mean return of the universe). The panel computes both on
the whole universe, so a block of assets gets the values it would get in the full panel.
Regressions are ordinary least squares of the asset's simple returns on the benchmark's,
over the ``window`` most recent bars where both are present (a bar missing in either makes
the window NaN).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.kernels import (
    BETA,
    CORRELATION,
    INTERCEPT,
    RESIDUAL_STD,
    benchmark_series,
    check_window,
    column,
    divide,
    rolling_regression,
    rolling_sum,
)
from quantdesk.factors.registry import factor

FAMILY = "cross_asset"
BENCHMARKS = ("market", "cross_mean")
INPUTS = ("returns", "market", "cross_mean")


def _pair(data: Mapping[str, np.ndarray], benchmark: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the asset returns (time, asset) and the benchmark returns as a (time, 1) column."""
    if benchmark not in BENCHMARKS:
        raise QuantDeskError(f"Factor {name!r}: benchmark={benchmark!r} is not one of {', '.join(BENCHMARKS)}")
    returns = column(data, "returns", name)
    return returns, benchmark_series(data, benchmark, returns.shape[0], name)


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252, 504), "benchmark": BENCHMARKS}, inputs=INPUTS)
def beta(data: Mapping[str, np.ndarray], window: int = 63, benchmark: str = "market") -> np.ndarray:
    """Return the rolling beta of the asset's returns on the benchmark's, ``cov(r, b) / var(b)``.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars in the regression; at least 2.
    benchmark : {"market", "cross_mean"}
        The regressor.
    """
    window = check_window("beta", "window", window, minimum=2)
    returns, reference = _pair(data, benchmark, "beta")
    return rolling_regression(returns, reference, window, BETA)


@factor(family=FAMILY, grid={"window": (21, 42, 63, 126, 252, 504), "benchmark": BENCHMARKS}, inputs=INPUTS)
def correlation(data: Mapping[str, np.ndarray], window: int = 63, benchmark: str = "market") -> np.ndarray:
    """Return the rolling Pearson correlation of the asset's returns with the benchmark's.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars in the window; at least 2.
    benchmark : {"market", "cross_mean"}
        The other series.
    """
    window = check_window("correlation", "window", window, minimum=2)
    returns, reference = _pair(data, benchmark, "correlation")
    return rolling_regression(returns, reference, window, CORRELATION)


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252), "benchmark": BENCHMARKS}, inputs=INPUTS)
def idiosyncratic_volatility(data: Mapping[str, np.ndarray], window: int = 63, benchmark: str = "market") -> np.ndarray:
    """Return the standard deviation of the residuals of the rolling regression on the benchmark.

    The residual sum of squares divided by ``window - 2`` (the regression's degrees of
    freedom), square-rooted: the risk the benchmark does not explain (Ang et al., 2006).

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars in the regression; at least 3.
    benchmark : {"market", "cross_mean"}
        The regressor.
    """
    window = check_window("idiosyncratic_volatility", "window", window, minimum=3)
    returns, reference = _pair(data, benchmark, "idiosyncratic_volatility")
    return rolling_regression(returns, reference, window, RESIDUAL_STD)


@factor(family=FAMILY, grid={"window": (63, 126, 252), "benchmark": BENCHMARKS}, inputs=INPUTS)
def alpha(data: Mapping[str, np.ndarray], window: int = 126, benchmark: str = "market") -> np.ndarray:
    """Return the intercept of the rolling regression on the benchmark: Jensen's alpha per bar.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars in the regression; at least 2.
    benchmark : {"market", "cross_mean"}
        The regressor.
    """
    window = check_window("alpha", "window", window, minimum=2)
    returns, reference = _pair(data, benchmark, "alpha")
    return rolling_regression(returns, reference, window, INTERCEPT)


@factor(family=FAMILY, grid={"window": (63, 126, 252), "benchmark": BENCHMARKS}, inputs=INPUTS)
def downside_beta(data: Mapping[str, np.ndarray], window: int = 252, benchmark: str = "market") -> np.ndarray:
    """Return the beta estimated on the bars of the window where the benchmark fell (Ang, Chen and Xing, 2006).

    The least-squares slope over the bars with a negative benchmark return among the last
    ``window`` bars; NaN with fewer than 3 such bars or when they do not vary.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars looked back over.
    benchmark : {"market", "cross_mean"}
        The regressor, and the series whose falls select the bars.
    """
    window = check_window("downside_beta", "window", window)
    returns, reference = _pair(data, benchmark, "downside_beta")
    reference = np.broadcast_to(reference, returns.shape)
    present = np.isfinite(returns) & np.isfinite(reference)
    # Bars where the benchmark rose stay in the window as zeros (not missing), so only a
    # genuinely missing bar blanks the window.
    with np.errstate(invalid="ignore"):
        down = np.where(present, (reference < 0.0).astype(np.float64), np.nan)
    x = down * reference
    y = down * returns
    count = rolling_sum(down, window)
    sx, sy = rolling_sum(x, window), rolling_sum(y, window)
    sxx, sxy = rolling_sum(x * reference, window), rolling_sum(x * returns, window)
    variation = count * sxx - sx * sx
    with np.errstate(invalid="ignore"):
        variation = np.where((count >= 3) & (variation > 1e-12 * count * sxx), variation, np.nan)
    return divide(count * sxy - sx * sy, variation)


@factor(family=FAMILY, grid={"window": (42, 63, 126, 252), "benchmark": BENCHMARKS}, inputs=INPUTS)
def relative_strength(data: Mapping[str, np.ndarray], window: int = 126, benchmark: str = "market") -> np.ndarray:
    """Return the log return over ``window`` bars in excess of the benchmark's, ``sum ln(1 + r) - sum ln(1 + b)``.

    Parameters
    ----------
    data : mapping
        Needs ``returns`` and the benchmark series.
    window : int
        Bars summed.
    benchmark : {"market", "cross_mean"}
        What the asset is measured against.
    """
    window = check_window("relative_strength", "window", window)
    returns, reference = _pair(data, benchmark, "relative_strength")
    return rolling_sum(np.log1p(returns), window) - rolling_sum(np.log1p(reference), window)
