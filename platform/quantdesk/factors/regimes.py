"""Market regimes per date (volatility from GARCH(1,1), trend from a long moving average) and scores split by them.

Every label at date ``t`` uses data up to and including ``t`` only, so labels can split a
backtest or a factor's daily IC without looking ahead (except where a docstring says
otherwise: ``fit="full"`` estimates the GARCH parameters on the whole sample).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from numba import njit

from quantdesk.errors import QuantDeskError
from quantdesk.factors.garch import fit_garch_parameters

VOLATILITY_LABELS = ("low", "normal", "high")
TREND_LABELS = ("down", "sideways", "up")

# arch starts the variance recursion from an exponentially weighted mean of the first
# squared residuals (75 of them, decay 0.94); the same start keeps this module's volatility
# equal to arch's own ``conditional_volatility``.
_BACKCAST_OBSERVATIONS = 75
_BACKCAST_DECAY = 0.94
_SCALE = 100.0  # returns in percent: the scale arch's optimizer expects for daily returns


@dataclass(frozen=True)
class GarchParameters:
    """GARCH(1,1) parameters with a constant mean, in percent returns.

    Attributes
    ----------
    mu, omega, alpha, beta : float
        ``r_t = mu + e_t``, ``sigma2_t = omega + alpha * e_{t-1}**2 + beta * sigma2_{t-1}``.
    """

    mu: float
    omega: float
    alpha: float
    beta: float


def fit_garch(returns: pd.Series | np.ndarray, starting: GarchParameters | None = None) -> GarchParameters:
    """Fit a constant-mean GARCH(1,1) with normal errors to ``returns`` as arch does (plain returns; scaled by 100 for the fit).

    Parameters
    ----------
    returns : pandas.Series or numpy.ndarray
        Returns without NaN, e.g. 0.01 for 1%.
    starting : GarchParameters, optional
        Starting values for the optimizer (a previous fit), which speeds up refits.

    Returns
    -------
    GarchParameters
    """
    scaled = _SCALE * np.asarray(returns, dtype="float64")
    start = None if starting is None else np.array([starting.mu, starting.omega, starting.alpha, starting.beta])
    # arch's estimates; a short sample may stop the optimizer early, and its best estimate is still usable
    parameters, _ = fit_garch_parameters(scaled, start)
    mu, omega, alpha, beta = (float(value) for value in parameters)
    return GarchParameters(mu, omega, alpha, beta)


@njit(cache=True, nogil=True)
def _accumulate(shocks: np.ndarray, beta: float, start: float) -> np.ndarray:
    """Return ``v_t = shocks_t + beta * v_{t-1}`` with ``v_{-1} = start``.

    A first-order linear filter; written out rather than scipy.signal's ``lfilter``, whose
    import alone took over a second at the end of every factor run.
    """
    out = np.empty_like(shocks)
    previous = start
    for t in range(shocks.shape[0]):
        previous = shocks[t] + beta * previous
        out[t] = previous
    return out


def _variance_path(scaled: np.ndarray, parameters: GarchParameters, start_mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (sigma2_t given data to t-1, sigma2_{t+1} given data to t) for percent returns ``scaled``."""
    residuals = scaled - parameters.mu
    opening = scaled[:_BACKCAST_OBSERVATIONS] - start_mean
    weights = _BACKCAST_DECAY ** np.arange(opening.size)
    backcast = float(np.sum(opening**2 * (weights / weights.sum())))
    # sigma2_t - beta * sigma2_{t-1} = omega + alpha * e_{t-1}**2, with e_{-1}**2 = sigma2_{-1} = backcast
    shocks = np.empty_like(residuals)
    shocks[0] = parameters.omega + parameters.alpha * backcast
    shocks[1:] = parameters.omega + parameters.alpha * residuals[:-1] ** 2
    variance = _accumulate(shocks, parameters.beta, backcast)
    ahead = parameters.omega + parameters.alpha * residuals**2 + parameters.beta * variance
    return variance, ahead


def garch_volatility(
    returns: pd.Series,
    fit: str = "expanding",
    min_observations: int = 250,
    refit_every: int = 21,
) -> pd.DataFrame:
    """Return the GARCH(1,1) conditional volatility of ``returns``, in return units per bar.

    Parameters
    ----------
    returns : pandas.Series
        Bar returns indexed by date; NaN bars are skipped (and get NaN).
    fit : {"expanding", "full"}
        ``"expanding"``: the parameters used at date ``t`` were estimated on returns up to the
        latest refit date on or before ``t``, re-estimated every ``refit_every`` bars once
        ``min_observations`` returns exist; earlier dates get NaN (all of them for a shorter
        history, as in any warm-up). Causal. ``"full"``: one fit
        on the whole sample (what arch's ``conditional_volatility`` is), so the *parameters*
        look ahead although each date's variance still uses only earlier returns.
    min_observations : int
        Returns before the first fit (``"expanding"`` only); at least 100.
    refit_every : int
        Bars between refits (``"expanding"`` only).

    Returns
    -------
    pandas.DataFrame
        ``conditional``: the volatility of bar ``t``'s return given returns up to ``t - 1``
        (arch's ``conditional_volatility`` / 100); ``forecast``: the volatility expected for
        bar ``t + 1`` given returns up to ``t``, the freshest causal estimate at ``t``. The
        estimates per fit date are in ``attrs["parameters"]``.

    Raises
    ------
    QuantDeskError
        For an unknown ``fit``, fewer than 100 returns with ``fit="full"``, or
        ``min_observations`` / ``refit_every`` out of range.
    """
    if fit not in ("expanding", "full"):
        raise QuantDeskError(f"fit {fit!r} is not known: use 'expanding' (causal) or 'full' (one fit on all data)")
    clean = pd.Series(returns, dtype="float64").dropna()
    if fit == "expanding":
        if min_observations < 100:
            raise QuantDeskError(f"min_observations {min_observations} is too few for a GARCH fit: use 100 or more")
        if refit_every < 1:
            raise QuantDeskError(f"refit_every {refit_every} must be at least 1 bar")
    if fit == "full" and clean.size < 100:
        raise QuantDeskError(f"Only {clean.size} returns: a GARCH(1,1) fit needs at least 100; give a longer history")
    scaled = _SCALE * clean.to_numpy()
    conditional = np.full(scaled.size, np.nan)
    forecast = np.full(scaled.size, np.nan)
    fits = []
    if fit == "full":
        parameters = fit_garch(clean)
        conditional[:], forecast[:] = _variance_path(scaled, parameters, float(scaled.mean()))
        fits.append((clean.index[-1], parameters))
    else:
        parameters = None
        ends = list(range(min_observations - 1, scaled.size, refit_every))
        for number, end in enumerate(ends):
            sample = scaled[:end + 1]
            parameters = fit_garch(sample / _SCALE, parameters)
            stop = ends[number + 1] if number + 1 < len(ends) else scaled.size
            # arch centres the start-up residuals on the fit sample's mean: known at ``end``
            variance, ahead = _variance_path(scaled[:stop], parameters, float(sample.mean()))
            conditional[end:stop] = variance[end:stop]
            forecast[end:stop] = ahead[end:stop]
            fits.append((clean.index[end], parameters))
    frame = pd.DataFrame(
        {"conditional": np.sqrt(conditional) / _SCALE, "forecast": np.sqrt(forecast) / _SCALE}, index=clean.index
    ).reindex(pd.Series(returns).index)
    frame.attrs["parameters"] = pd.DataFrame(
        [vars(p) for _, p in fits], index=pd.Index([when for when, _ in fits], name="fitted_through")
    )
    return frame


def volatility_regime(
    returns: pd.Series,
    quantiles: tuple[float, float] = (0.25, 0.75),
    levels: tuple[float, float] | None = None,
    fit: str = "expanding",
    min_observations: int = 250,
    refit_every: int = 21,
    window: int | None = 756,
    min_history: int = 20,
    periods_per_year: int = 252,
) -> pd.Series:
    """Label each date's volatility regime ``low`` / ``normal`` / ``high`` from a GARCH(1,1) model.

    The date's GARCH volatility forecast for the next bar (see :func:`garch_volatility`) is
    compared with the ``quantiles`` of its own history up to and including that date (the
    last ``window`` dates, or all of them): at or below the lower one is ``low``, at or
    above the upper one ``high``. With ``levels`` it is compared with fixed annualized
    volatilities instead (e.g. ``(0.12, 0.25)``).

    Parameters
    ----------
    returns : pandas.Series
        Bar returns of the market (or of a factor portfolio) indexed by date.
    quantiles : tuple of float
        Lower and upper quantile of the volatility's history, ``0 < lower < upper < 1``.
    levels : tuple of float, optional
        Lower and upper annualized volatility; replaces ``quantiles``.
    fit, min_observations, refit_every
        How the GARCH parameters are estimated; see :func:`garch_volatility`. With
        ``fit="full"`` the labels use parameters estimated on the whole sample (not causal).
    window : int, optional
        Dates of history for the quantiles (default about three years of daily bars, so a
        calm market is not ``low`` forever after one crisis); ``None`` uses every earlier date.
    min_history : int
        Volatility estimates needed before the first label.
    periods_per_year : int
        Bars per year, to annualize for ``levels``.

    Returns
    -------
    pandas.Series
        Categorical (``low`` < ``normal`` < ``high``) on ``returns``'s index; NaN before the
        first label and on dates without a return.
    """
    # parameters first: the GARCH fits are the slow part
    if levels is not None and not 0.0 < levels[0] < levels[1]:
        raise QuantDeskError(
            f"levels {levels} must be two annualized volatilities with 0 < lower < upper, e.g. (0.12, 0.25)"
        )
    if levels is None and not 0.0 < quantiles[0] < quantiles[1] < 1.0:
        raise QuantDeskError(f"quantiles {quantiles} must satisfy 0 < lower < upper < 1, e.g. (0.25, 0.75)")
    if min_history < 1 or (window is not None and window < 2):
        raise QuantDeskError(f"min_history {min_history} must be at least 1 and window {window} at least 2 (or None)")
    volatility = garch_volatility(returns, fit, min_observations, refit_every)["forecast"]
    present = volatility.dropna()
    if levels is not None:
        values = present * np.sqrt(periods_per_year)
        lower = pd.Series(levels[0], index=present.index)
        upper = pd.Series(levels[1], index=present.index)
    else:
        if window is None:
            history = present.expanding(min_periods=min_history)
        else:
            history = present.rolling(window, min_periods=min(min_history, window))
        lower = history.quantile(quantiles[0])
        upper = history.quantile(quantiles[1])
        values = present
    labels = pd.Series(
        pd.Categorical([None] * len(values), categories=VOLATILITY_LABELS, ordered=True), index=values.index
    )
    known = lower.notna() & upper.notna()
    labels[known] = "normal"
    labels[known & (values <= lower)] = "low"
    labels[known & (values >= upper)] = "high"
    return labels.reindex(pd.Series(returns).index).rename("volatility_regime")


def trend_regime(prices: pd.Series, window: int = 200, band: float = 0.02, slope_window: int = 20) -> pd.Series:
    """Label each date's trend ``up`` / ``down`` / ``sideways`` from a long moving average.

    ``up`` when the price is more than ``band`` above its ``window``-bar moving average and
    that average has risen over the last ``slope_window`` bars; ``down`` when it is more than
    ``band`` below a falling average; ``sideways`` otherwise. Uses prices up to the date only.

    Parameters
    ----------
    prices : pandas.Series
        Prices (or a cumulative return index) indexed by date.
    window : int
        Bars in the moving average.
    band : float
        Relative distance from the average that counts as a trend (0.02 = 2%).
    slope_window : int
        Bars over which the average's direction is measured.

    Returns
    -------
    pandas.Series
        Categorical (``down`` < ``sideways`` < ``up``); NaN until ``window + slope_window - 1``
        bars exist and where the price is missing.
    """
    if window < 2 or slope_window < 1:
        raise QuantDeskError(f"window {window} and slope_window {slope_window} must be at least 2 and 1 bars")
    if band < 0:
        raise QuantDeskError(f"band {band} is negative: give a relative distance such as 0.02")
    price = pd.Series(prices, dtype="float64")
    average = price.rolling(window, min_periods=window).mean()
    slope = average - average.shift(slope_window)
    known = average.notna() & slope.notna() & price.notna()
    labels = pd.Series(pd.Categorical([None] * len(price), categories=TREND_LABELS, ordered=True), index=price.index)
    labels[known] = "sideways"
    labels[known & (price > average * (1.0 + band)) & (slope > 0)] = "up"
    labels[known & (price < average * (1.0 - band)) & (slope < 0)] = "down"
    return labels.rename("trend_regime")


def score_by_regime(
    scores: xr.Dataset | xr.DataArray,
    labels: pd.Series,
    horizon: int | None = None,
    variable: str = "rank_ic",
) -> pd.DataFrame:
    """Return each factor's IC statistics within each regime.

    A date's IC (factor at ``t``, forward return from ``t``) is put in the regime labelled at
    ``t``; dates are matched by calendar day, so time zones and bar times do not matter.

    Parameters
    ----------
    scores : xarray.Dataset or xarray.DataArray
        The result of :func:`quantdesk.factors.scoring.score`, or a daily series over
        ``(factor, time)`` (or ``(factor, horizon, time)`` with ``horizon`` given).
    labels : pandas.Series
        Regime label per date, e.g. from :func:`volatility_regime`; NaN dates are left out.
    horizon : int, optional
        Horizon to use; the first scored horizon by default.
    variable : str
        Series of a Dataset to split: ``rank_ic``, ``ic`` or ``spread``.

    Returns
    -------
    pandas.DataFrame
        Indexed by (factor, regime): ``mean``, ``std`` (ddof=1), ``ir`` = mean / std,
        ``tstat`` = ir * sqrt(dates) (plain; overlapping returns for horizons above 1 inflate
        it) and ``dates``.
    """
    series = scores[variable] if isinstance(scores, xr.Dataset) else scores
    if "horizon" in series.dims:
        available = [int(h) for h in series["horizon"].to_numpy()]
        chosen = available[0] if horizon is None else horizon
        if chosen not in available:
            raise QuantDeskError(f"Horizon {chosen} was not scored: choose one of {available}")
        series = series.sel(horizon=chosen)
    if set(series.dims) != {"factor", "time"}:
        raise QuantDeskError(f"Cannot split a series over {series.dims} by regime: give one over (factor, time)")
    series = series.transpose("factor", "time")
    label_days = _calendar_days(labels.index)
    lookup = pd.Series(np.asarray(labels, dtype=object), index=label_days)
    lookup = lookup[~lookup.index.duplicated(keep="last")]
    day_labels = lookup.reindex(_calendar_days(pd.DatetimeIndex(series["time"].to_numpy())))
    if day_labels.notna().sum() == 0:
        raise QuantDeskError(
            "No scored date has a regime label: give labels covering the scored period "
            f"({pd.Timestamp(series['time'].values[0]).date()} to {pd.Timestamp(series['time'].values[-1]).date()})"
        )
    values = series.to_numpy()
    if isinstance(labels.dtype, pd.CategoricalDtype):
        categories = list(labels.cat.categories)
    else:
        categories = sorted(day_labels.dropna().unique())
    rows = []
    factors = [str(label) for label in series["factor"].to_numpy()]
    for regime in categories:
        mask = (day_labels == regime).to_numpy()
        if not mask.any():
            continue
        inside = values[:, mask]
        dates = np.sum(~np.isnan(inside), axis=1)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a factor with no value in a regime: NaN, as meant
            mean = np.nanmean(inside, axis=1)
            std = np.nanstd(inside, axis=1, ddof=1)
            ir = np.where(std > 0, mean / std, np.nan)
        for index, factor in enumerate(factors):
            tstat = ir[index] * np.sqrt(dates[index])
            rows.append((factor, regime, mean[index], std[index], ir[index], tstat, int(dates[index])))
    columns = ["factor", "regime", "mean", "std", "ir", "tstat", "dates"]
    table = pd.DataFrame(rows, columns=columns).set_index(["factor", "regime"])
    table.attrs.update({"variable": variable, "horizon": horizon})
    return table


def _calendar_days(index: pd.Index) -> pd.DatetimeIndex:
    days = pd.DatetimeIndex(index)
    if days.tz is not None:
        days = days.tz_convert("UTC").tz_localize(None)
    return days.normalize()


def regime_summary(labels: pd.Series) -> pd.DataFrame:
    """Return how many dates each regime holds and its share of the labelled dates."""
    counts = labels.value_counts(sort=False, dropna=True)
    return pd.DataFrame({"dates": counts, "share": counts / max(int(counts.sum()), 1)})


__all__ = [
    "GarchParameters",
    "fit_garch",
    "garch_volatility",
    "regime_summary",
    "score_by_regime",
    "trend_regime",
    "volatility_regime",
]
