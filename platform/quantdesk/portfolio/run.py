"""Run a :class:`PortfolioConfig` end to end: catalog prices -> estimators -> constraints -> optimizer -> Allocation."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from quantdesk.catalog.queries import load_bars
from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.estimators import expected_returns, risk_model
from quantdesk.portfolio.optimize import Allocation, optimize


class PortfolioInputs(NamedTuple):
    """What a config's optimization starts from, drawn from the catalog once.

    Attributes
    ----------
    close : pandas.DataFrame
        Closes over the period, one column per asset.
    expected : pandas.Series
        Annualized expected returns of the config's estimator.
    covariance : pandas.DataFrame
        Annualized covariance of the config's risk model.
    constraints : Constraints
        The constraints the config sets.
    market : pandas.Series or None
        Closes of the config's ``market`` (None when it names none).
    """

    close: pd.DataFrame
    expected: pd.Series
    covariance: pd.DataFrame
    constraints: Constraints
    market: pd.Series | None


def portfolio_inputs(config: PortfolioConfig, catalog: str | Path | None = None) -> PortfolioInputs:
    """Return the closes, estimates and constraints ``config`` is optimized from, read from the catalog.

    Parameters
    ----------
    config : PortfolioConfig
    catalog : str or Path, optional
        Catalog root (default: the configured one).

    Returns
    -------
    PortfolioInputs
    """
    config.check()
    close, volume = load_bars(config.universe, config.start, config.end, config.bar_spec, catalog)
    market = None
    if config.market is not None:
        market = load_bars([config.market], config.start, config.end, config.bar_spec, catalog)[0][config.market]
    returns_options = dict(config.returns_options)
    if config.returns_method == "capm" and market is not None:
        returns_options.setdefault("market_prices", market)
    expected = expected_returns(close, config.returns_method, config.frequency, **returns_options)
    covariance = risk_model(close, config.risk_method, config.frequency, **config.risk_options)
    return PortfolioInputs(close, expected, covariance, constraints_of(config, close, volume), market)


def run_portfolio(config: PortfolioConfig, catalog: str | Path | None = None, *,
                  inputs: PortfolioInputs | None = None) -> Allocation:
    """Optimize the portfolio ``config`` describes, from the catalog's bars.

    Parameters
    ----------
    config : PortfolioConfig
    catalog : str or Path, optional
        Catalog root (default: the configured one).
    inputs : PortfolioInputs, optional
        ``portfolio_inputs(config, catalog)`` when the caller has them already (default: read them).

    Returns
    -------
    Allocation
    """
    close, expected, covariance, constraints, market = inputs if inputs is not None else portfolio_inputs(config, catalog)
    options: dict = {}
    if config.method == "multi_objective":
        options = {"weights": config.objective_weights, "scores": config.scores or None}
    elif config.method == "hrp":
        options = {"linkage": config.linkage}
    elif config.method == "risk_parity":
        options = {"risk_budget": config.risk_budget or None}
    elif config.method == "black_litterman":
        options = {"views": config.views, "market_caps": config.market_caps or None, "market_prices": market,
                   "risk_aversion": config.risk_aversion, "tau": config.tau, "frequency": config.frequency}
    return optimize(expected, covariance, config.method, constraints,
                    target_return=config.target_return, target_volatility=config.target_volatility,
                    risk_free_rate=config.risk_free_rate, **options)


def constraints_of(config: PortfolioConfig, close: pd.DataFrame, volume: pd.DataFrame) -> Constraints:
    """Return the :class:`Constraints` a config sets, with liquidity inputs from the last bars."""
    default = (0.0, 1.0) if config.long_only else (-1.0, 1.0)
    bounds = config.weight_bounds
    if config.asset_bounds:
        bounds = {asset: config.asset_bounds.get(asset, bounds or default) for asset in config.universe}
    liquidity = {}
    if config.volume_share is not None:
        liquidity = {"capital": config.capital, "prices": close.ffill().iloc[-1].to_dict(),
                     "average_daily_volume": volume.tail(config.volume_window).mean().to_dict(),
                     "volume_share": config.volume_share, "liquidation_days": config.liquidation_days}
    return Constraints(
        weight_bounds=bounds, long_only=config.long_only, gross_limit=config.gross_limit, net_exposure=config.net_exposure,
        sectors=config.sectors or None, sector_limits=config.sector_limits or None,
        current_weights=config.current_weights or None, turnover_limit=config.turnover_limit,
        scores=config.scores or None, minimum_score=config.minimum_score, **liquidity)
