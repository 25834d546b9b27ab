"""Volatility: close-to-close, range-based (Parkinson, Garman-Klass, Rogers-Satchell, Yang-Zhang), EWMA and GARCH(1,1).

Every estimate is a standard deviation per bar (daily on daily bars), not annualized:
multiply by ``sqrt(252)`` for an annual figure. Range-based estimators use the open, high,
low and close of each bar and assume no drift (Yang-Zhang is drift-independent).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantdesk.errors import QuantDeskError
from quantdesk.factors.garch import fit_garch_parameters
from quantdesk.factors.kernels import (
    check_window,
    column,
    divide,
    exponential_average,
    garch_forecast,
    lagged,
    log,
    log_returns,
    rolling_mean,
    rolling_variance,
    root,
)
from quantdesk.factors.registry import factor

FAMILY = "volatility"
WINDOWS = (5, 10, 15, 21, 42, 63, 126, 189, 252)
# Returns are scaled to percent before the GARCH fit, as arch recommends for its optimizer.
GARCH_SCALE = 100.0
# Fewer returns than this leave the GARCH parameters too poorly determined to report.
GARCH_MINIMUM_OBSERVATIONS = 100


def _root(variance: np.ndarray) -> np.ndarray:
    """Return the square root, NaN where the variance estimate came out negative."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.where(variance >= 0.0, variance, np.nan))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("close",))
def volatility(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return the close-to-close volatility: the standard deviation (``ddof=1``) of log returns over ``window`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Log returns in the window (``window + 1`` closes); at least 2.
    """
    window = check_window("volatility", "window", window, minimum=2)
    return np.sqrt(rolling_variance(log_returns(column(data, "close", "volatility")), window, 1))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("high", "low"))
def parkinson(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Parkinson's (1980) high-low volatility, ``sqrt(mean(ln(H/L)^2) / (4 ln 2))`` over ``window`` bars.

    Parameters
    ----------
    data : mapping
        Needs ``high`` and ``low``.
    window : int
        Bars in the window.
    """
    window = check_window("parkinson", "window", window)
    span = log(divide(column(data, "high", "parkinson"), column(data, "low", "parkinson")))
    return root(rolling_mean(span * span, window) / (4.0 * np.log(2.0)))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("open", "high", "low", "close"))
def garman_klass(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Garman and Klass's (1980) volatility over ``window`` bars.

    ``sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))``; NaN in the rare window where the
    mean comes out negative.

    Parameters
    ----------
    data : mapping
        Needs ``open``, ``high``, ``low``, ``close``.
    window : int
        Bars in the window.
    """
    window = check_window("garman_klass", "window", window)
    open_, high, low, close = (column(data, name, "garman_klass") for name in ("open", "high", "low", "close"))
    span = log(divide(high, low))
    body = log(divide(close, open_))
    per_bar = 0.5 * span * span - (2.0 * np.log(2.0) - 1.0) * body * body
    return _root(rolling_mean(per_bar, window))


def _rogers_satchell_terms(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Return each bar's Rogers-Satchell variance term ``ln(H/C) ln(H/O) + ln(L/C) ln(L/O)``."""
    return log(divide(high, close)) * log(divide(high, open_)) + log(divide(low, close)) * log(divide(low, open_))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("open", "high", "low", "close"))
def rogers_satchell(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Rogers and Satchell's (1991) drift-independent volatility over ``window`` bars.

    ``sqrt(mean(ln(H/C) ln(H/O) + ln(L/C) ln(L/O)))``.

    Parameters
    ----------
    data : mapping
        Needs ``open``, ``high``, ``low``, ``close``.
    window : int
        Bars in the window.
    """
    window = check_window("rogers_satchell", "window", window)
    bars = [column(data, name, "rogers_satchell") for name in ("open", "high", "low", "close")]
    return root(rolling_mean(_rogers_satchell_terms(*bars), window))


@factor(family=FAMILY, grid={"window": WINDOWS}, inputs=("open", "high", "low", "close"))
def yang_zhang(data: Mapping[str, np.ndarray], window: int = 21) -> np.ndarray:
    """Return Yang and Zhang's (2000) volatility over ``window`` bars, robust to drift and opening jumps.

    ``sqrt(s_o^2 + k s_c^2 + (1 - k) s_rs^2)`` with ``s_o^2`` the variance (``ddof=1``) of
    the overnight log returns ``ln(O_t / C_{t-1})``, ``s_c^2`` that of the open-to-close log
    returns ``ln(C_t / O_t)``, ``s_rs^2`` the mean Rogers-Satchell term, all over the same
    ``window`` bars, and ``k = 0.34 / (1.34 + (window + 1) / (window - 1))``.

    Parameters
    ----------
    data : mapping
        Needs ``open``, ``high``, ``low``, ``close``.
    window : int
        Bars in the window (the first also needs the close before it); at least 2.
    """
    window = check_window("yang_zhang", "window", window, minimum=2)
    open_, high, low, close = (column(data, name, "yang_zhang") for name in ("open", "high", "low", "close"))
    overnight = log(divide(open_, lagged(close, 1)))
    intraday = log(divide(close, open_))
    # The Rogers-Satchell term needs no prior close; blank it where the overnight return is
    # missing so all three parts cover the same bars.
    range_term = np.where(np.isfinite(overnight), _rogers_satchell_terms(open_, high, low, close), np.nan)
    k = 0.34 / (1.34 + (window + 1) / (window - 1))
    variance = (
        rolling_variance(overnight, window, 1)
        + k * rolling_variance(intraday, window, 1)
        + (1.0 - k) * rolling_mean(range_term, window)
    )
    return _root(variance)


@factor(family=FAMILY, grid={"span": (10, 21, 42, 63, 126)}, inputs=("close",))
def ewma_volatility(data: Mapping[str, np.ndarray], span: int = 42) -> np.ndarray:
    """Return the exponentially weighted (RiskMetrics-style) volatility of log returns, zero mean.

    ``sqrt(e_t)`` with ``e_t = e_{t-1} + alpha (r_t^2 - e_{t-1})``, ``alpha = 2 / (span + 1)``,
    seeded by the mean of the first ``span`` squared returns.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    span : int
        The average's span in bars.
    """
    span = check_window("ewma_volatility", "span", span)
    steps = log_returns(column(data, "close", "ewma_volatility"))
    return np.sqrt(exponential_average(steps * steps, 2.0 / (span + 1.0), span))


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252)}, inputs=("close",))
def downside_volatility(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the downside semi-deviation of log returns about zero, ``sqrt(mean(min(r, 0)^2))``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Log returns in the window.
    """
    window = check_window("downside_volatility", "window", window)
    losses = np.minimum(log_returns(column(data, "close", "downside_volatility")), 0.0)
    return root(rolling_mean(losses * losses, window))


@factor(family=FAMILY, grid={"window": (21, 63, 126, 252)}, inputs=("close",))
def upside_volatility(data: Mapping[str, np.ndarray], window: int = 63) -> np.ndarray:
    """Return the upside semi-deviation of log returns about zero, ``sqrt(mean(max(r, 0)^2))``.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    window : int
        Log returns in the window.
    """
    window = check_window("upside_volatility", "window", window)
    gains = np.maximum(log_returns(column(data, "close", "upside_volatility")), 0.0)
    return root(rolling_mean(gains * gains, window))


@factor(family=FAMILY, grid={"short": (5, 10, 21), "long": (63, 126, 252)}, inputs=("close",))
def volatility_ratio(data: Mapping[str, np.ndarray], short: int = 21, long: int = 126) -> np.ndarray:
    """Return the close-to-close volatility over ``short`` bars divided by that over ``long`` bars.

    Above 1 when volatility has risen recently.

    Parameters
    ----------
    data : mapping
        Needs ``close``.
    short, long : int
        The two windows; ``2 <= short < long``.
    """
    short = check_window("volatility_ratio", "short", short, minimum=2)
    long = check_window("volatility_ratio", "long", long, minimum=2)
    if short >= long:
        raise QuantDeskError(f"Factor 'volatility_ratio': short={short} must be less than long={long}")
    steps = log_returns(column(data, "close", "volatility_ratio"))
    return np.sqrt(divide(rolling_variance(steps, short, 1), rolling_variance(steps, long, 1)))


def _garch_parameters(sample: np.ndarray) -> tuple[float, float, float, float] | None:
    """Return (mu, omega, alpha, beta) of a constant-mean normal GARCH(1,1) fitted as arch fits it, or None if it fails."""
    try:
        parameters, status = fit_garch_parameters(sample)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if status != 0 or not np.all(np.isfinite(parameters)):
        return None
    mu, omega, alpha, beta = (float(value) for value in parameters)
    return mu, omega, alpha, beta


def _backcast(sample: np.ndarray) -> float:
    """Return arch's starting variance: a weighted mean of the first 75 squared deviations (weights 0.94^k).

    arch takes the residuals at its starting values (the sample mean), not at the fitted mean.
    """
    residuals = sample - sample.mean()
    count = min(75, residuals.shape[0])
    weights = 0.94 ** np.arange(count)
    return float(np.sum(residuals[:count] ** 2 * weights) / weights.sum())


@factor(family=FAMILY, grid={"fit_observations": (504,)}, inputs=("returns",))
def garch_volatility(data: Mapping[str, np.ndarray], fit_observations: int | None = 504) -> np.ndarray:
    """Return the GARCH(1,1) forecast of next bar's volatility, from parameters fitted once per asset with arch.

    Per asset, ``arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1)`` is fitted once
    (by :func:`quantdesk.factors.garch.fit_garch_parameters`, which gives arch's estimates)
    and the conditional variance is then filtered through the whole history with those
    parameters (in numba): ``sigma2_{t+1} = omega + alpha (r_t - mu)^2 + beta sigma2_t``,
    started as arch starts it (from a backcast of the first 75 squared deviations). The value
    at bar ``t`` is ``sigma_{t+1}``, the volatility forecast made at ``t``'s close for the next
    bar, in return units (not percent, not annualized). Up to that shift it is arch's
    ``conditional_volatility``.

    Look-ahead: the parameters are fitted on a sample, and a value computed before that
    sample ends uses parameters estimated on later returns.

    * ``fit_observations=N`` (the default, 504 bars = two years) fits on the asset's first
      ``N`` valid returns and reports NaN until the ``N``-th, so every value uses only
      returns up to its own bar: safe for scoring and backtests.
    * ``fit_observations=None`` fits on all of the asset's returns and reports every bar:
      in-sample values with look-ahead in the parameters (not in the filtered returns),
      for description only.

    Fitting costs about 4 ms per asset (the optimizer), far more than any other factor,
    which is why the default grid holds one variant. An asset whose fit fails or does not
    converge, or with fewer valid returns than needed (``N``, or 100 when fitting on
    everything), gives an all-NaN column. Missing returns are skipped: NaN on their bar,
    the variance carried over the gap.

    Parameters
    ----------
    data : mapping
        Needs ``returns``.
    fit_observations : int or None
        Returns in the fitting sample (at least 100), or None for the whole history.
    """
    if fit_observations is not None:
        fit_observations = check_window(
            "garch_volatility", "fit_observations", fit_observations, GARCH_MINIMUM_OBSERVATIONS
        )
    returns = column(data, "returns", "garch_volatility")
    out = np.full(returns.shape, np.nan)
    for asset in range(returns.shape[1]):
        scaled = GARCH_SCALE * returns[:, asset]
        valid = np.flatnonzero(np.isfinite(scaled))
        needed = GARCH_MINIMUM_OBSERVATIONS if fit_observations is None else fit_observations
        if valid.size < needed:
            continue
        sample = valid if fit_observations is None else valid[:fit_observations]
        parameters = _garch_parameters(scaled[sample])
        if parameters is None:
            continue
        mu, omega, alpha, beta = parameters
        variance = garch_forecast(scaled, mu, omega, alpha, beta, _backcast(scaled[sample]))
        values = np.sqrt(variance) / GARCH_SCALE
        if fit_observations is not None:
            values[: sample[-1]] = np.nan
        out[:, asset] = values
    return out
