"""Value at risk and expected shortfall: historical, parametric (normal), Monte Carlo and GARCH.

Conventions shared by every function here:

* **Sign.** VaR and ES are reported as positive *loss* amounts (a negative number means the
  method expects a gain even in the tail). ES >= VaR always.
* **Units.** A return series (one portfolio, e.g. 0.01 for 1%) gives fractions of the
  portfolio's value; positions (asset -> market value, negative when short) with an asset
  returns frame (time x asset) give currency, the P&L of holding those values through each day.
* **Historical quantile.** Of ``n`` outcomes sorted worst first, the ``k``-th with
  ``k = ceil(n * (1 - confidence))`` (at least 1) is the VaR: the lower-tail order statistic,
  numpy's ``quantile(method="inverted_cdf")``. ES is the mean of those ``k`` worst outcomes
  (the VaR outcome included), so it is never below VaR and never empty.
* **Horizon.** ``horizon`` is in bars (days). Historical VaR/ES of one day are scaled by
  ``sqrt(horizon)`` (Basel's square-root-of-time rule: it assumes independent, zero-mean
  daily outcomes). The normal methods use the exact i.i.d. aggregate: mean ``horizon * mu``,
  standard deviation ``sqrt(horizon) * sigma``. GARCH sums its own variance forecasts for
  each day ahead.

For a monitor that measures the same book against the same history many times,
:class:`ScenarioMatrix` holds the returns once as a contiguous float64 matrix; one cycle is then
a matrix-vector product and a partial sort.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from quantdesk.errors import QuantDeskError
from quantdesk.factors.regimes import GarchParameters, fit_garch

Positions = pd.Series | Mapping[str, float]
METHODS = ("historical", "parametric")
_GARCH_SCALE = 100.0  # arch's optimizer expects daily returns in percent
_GARCH_MINIMUM_OBSERVATIONS = 100
_SIMULATION_BATCH = 2_000_000  # normals drawn at once, so 500 assets x 100k paths stays within memory


@dataclass(frozen=True)
class RiskEstimate:
    """VaR and ES of one portfolio at one confidence level and horizon.

    Attributes
    ----------
    method : str
        ``historical``, ``parametric``, ``monte_carlo``, ``garch`` or ``garch_monte_carlo``.
    confidence : float
        E.g. 0.99.
    horizon : int
        Bars (days) ahead.
    value_at_risk, expected_shortfall : float
        Positive loss amounts in ``units``.
    units : str
        ``currency`` (from positions) or ``fraction`` (from a return series).
    observations : int
        Returns the estimate used, or simulated paths for the Monte Carlo methods.
    """

    method: str
    confidence: float
    horizon: int
    value_at_risk: float
    expected_shortfall: float
    units: str
    observations: int


def check_confidence(confidence: float) -> float:
    """Return ``confidence`` as a float, or raise QuantDeskError unless it lies strictly between 0 and 1."""
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating, np.integer)) \
            or not 0.0 < float(confidence) < 1.0:
        raise QuantDeskError(f"confidence {confidence!r} must lie strictly between 0 and 1, e.g. 0.99")
    return float(confidence)


def _check_count(name: str, value: int, minimum: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise QuantDeskError(f"{name} {value!r} must be a whole number of at least {minimum}, e.g. {example}")
    return int(value)


def empirical_tail(outcomes: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return historical VaR and ES of the outcomes (P&L or returns) along the last axis.

    Parameters
    ----------
    outcomes : numpy.ndarray
        Gains positive, losses negative; no NaN. Each row along the last axis is one sample.
    confidence : float

    Returns
    -------
    value_at_risk, expected_shortfall : numpy.ndarray
        Positive losses, one per sample (0-d for a 1-d input): minus the ``k``-th worst
        outcome and minus the mean of the ``k`` worst, ``k = max(1, ceil(n (1 - confidence)))``.
    """
    count = outcomes.shape[-1]
    # rounded first so that 1000 * (1 - 0.99) = 10.000000000000009 counts as 10, not 11
    worst = max(1, math.ceil(round(count * (1.0 - confidence), 9)))
    parted = np.partition(outcomes, worst - 1, axis=-1)
    return -parted[..., worst - 1], -parted[..., :worst].mean(axis=-1)


def normal_tail(mean: float | np.ndarray, deviation: float | np.ndarray, confidence: float,
                horizon: int = 1) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Return VaR and ES of normal daily outcomes with ``mean`` and standard ``deviation`` over ``horizon`` days.

    ``VaR = z sigma sqrt(h) - h mu`` and ``ES = phi(z) / (1 - c) sigma sqrt(h) - h mu`` with
    ``z`` the standard normal ``c``-quantile and ``phi`` its density (i.i.d. days).
    """
    quantile = norm.ppf(confidence)
    spread = np.asarray(deviation) * math.sqrt(horizon)
    drift = np.asarray(mean) * horizon
    return quantile * spread - drift, norm.pdf(quantile) / (1.0 - confidence) * spread - drift


def _return_series(returns: pd.Series | np.ndarray) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1:
        raise QuantDeskError(f"returns of shape {values.shape} are not one series: give a Series, "
                             "or a DataFrame of asset returns together with positions")
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise QuantDeskError("returns hold no values (empty or all NaN): give at least one return")
    if not np.all(np.isfinite(values)):
        raise QuantDeskError("returns hold an infinite value: clean the series (e.g. a price of zero) first")
    return values


def aggregate_exposures(positions: Positions, assets: pd.Index, source: str = "asset returns") -> np.ndarray:
    """Return the net market value per asset of ``positions``, aligned to ``assets`` (one asset's positions summed).

    Parameters
    ----------
    positions : pandas.Series or mapping
        Asset -> market value (negative when short); a Series may name an asset more than once.
    assets : pandas.Index
        Unique asset names.
    source : str
        What ``assets`` come from, for the error message.

    Raises
    ------
    QuantDeskError
        For an asset not in ``assets`` or a non-finite value.
    """
    held = positions if isinstance(positions, pd.Series) else pd.Series(dict(positions), dtype=np.float64)
    values = held.to_numpy(dtype=np.float64)
    slots = assets.get_indexer(held.index)
    if (slots < 0).any():
        names = ", ".join(map(repr, held.index[slots < 0].unique()[:5]))
        raise QuantDeskError(f"positions name {names}, not in the {source}: add its returns or remove the position")
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise QuantDeskError(f"the position in {held.index[bad]!r} has the value {values[bad]}: give a finite market value")
    return np.bincount(slots, weights=values, minlength=len(assets))


class ScenarioMatrix:
    """Asset returns held once as a contiguous float64 matrix, for measuring many books against them.

    Parameters
    ----------
    asset_returns : pandas.DataFrame
        Daily returns, time x asset, one column per asset. NaN marks a missing return; a
        day with a missing return on an asset a book holds is left out of that book's history.

    Attributes
    ----------
    assets : pandas.Index
        The asset names, in the matrix's column order.
    index : pandas.Index
        The days, in the matrix's row order.
    matrix : numpy.ndarray
        The returns, C-contiguous float64, days x assets.

    Raises
    ------
    QuantDeskError
        For an empty or all-NaN frame, repeated asset names or non-numeric values.
    """

    def __init__(self, asset_returns: pd.DataFrame) -> None:
        if not isinstance(asset_returns, pd.DataFrame):
            raise QuantDeskError(f"asset returns must be a DataFrame (time x asset), not {type(asset_returns).__name__}")
        if asset_returns.columns.has_duplicates:
            repeated = sorted(map(str, asset_returns.columns[asset_returns.columns.duplicated()].unique()))
            raise QuantDeskError(f"asset returns name {', '.join(repeated[:5])} more than once: give one column per asset")
        try:
            matrix = np.ascontiguousarray(asset_returns.to_numpy(dtype=np.float64))
        except (TypeError, ValueError) as error:
            raise QuantDeskError(f"asset returns must be numbers: {error}") from None
        if matrix.size == 0 or np.isnan(matrix).all():
            raise QuantDeskError("asset returns hold no values (empty or all NaN): give at least one day of returns")
        if np.isinf(matrix).any():
            raise QuantDeskError("asset returns hold an infinite value: clean the returns (e.g. a price of zero) first")
        self.assets = asset_returns.columns
        self.index = asset_returns.index
        self.matrix = matrix
        self._complete = not np.isnan(matrix).any()

    def exposures(self, positions: Positions) -> np.ndarray:
        """Return the net market value per asset, aligned to :attr:`assets`; see :func:`aggregate_exposures`."""
        return aggregate_exposures(positions, self.assets, "asset returns")

    def profit_and_loss(self, exposures: np.ndarray) -> np.ndarray:
        """Return the book's P&L on each day of history (currency), from :meth:`exposures`.

        Days with a missing return on a held asset are left out.
        """
        if self._complete:
            return _matrix_vector(self.matrix, exposures)
        held = np.flatnonzero(exposures)
        columns = self.matrix[:, held]
        days = ~np.isnan(columns).any(axis=1)
        if not days.any():
            raise QuantDeskError("no day of the asset returns has a return for every held asset: "
                                 "give returns that overlap in time")
        return _matrix_vector(columns[days], exposures[held])

    def estimate(self, positions: Positions, confidence: float = 0.99, horizon: int = 1,
                 methods: Iterable[str] = METHODS) -> dict[str, RiskEstimate]:
        """Return VaR and ES of ``positions`` by each of ``methods`` (``historical``, ``parametric``), in currency.

        The P&L history is computed once for all methods; ``parametric`` takes its mean and
        standard deviation, which equal ``mu @ v`` and ``sqrt(v' Sigma v)`` with the sample
        mean and covariance of the same days.
        """
        confidence = check_confidence(confidence)
        horizon = _check_count("horizon", horizon, 1, "1 or 10")
        methods = tuple(methods)
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise QuantDeskError(f"method {unknown[0]!r} is not known here: use one of {', '.join(METHODS)}")
        pnl = self.profit_and_loss(self.exposures(positions))
        return {method: _estimate(method, pnl, confidence, horizon, "currency") for method in methods}


def _matrix_vector(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Return ``matrix @ vector`` on the calling thread.

    Measured here on 2,520 x 500: OpenBLAS's threaded ``@`` took 0.2 ms on idle cores but a
    median 16 ms, and up to 0.4 s, while other processes held them (its threads wait for a
    core); numpy's einsum kernel (one thread, no BLAS) took about 0.4 ms either way.
    """
    return np.einsum("ij,j->i", matrix, vector)


def _estimate(method: str, outcomes: np.ndarray, confidence: float, horizon: int, units: str) -> RiskEstimate:
    """Return the historical or parametric estimate from daily ``outcomes`` (see the module notes)."""
    if method == "historical":
        loss, tail = empirical_tail(outcomes, confidence)
        loss, tail = loss * math.sqrt(horizon), tail * math.sqrt(horizon)
    else:
        loss, tail = normal_tail(float(outcomes.mean()), _deviation(outcomes), confidence, horizon)
    return RiskEstimate(method, confidence, horizon, float(loss), float(tail), units, int(outcomes.size))


def _deviation(outcomes: np.ndarray) -> float:
    """Return the sample standard deviation (``ddof=1``), 0 for a single outcome."""
    return float(outcomes.std(ddof=1)) if outcomes.size > 1 else 0.0


def historical_var(returns: pd.Series | pd.DataFrame | np.ndarray, confidence: float = 0.99, horizon: int = 1,
                   *, positions: Positions | None = None) -> RiskEstimate:
    """Return historical-simulation VaR and ES (see the module notes for the quantile and horizon).

    Parameters
    ----------
    returns : pandas.Series, numpy.ndarray or pandas.DataFrame
        A portfolio's returns (result in fractions), or asset returns (time x asset) with
        ``positions`` (result in currency). NaN returns are skipped.
    confidence : float
        Strictly between 0 and 1.
    horizon : int
        Days, at least 1; one-day figures are scaled by ``sqrt(horizon)``.
    positions : pandas.Series or mapping, optional
        Asset -> market value, with ``returns`` a DataFrame.

    Raises
    ------
    QuantDeskError
        For a bad confidence or horizon, empty or NaN-only returns, or a position in an
        asset the returns do not hold.
    """
    if positions is not None:
        return _scenarios(returns).estimate(positions, confidence, horizon, ("historical",))["historical"]
    confidence = check_confidence(confidence)
    horizon = _check_count("horizon", horizon, 1, "1 or 10")
    return _estimate("historical", _return_series(returns), confidence, horizon, "fraction")


def parametric_var(returns: pd.Series | pd.DataFrame | np.ndarray | None = None, confidence: float = 0.99,
                   horizon: int = 1, *, positions: Positions | None = None,
                   covariance: pd.DataFrame | None = None) -> RiskEstimate:
    """Return variance-covariance (normal) VaR and ES.

    The portfolio's daily outcome is taken as normal with the sample mean ``mu`` and
    standard deviation ``sigma`` (``ddof=1``): of the return series, or ``mu = m @ v`` and
    ``sigma = sqrt(v' Sigma v)`` for positions ``v`` and the asset returns' mean ``m`` and
    covariance ``Sigma``. Over ``horizon`` days the mean scales by ``horizon`` and sigma by
    ``sqrt(horizon)``.

    Parameters
    ----------
    returns : pandas.Series, numpy.ndarray or pandas.DataFrame, optional
        As for :func:`historical_var`. May be omitted when ``covariance`` is given (mean 0).
    confidence, horizon
        As for :func:`historical_var`.
    positions : pandas.Series or mapping, optional
        Asset -> market value; the result is then in currency.
    covariance : pandas.DataFrame, optional
        Daily asset return covariance (asset x asset) to use instead of the sample
        covariance of ``returns`` (e.g. a shrunk estimate); needs ``positions``.

    Raises
    ------
    QuantDeskError
        As :func:`historical_var`, and for a covariance without positions or missing a held asset.
    """
    if covariance is None and positions is not None:
        return _scenarios(returns).estimate(positions, confidence, horizon, ("parametric",))["parametric"]
    confidence = check_confidence(confidence)
    horizon = _check_count("horizon", horizon, 1, "1 or 10")
    if covariance is not None:
        mean, matrix, exposures = _asset_moments(returns, positions, covariance)
        loss, tail = normal_tail(float(mean @ exposures), math.sqrt(max(float(exposures @ matrix @ exposures), 0.0)),
                                 confidence, horizon)
        observations = 0 if returns is None else int(len(returns))
        return RiskEstimate("parametric", confidence, horizon, float(loss), float(tail), "currency", observations)
    return _estimate("parametric", _return_series(returns), confidence, horizon, "fraction")


def monte_carlo_var(returns: pd.Series | pd.DataFrame | np.ndarray | None = None, confidence: float = 0.99,
                    horizon: int = 1, *, positions: Positions | None = None, covariance: pd.DataFrame | None = None,
                    paths: int = 100_000, seed: int = 0) -> RiskEstimate:
    """Return Monte Carlo VaR and ES from multivariate normal returns.

    Each path draws the ``horizon``-day return of every held asset from
    ``N(horizon * m, horizon * Sigma)`` (the sample mean and covariance of ``returns``, or
    ``covariance`` with mean 0 when ``returns`` is omitted) and revalues the positions; the
    VaR and ES are the historical ones of the simulated outcomes. For a return series the
    draws are univariate. The estimate's standard error at confidence ``c`` is about
    ``sigma sqrt(c (1 - c) / paths) / phi(z_c)``; 100,000 paths put 99% VaR within about 1.2%
    of sigma. For a GARCH-simulated path use :func:`garch_var` with ``paths``.

    Parameters
    ----------
    returns, confidence, horizon, positions, covariance
        As for :func:`parametric_var`.
    paths : int
        Simulated paths, at least 100.
    seed : int
        Seed of numpy's default generator: the same seed gives the same estimate.
    """
    confidence = check_confidence(confidence)
    horizon = _check_count("horizon", horizon, 1, "1 or 10")
    paths = _check_count("paths", paths, 100, "100000")
    generator = np.random.default_rng(seed)
    if positions is None and covariance is None:
        values = _return_series(returns)
        outcomes = generator.normal(horizon * float(values.mean()), math.sqrt(horizon) * _deviation(values), size=paths)
        units = "fraction"
    else:
        mean, matrix, exposures = _asset_moments(returns, positions, covariance)
        outcomes = _simulate_linear(generator, horizon * mean, horizon * matrix, exposures, paths)
        units = "currency"
    loss, tail = empirical_tail(outcomes, confidence)
    return RiskEstimate("monte_carlo", confidence, horizon, float(loss), float(tail), units, paths)


def _simulate_linear(generator: np.random.Generator, mean: np.ndarray, covariance: np.ndarray,
                     exposures: np.ndarray, paths: int) -> np.ndarray:
    """Return ``paths`` draws of ``x @ exposures`` with ``x ~ N(mean, covariance)``."""
    # eigh rather than Cholesky: a sample covariance of fewer days than assets is only semi-definite
    values, vectors = np.linalg.eigh(covariance)
    if values.size and values[0] < -1e-10 * max(abs(values[-1]), 1e-300):
        raise QuantDeskError("the covariance is not positive semi-definite: give a valid covariance matrix")
    factor = vectors * np.sqrt(np.clip(values, 0.0, None))
    batch = max(1, _SIMULATION_BATCH // max(1, mean.size))
    outcomes = np.empty(paths)
    for start in range(0, paths, batch):
        stop = min(paths, start + batch)
        draws = generator.standard_normal((stop - start, mean.size)) @ factor.T + mean
        outcomes[start:stop] = draws @ exposures
    return outcomes


def _scenarios(returns: pd.Series | pd.DataFrame | np.ndarray | None) -> ScenarioMatrix:
    if not isinstance(returns, pd.DataFrame):
        raise QuantDeskError("positions need asset returns as a DataFrame (time x asset), "
                             f"not {type(returns).__name__}")
    return ScenarioMatrix(returns)


def _asset_moments(returns: pd.DataFrame | None, positions: Positions | None,
                   covariance: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the mean vector, covariance and exposures of the held assets (those with a nonzero position)."""
    if positions is None:
        raise QuantDeskError("a covariance matrix needs positions (asset -> market value) to weight it")
    if covariance is None:
        scenarios = _scenarios(returns)
        exposures = scenarios.exposures(positions)
        held = np.flatnonzero(exposures)
        columns = scenarios.matrix[:, held]
        columns = columns[~np.isnan(columns).any(axis=1)]
        if columns.shape[0] < 2:
            raise QuantDeskError("fewer than 2 days have a return for every held asset: give a longer history")
        matrix = np.atleast_2d(np.cov(columns, rowvar=False))
        return columns.mean(axis=0), matrix, exposures[held]
    if not isinstance(covariance, pd.DataFrame) or not covariance.index.equals(covariance.columns) \
            or covariance.columns.has_duplicates:
        raise QuantDeskError("covariance must be a square DataFrame with the same unique assets as index and columns")
    exposures = aggregate_exposures(positions, covariance.columns, "covariance")
    held = np.flatnonzero(exposures)
    matrix = covariance.to_numpy(dtype=np.float64)[np.ix_(held, held)]
    if not np.all(np.isfinite(matrix)):
        raise QuantDeskError("covariance holds NaN or infinite values for held assets: give a complete matrix")
    if returns is None:
        return np.zeros(held.size), matrix, exposures[held]
    scenarios = _scenarios(returns)
    scenarios.exposures(positions)  # names a held asset the returns lack
    columns = scenarios.matrix[:, scenarios.assets.get_indexer(covariance.columns[held])]
    return np.nanmean(columns, axis=0), matrix, exposures[held]


@dataclass(frozen=True)
class GarchForecast:
    """GARCH(1,1) forecast of the next days' returns, fitted on one return series.

    Attributes
    ----------
    parameters : GarchParameters
        ``mu, omega, alpha, beta`` of the fit, in percent returns (arch's scale).
    mean : float
        Expected daily return (fraction).
    variance : pandas.Series
        Forecast variance of each day's return, days 1..horizon ahead (fraction squared).
    """

    parameters: GarchParameters
    mean: float
    variance: pd.Series

    @property
    def volatility(self) -> pd.Series:
        """Return the forecast standard deviation of each day's return (fraction)."""
        return np.sqrt(self.variance).rename("volatility")

    @property
    def horizon_volatility(self) -> float:
        """Return the standard deviation of the return summed over the whole horizon (fraction)."""
        return math.sqrt(float(self.variance.sum()))


def _garch_model(values: np.ndarray):
    """Return arch's constant-mean GARCH(1,1) model of ``values`` in percent, the model quantdesk fits."""
    # imported here: arch takes about 2 s to import, which a monitor measuring only historical VaR never needs
    from arch import arch_model

    return arch_model(_GARCH_SCALE * values, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)


def _garch_sample(returns: pd.Series | pd.DataFrame | np.ndarray,
                  positions: Positions | None) -> tuple[np.ndarray, float, str]:
    """Return the returns to fit, the value they are a fraction of, and the units of the result."""
    if positions is None:
        values, scale, units = _return_series(returns), 1.0, "fraction"
    else:
        # the book's daily P&L over its gross exposure: returns near arch's expected scale, whatever the book's size
        scenarios = _scenarios(returns)
        exposures = scenarios.exposures(positions)
        scale = float(np.abs(exposures).sum())
        if scale == 0.0:
            raise QuantDeskError("positions are all zero: GARCH VaR needs a book with exposure")
        values, units = scenarios.profit_and_loss(exposures) / scale, "currency"
    if values.size < _GARCH_MINIMUM_OBSERVATIONS:
        raise QuantDeskError(f"only {values.size} returns: a GARCH(1,1) fit needs at least "
                             f"{_GARCH_MINIMUM_OBSERVATIONS}; give a longer history")
    return values, scale, units


def garch_forecast(returns: pd.Series | np.ndarray, horizon: int = 1) -> GarchForecast:
    """Fit a constant-mean GARCH(1,1) with normal errors and forecast the variance of the next ``horizon`` days.

    The fit is quantdesk's :func:`quantdesk.factors.regimes.fit_garch` (arch's estimates,
    without arch's overhead); the forecast is arch's analytic one for those parameters,
    equal to ``arch_model(100 * returns, ...).fit().forecast(horizon=horizon)`` divided by
    100**2. Returns are fitted in percent for the optimizer's sake.

    Parameters
    ----------
    returns : pandas.Series or numpy.ndarray
        Daily returns (fractions), at least 100 after NaN are dropped.
    horizon : int
        Days ahead, at least 1.

    Raises
    ------
    QuantDeskError
        For a bad horizon or too few returns.
    """
    horizon = _check_count("horizon", horizon, 1, "1 or 10")
    values, _, _ = _garch_sample(returns, None)
    return _garch_fit_forecast(values, horizon)[0]


def _garch_fit_forecast(values: np.ndarray, horizon: int) -> tuple[GarchForecast, object, np.ndarray]:
    """Return the forecast, arch's model (for simulating) and the fitted parameter vector."""
    parameters = fit_garch(values)
    model = _garch_model(values)
    vector = np.array([parameters.mu, parameters.omega, parameters.alpha, parameters.beta])
    variance = model.forecast(vector, horizon=horizon, reindex=False).variance.to_numpy()[-1]
    steps = pd.RangeIndex(1, horizon + 1, name="days_ahead")
    forecast = GarchForecast(parameters, parameters.mu / _GARCH_SCALE,
                             pd.Series(variance / _GARCH_SCALE**2, index=steps, name="variance"))
    return forecast, model, vector


def garch_var(returns: pd.Series | pd.DataFrame | np.ndarray, confidence: float = 0.99, horizon: int = 1,
              *, positions: Positions | None = None, paths: int | None = None, seed: int = 0) -> RiskEstimate:
    """Return VaR and ES from a GARCH(1,1) forecast (see :func:`garch_forecast`).

    Without ``paths`` the ``horizon``-day outcome is taken as normal with mean
    ``horizon * mu`` and the summed variance forecasts (exact for one day; for longer
    horizons a normal approximation of GARCH's fat-tailed aggregate). With ``paths``,
    arch simulates that many GARCH paths over the horizon and the VaR and ES are the
    historical ones of the simulated sums.

    Parameters
    ----------
    returns, confidence, horizon, positions
        As for :func:`historical_var`. For positions the fit is on the book's daily P&L
        over its gross exposure, and the result is scaled back to currency.
    paths : int, optional
        Simulated GARCH paths (at least 100), or None for the normal approximation.
    seed : int
        Seed of the simulation.

    Raises
    ------
    QuantDeskError
        As :func:`historical_var`, and for fewer than 100 returns or a book of zero exposure.
    """
    confidence = check_confidence(confidence)
    horizon = _check_count("horizon", horizon, 1, "1 or 10")
    values, scale, units = _garch_sample(returns, positions)
    forecast, model, vector = _garch_fit_forecast(values, horizon)
    if paths is None:
        loss, tail = normal_tail(forecast.mean, forecast.horizon_volatility / math.sqrt(horizon), confidence, horizon)
        return RiskEstimate("garch", confidence, horizon, float(loss) * scale, float(tail) * scale, units,
                            int(values.size))
    paths = _check_count("paths", paths, 100, "10000")
    generator = np.random.default_rng(seed)
    simulated = model.forecast(vector, horizon=horizon, method="simulation", simulations=paths,
                               rng=generator.standard_normal, reindex=False).simulations.values[-1]
    loss, tail = empirical_tail(simulated.sum(axis=1) / _GARCH_SCALE, confidence)
    return RiskEstimate("garch_monte_carlo", confidence, horizon, float(loss) * scale, float(tail) * scale, units, paths)
