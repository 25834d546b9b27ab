"""Review one optimized :class:`PortfolioConfig`: frontier, correlations, trades, returns over the period, attribution.

The dashboard, the report notebook and the CLI show the same things; they all come from here.
Returns over the period are those of a constant mix: the optimized weights, rebalanced back
to target every bar. An asset without a price on a bar (not yet listed) earns nothing there,
as if its weight were held in cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pypfopt import risk_models

from quantdesk.analytics import BrinsonAttribution, brinson_fachler
from quantdesk.config.portfolio import PortfolioConfig
from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.allocation import RebalancingPlan, TradingCosts, plan_rebalance
from quantdesk.portfolio.constraints import Constraints
from quantdesk.portfolio.optimize import Allocation, efficient_frontier
from quantdesk.portfolio.run import load_bars, portfolio_inputs, run_portfolio

CASH = "cash"


@dataclass(frozen=True)
class PortfolioReview:
    """An optimized config with the inputs its views are drawn from.

    Attributes
    ----------
    config : PortfolioConfig
        What was optimized.
    allocation : Allocation
        The optimizer's result (:func:`quantdesk.portfolio.run.run_portfolio` of ``config``).
    close : pandas.DataFrame
        Closes over the period, one column per asset.
    expected : pandas.Series
        Annualized expected returns the estimator gave (the prior, for Black-Litterman).
    covariance : pandas.DataFrame
        Annualized covariance the risk model gave.
    constraints : Constraints
        The constraints the optimizer respected.
    """

    config: PortfolioConfig
    allocation: Allocation
    close: pd.DataFrame
    expected: pd.Series
    covariance: pd.DataFrame
    constraints: Constraints

    @property
    def prices(self) -> pd.Series:
        """Return each asset's latest close in the period."""
        return self.close.ffill().iloc[-1].rename("price")

    def late_starters(self) -> pd.Series:
        """Return asset -> first close for assets whose prices start after the period's first bar.

        Their estimates rest on a shorter history than the others' (PyPortfolioOpt estimates
        each pair from the dates both have), so a report should say so.
        """
        first = self.close.apply(lambda column: column.first_valid_index())
        return first[first > self.close.index[0]].rename("first_close")

    def correlation(self) -> pd.DataFrame:
        """Return the correlation matrix implied by the risk model's covariance."""
        return risk_models.cov_to_corr(self.covariance)

    def frontier(self, points: int = 30, client: Any = None) -> pd.DataFrame:
        """Return the efficient frontier of the estimates under the config's constraints (see ``efficient_frontier``)."""
        return efficient_frontier(self.expected, self.covariance, self.constraints, points, client,
                                  risk_free_rate=self.config.risk_free_rate)

    def asset_returns(self) -> pd.DataFrame:
        """Return each asset's return per bar, indexed by date (missing before an asset's first price)."""
        returns = self.close.pct_change(fill_method=None).iloc[1:]
        return returns.set_axis(_dates(returns.index))

    def returns(self, weights: pd.Series | None = None) -> pd.Series:
        """Return the constant-mix return per bar of ``weights`` (default: the optimized ones)."""
        weights = self.allocation.weights if weights is None else weights
        return (self.asset_returns().fillna(0.0) @ weights.reindex(self.close.columns).fillna(0.0)).rename("portfolio")

    def equal_weight(self) -> pd.Series:
        """Return equal weights over the universe: the benchmark of the attribution."""
        return pd.Series(1.0 / len(self.close.columns), index=self.close.columns, name="weight")

    def rebalancing(self, capital: float | None = None, costs: TradingCosts | None = None) -> RebalancingPlan:
        """Plan whole-share trades from the config's current weights to the optimized weights at the latest closes.

        Parameters
        ----------
        capital : float, optional
            Portfolio value; default the config's ``capital``.
        costs : TradingCosts, optional
            Cost model of the trades (default: none).
        """
        capital = self.config.capital if capital is None else capital
        if capital is None:
            raise QuantDeskError("No capital to allocate: set capital in the portfolio config (e.g. capital: 1000000)")
        prices = self.prices
        current = pd.Series(self.config.current_weights, dtype=float).reindex(prices.index).fillna(0.0)
        # Whole shares held now, rounded toward zero so the holdings never exceed the capital.
        shares = np.trunc(current * capital / prices)
        return plan_rebalance(shares, self.allocation, prices, capital, costs, long_only=self.config.long_only)

    def attribution(self, sectors: dict[str, str] | None = None, frequency: str = "ME") -> BrinsonAttribution:
        """Return Brinson-Fachler attribution of the optimized weights against equal weights.

        Both portfolios are rebalanced to their weights at the start of each period of
        ``frequency`` (a pandas offset: ``ME`` months, ``QE`` quarters); an asset's period
        return compounds its bar returns. Weights short of a net exposure of 1 are held in cash.

        Parameters
        ----------
        sectors : dict of str to str, optional
            Asset -> sector; default the config's sector map, or one group per asset when it has none.
        frequency : str
            Length of an attribution period.
        """
        sectors = dict(sectors if sectors is not None else self.config.sectors) or None
        if sectors is not None:
            unmapped = [asset for asset in self.close.columns if asset not in sectors]
            if unmapped:
                raise QuantDeskError(f"Assets {', '.join(unmapped)} have no sector in the sector map: add them")
        growth = (1.0 + self.asset_returns().fillna(0.0)).resample(frequency).prod() - 1.0
        portfolio, benchmark = self.allocation.weights.copy(), self.equal_weight()
        net = float(portfolio.sum())
        if abs(net - 1.0) > 1e-9:
            portfolio[CASH], benchmark[CASH], growth[CASH] = 1.0 - net, 0.0, 0.0
            sectors = None if sectors is None else {**sectors, CASH: CASH}
        periods = growth.index
        return brinson_fachler(pd.DataFrame([portfolio] * len(periods), index=periods),
                               pd.DataFrame([benchmark] * len(periods), index=periods), growth, sectors)


def review_portfolio(config: PortfolioConfig, catalog: str | Path | None = None) -> PortfolioReview:
    """Optimize ``config`` from the catalog and keep the inputs a review shows.

    Parameters
    ----------
    config : PortfolioConfig
    catalog : str or Path, optional
        Catalog root (default: the configured one).

    Returns
    -------
    PortfolioReview
    """
    inputs = portfolio_inputs(config, catalog)
    allocation = run_portfolio(config, catalog, inputs=inputs)
    return PortfolioReview(config, allocation, inputs.close, inputs.expected, inputs.covariance, inputs.constraints)


def market_returns(instrument: str, start: str | None = None, end: str | None = None, bar_spec: str = "1-DAY-LAST",
                   catalog: str | Path | None = None) -> pd.Series:
    """Return an instrument's (e.g. ``SPX.INDEX``) return per bar from the catalog, indexed by date."""
    close = load_bars([instrument], start, end, bar_spec, catalog)[0][instrument]
    returns = close.pct_change(fill_method=None).iloc[1:].dropna()
    return returns.set_axis(_dates(returns.index)).rename(instrument)


def describe_constraints(config: PortfolioConfig) -> list[str]:
    """Return one sentence per constraint the config sets, for a chart caption or a report."""
    lines = []
    low, high = config.weight_bounds or ((0.0, 1.0) if config.long_only else (-1.0, 1.0))
    lines.append(f"weights between {low:g} and {high:g}" + ("" if config.long_only else " (long-short)"))
    lines += [f"{asset}: weight between {a:g} and {b:g}" for asset, (a, b) in config.asset_bounds.items()]
    lines.append(f"net exposure {config.net_exposure:g}")
    if config.gross_limit is not None:
        lines.append(f"gross exposure at most {config.gross_limit:g}")
    for sector, (a, b) in config.sector_limits.items():
        parts = [f"at least {a:g}" if a is not None else "", f"at most {b:g}" if b is not None else ""]
        lines.append(f"sector {sector}: " + " and ".join(p for p in parts if p))
    if config.turnover_limit is not None:
        lines.append(f"turnover from current weights at most {config.turnover_limit:g}")
    if config.volume_share is not None:
        lines.append(f"positions at most {config.volume_share:g} x average daily volume ({config.volume_window} bars) x "
                     f"{config.liquidation_days:g} days, at capital {config.capital:,.0f}")
    if config.minimum_score is not None:
        lines.append(f"portfolio score at least {config.minimum_score:g}")
    return lines


def _dates(index: pd.Index) -> pd.DatetimeIndex:
    # Catalog bars carry their closing time, which differs between sources (21:00 UTC for
    # stocks, midnight for the index): a date lines series from different sources up.
    index = pd.DatetimeIndex(index)
    return (index.tz_convert(None) if index.tz is not None else index).normalize()
