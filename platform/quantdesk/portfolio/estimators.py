"""Expected returns and covariance matrices from prices, over PyPortfolioOpt's estimators plus a factor model.

Every estimator takes a ``time x asset`` frame of prices and returns annualized figures
(``frequency`` periods a year). Covariances come back positive semidefinite: the optimizers
solve convex problems that need it, and sample estimates over assets with gaps (or a
factor model with a short history) can miss it by rounding.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pypfopt import expected_returns as pypfopt_returns
from pypfopt import risk_models as pypfopt_risk

from quantdesk.errors import QuantDeskError

RETURN_METHODS = {"mean_historical": "mean_historical_return", "ema_historical": "ema_historical_return", "capm": "capm_return"}
RISK_METHODS = ("sample", "exponential", "ledoit_wolf", "factor_model")
# The options each estimator takes: PyPortfolioOpt swallows unknown keyword arguments silently, so a typo would
# otherwise change nothing without a word.
OPTIONS = {
    "mean_historical": ("compounding", "log_returns"),
    "ema_historical": ("span", "compounding", "log_returns"),
    "capm": ("market_prices", "risk_free_rate", "compounding", "log_returns"),
    "sample": ("log_returns",),
    "exponential": ("span", "log_returns"),
    "ledoit_wolf": ("shrinkage_target",),
    "factor_model": ("factor_returns", "factor_run", "horizon", "factors"),
}
SHRINKAGE_TARGETS = ("constant_variance", "single_factor", "constant_correlation")
# Eigenvalues this far below zero (relative to the largest) are rounding, not a broken estimate.
PSD_TOLERANCE = 1e-12


def check_prices(prices: pd.DataFrame, what: str = "prices") -> pd.DataFrame:
    """Return ``prices`` as floats, or raise naming what is wrong with them."""
    if not isinstance(prices, pd.DataFrame) or prices.empty:
        raise QuantDeskError(f"No {what}: give a DataFrame with one column of prices per asset and one row per date")
    empty = [str(column) for column in prices.columns if prices[column].notna().sum() < 2]
    if empty:
        raise QuantDeskError(f"Assets {', '.join(empty)} have fewer than 2 {what}: drop them or widen the period")
    if (prices <= 0).any().any():
        bad = [str(column) for column in prices.columns if (prices[column] <= 0).any()]
        raise QuantDeskError(f"Assets {', '.join(bad)} have prices at or below zero: returns need positive prices")
    return prices.astype(float)


def expected_returns(prices: pd.DataFrame, method: str = "mean_historical", frequency: int = 252, **options: Any) -> pd.Series:
    """Estimate annualized expected returns per asset.

    Parameters
    ----------
    prices : pandas.DataFrame
        Prices, one column per asset, one row per period.
    method : {"mean_historical", "ema_historical", "capm"}
        Geometric mean of past returns; exponentially weighted mean (``span=`` periods,
        default 500); or CAPM returns from betas to ``market_prices=`` (a Series; the
        equal-weighted universe when omitted) and ``risk_free_rate=``.
    frequency : int
        Periods a year (252 for daily prices).
    **options
        Passed to PyPortfolioOpt's estimator (``span``, ``market_prices``, ``risk_free_rate``,
        ``compounding``, ``log_returns``).

    Returns
    -------
    pandas.Series
        Asset -> annualized expected return.
    """
    if method not in RETURN_METHODS:
        raise QuantDeskError(f"Unknown expected-returns method {method!r}: use one of {', '.join(RETURN_METHODS)}")
    _check_options(method, options, "expected returns")
    prices = check_prices(prices)
    if method == "capm" and options.get("market_prices") is not None:
        options["market_prices"] = _market_frame(options["market_prices"])
    estimate = pypfopt_returns.return_model(prices, method=RETURN_METHODS[method], frequency=frequency, **options)
    return estimate.rename("expected_return")


def _check_options(method: str, options: dict[str, Any], what: str) -> None:
    unknown = [name for name in options if name not in OPTIONS[method]]
    if unknown:
        raise QuantDeskError(f"Unknown option(s) {', '.join(unknown)} for {what} {method!r}: it takes "
                             f"{', '.join(OPTIONS[method])}")


def _market_frame(market_prices: pd.Series | pd.DataFrame) -> pd.DataFrame:
    if isinstance(market_prices, pd.Series):
        return market_prices.to_frame(market_prices.name or "market")
    return market_prices


def risk_model(prices: pd.DataFrame, method: str = "ledoit_wolf", frequency: int = 252, **options: Any) -> pd.DataFrame:
    """Estimate the annualized covariance matrix of asset returns.

    Parameters
    ----------
    prices : pandas.DataFrame
        Prices, one column per asset, one row per period.
    method : {"sample", "exponential", "ledoit_wolf", "factor_model"}
        Sample covariance; exponentially weighted (``span=`` periods, default 180);
        Ledoit-Wolf shrinkage towards constant variance and zero correlation (``shrinkage_target=``
        ``"constant_variance"``, ``"single_factor"`` or ``"constant_correlation"``); or the
        factor model of :func:`factor_covariance`, from ``factor_returns=`` (a DataFrame) or
        ``factor_run=`` (the folder of a stored factor run, see :func:`factor_returns_from_run`).
    frequency : int
        Periods a year (252 for daily prices).

    Returns
    -------
    pandas.DataFrame
        Asset x asset covariance, positive semidefinite.
    """
    if method not in RISK_METHODS:
        raise QuantDeskError(f"Unknown risk model {method!r}: use one of {', '.join(RISK_METHODS)}")
    _check_options(method, options, "risk model")
    prices = check_prices(prices)
    if method == "sample":
        matrix = pypfopt_risk.sample_cov(prices, frequency=frequency, **options)
    elif method == "exponential":
        matrix = pypfopt_risk.exp_cov(prices, frequency=frequency, **options)
    elif method == "ledoit_wolf":
        target = options.get("shrinkage_target", "constant_variance")
        if target not in SHRINKAGE_TARGETS:
            raise QuantDeskError(f"Unknown shrinkage_target {target!r}: use one of {', '.join(SHRINKAGE_TARGETS)}")
        matrix = pypfopt_risk.CovarianceShrinkage(prices, frequency=frequency).ledoit_wolf(target)
    else:
        matrix = _factor_model(prices, frequency, **options)
    return positive_semidefinite(matrix)


def _factor_model(prices: pd.DataFrame, frequency: int, factor_returns: pd.DataFrame | None = None,
                  factor_run: str | Path | None = None, **options: Any) -> pd.DataFrame:
    if (factor_returns is None) == (factor_run is None):
        raise QuantDeskError("The factor_model risk model needs exactly one of factor_returns= (a DataFrame of "
                             "factor returns per date) or factor_run= (the folder of a stored factor run)")
    if factor_run is not None:
        factor_returns = factor_returns_from_run(factor_run, **options)
    return factor_covariance(prices.pct_change(fill_method=None).iloc[1:], factor_returns, frequency)


def factor_covariance(asset_returns: pd.DataFrame, factor_returns: pd.DataFrame, frequency: int = 252) -> pd.DataFrame:
    """Return the factor-model covariance ``B F B' + D`` of asset returns, annualized.

    Each asset's returns are regressed (least squares, with an intercept) on the factor
    returns over the dates both have; ``B`` holds the slopes, ``F`` is the sample covariance
    of the factor returns over the dates every series has, and ``D`` is diagonal with each
    regression's residual variance (divided by observations minus coefficients).

    Parameters
    ----------
    asset_returns : pandas.DataFrame
        Periodic returns, one column per asset.
    factor_returns : pandas.DataFrame
        Periodic returns of the factors (e.g. long-short portfolios), one column per factor,
        indexed by the same dates as ``asset_returns``.
    frequency : int
        Periods a year.

    Returns
    -------
    pandas.DataFrame
        Asset x asset covariance.
    """
    if not isinstance(factor_returns, pd.DataFrame) or factor_returns.shape[1] == 0:
        raise QuantDeskError("factor_returns must be a DataFrame with one column of returns per factor")
    dates = asset_returns.index.intersection(factor_returns.index)
    factors = factor_returns.loc[dates].astype(float)
    if len(dates) <= factors.shape[1] + 1:
        raise QuantDeskError(f"The factor returns share only {len(dates)} dates with the asset returns: a regression "
                             f"on {factors.shape[1]} factors needs more; check that both are indexed by the same dates")
    loadings = pd.DataFrame(index=asset_returns.columns, columns=factors.columns, dtype=float)
    residual_variance = pd.Series(index=asset_returns.columns, dtype=float)
    for asset in asset_returns.columns:
        frame = pd.concat([asset_returns.loc[dates, asset], factors], axis=1).dropna()
        coefficients = factors.shape[1] + 1
        if len(frame) <= coefficients:
            raise QuantDeskError(f"Asset {asset} has {len(frame)} dates with returns and factor returns: "
                                 f"the factor model needs more than {coefficients}")
        design = np.column_stack([np.ones(len(frame)), frame.iloc[:, 1:].to_numpy()])
        solution, *_ = np.linalg.lstsq(design, frame.iloc[:, 0].to_numpy(), rcond=None)
        residuals = frame.iloc[:, 0].to_numpy() - design @ solution
        loadings.loc[asset] = solution[1:]
        residual_variance[asset] = residuals @ residuals / (len(frame) - coefficients)
    factor_cov = factors.dropna().cov().to_numpy()
    matrix = loadings.to_numpy() @ factor_cov @ loadings.to_numpy().T + np.diag(residual_variance.to_numpy())
    return pd.DataFrame(matrix * frequency, index=asset_returns.columns, columns=asset_returns.columns)


def factor_returns_from_run(factor_run: str | Path, horizon: int = 1, factors: list[str] | None = None) -> pd.DataFrame:
    """Return factor returns from a stored, scored factor run: its top-minus-bottom quantile spreads.

    The scores of a factor run (:func:`quantdesk.factors.pipeline.run_factors`) hold each
    factor's ``spread`` per date: the equal-weighted return of its top quantile minus its
    bottom quantile over the next ``horizon`` bars, formed at that date's close. At horizon 1
    that is a daily long-short factor-mimicking portfolio; it is re-dated to the close where
    the return is earned, so it lines up with asset returns.

    Parameters
    ----------
    factor_run : str or Path
        Folder of the run, ``<catalog>/factors/<run id>``.
    horizon : int
        Scored horizon to read; only 1 gives non-overlapping daily returns.
    factors : list of str, optional
        Factor labels to keep (default: every factor of the run).
    """
    from quantdesk.factors.pipeline import open_factor_run

    run = open_factor_run(factor_run)
    if run.scores is None:
        raise QuantDeskError(f"Factor run {factor_run} has no scores yet: let the run finish before using its factor returns")
    if horizon not in run.scores["horizon"].values:
        raise QuantDeskError(f"Factor run {factor_run} was scored at horizons {list(run.scores['horizon'].values)}, not {horizon}")
    spread = run.scores["spread"].sel(horizon=horizon).to_pandas().T
    if factors is not None:
        unknown = [name for name in factors if name not in spread.columns]
        if unknown:
            raise QuantDeskError(f"Factor run {factor_run} has no factors {', '.join(unknown)}: it has {', '.join(map(str, spread.columns))}")
        spread = spread[factors]
    # The spread dated t is earned from t's close to the next one: date it there.
    return spread.shift(horizon).iloc[horizon:].dropna(how="all")


def positive_semidefinite(matrix: pd.DataFrame) -> pd.DataFrame:
    """Return ``matrix`` symmetric and positive semidefinite, clipping negative eigenvalues to zero if any."""
    values = matrix.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise QuantDeskError("The covariance matrix has missing values: give each asset enough overlapping prices")
    symmetric = (values + values.T) / 2
    eigenvalues = np.linalg.eigvalsh(symmetric)
    if eigenvalues.min() >= -PSD_TOLERANCE * max(abs(eigenvalues.max()), 1.0):
        return pd.DataFrame(symmetric, index=matrix.index, columns=matrix.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyPortfolioOpt announces the fix; the caller asked for it
        fixed = pypfopt_risk.fix_nonpositive_semidefinite(pd.DataFrame(symmetric, index=matrix.index, columns=matrix.columns))
    return (fixed + fixed.T) / 2
