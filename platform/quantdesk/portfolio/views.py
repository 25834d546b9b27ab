"""Black-Litterman: blend a prior (market-implied or given) with a manager's views, over PyPortfolioOpt's model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pypfopt import BlackLittermanModel, black_litterman

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.constraints import per_asset


def black_litterman_inputs(expected: pd.Series, covariance: pd.DataFrame, views: Any = None,
                           market_caps: Mapping[str, float] | None = None, market_prices: pd.Series | None = None,
                           risk_aversion: float | None = None, tau: float = 0.05, risk_free_rate: float = 0.0,
                           frequency: int = 252) -> tuple[pd.Series, pd.DataFrame]:
    """Return Black-Litterman posterior expected returns and covariance (PyPortfolioOpt's ``BlackLittermanModel``).

    Parameters
    ----------
    expected : pandas.Series
        The prior when ``market_caps`` is not given.
    covariance : pandas.DataFrame
        Annualized covariance.
    views : dict or list of dict
        Absolute views ``{asset: annual return}``, or a list of views
        ``{"weights": {asset: coefficient}, "return": q, "confidence": c}``: relative views have
        coefficients summing to zero (``{"AAPL": 1, "MSFT": -1}``, return 0.02: AAPL beats MSFT
        by 2%). Confidences (0 to 1, all or none) set the view uncertainty by Idzorek's method;
        without them it is proportional to the prior's.
    market_caps : dict of str to float, optional
        Market capitalizations: the prior becomes the market-implied returns.
    market_prices : pandas.Series, optional
        A market index's prices, for the market-implied risk aversion.
    risk_aversion : float, optional
        Market risk aversion (default: implied by ``market_prices``, else 1).
    tau : float
        Scale of the prior's uncertainty.
    """
    assets = list(expected.index)
    picks, returns, confidences = _views(views, assets)
    if risk_aversion is None:
        risk_aversion = (1.0 if market_prices is None else
                         float(black_litterman.market_implied_risk_aversion(market_prices, frequency, risk_free_rate)))
    if market_caps is not None:
        caps = pd.Series(per_asset(market_caps, assets, "market_caps"), index=expected.index)
        prior = black_litterman.market_implied_prior_returns(caps, risk_aversion, covariance, risk_free_rate)
    else:
        prior = expected
    model = BlackLittermanModel(covariance, pi=prior, P=picks, Q=returns, tau=tau, risk_aversion=risk_aversion,
                                omega="idzorek" if confidences else None, view_confidences=confidences)
    return model.bl_returns().rename("expected_return"), model.bl_cov()


def _views(views: Any, assets: list[str]) -> tuple[np.ndarray, np.ndarray, list[float] | None]:
    if not views:
        raise QuantDeskError("Black-Litterman needs views=: {asset: return} or a list of {'weights': ..., 'return': ...}")
    if isinstance(views, Mapping):
        views = [{"weights": {asset: 1.0}, "return": value} for asset, value in views.items()]
    picks, returns, confidences = [], [], []
    for number, view in enumerate(views, 1):
        if not isinstance(view, Mapping) or "weights" not in view or "return" not in view:
            raise QuantDeskError(f"View {number} must be a mapping with 'weights' ({{asset: coefficient}}) and 'return'")
        unknown = [str(a) for a in view["weights"] if a not in assets]
        if unknown:
            raise QuantDeskError(f"View {number} names assets outside the universe: {', '.join(unknown)}")
        picks.append([float(view["weights"].get(a, 0.0)) for a in assets])
        returns.append(float(view["return"]))
        if "confidence" in view:
            confidences.append(float(view["confidence"]))
    if confidences and len(confidences) != len(returns):
        raise QuantDeskError("Give a confidence for every view or for none")
    return np.array(picks), np.array(returns), confidences or None
