"""Portfolios built from risk alone: hierarchical risk parity and equal (or budgeted) risk contributions."""

from __future__ import annotations

from collections.abc import Mapping

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.cluster.hierarchy as hierarchy
from pypfopt import risk_models
from scipy.spatial.distance import squareform

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.constraints import SOLVER, per_asset

NEWTON_STEPS = 5
LINKAGES = ("single", "complete", "average", "weighted", "centroid", "median", "ward")


def hierarchical_risk_parity(covariance: pd.DataFrame, returns: pd.DataFrame | None = None,
                             linkage: str = "single") -> pd.Series:
    """Return hierarchical risk parity weights (Lopez de Prado, 2016).

    Assets are clustered on the distance ``sqrt((1 - correlation) / 2)``, ordered as the leaves of
    the cluster tree, and the ordered list is halved again and again; each half's share of its
    parent's weight is inversely proportional to the variance of its own inverse-variance portfolio.

    Parameters
    ----------
    covariance : pandas.DataFrame
        Covariance of the assets.
    returns : pandas.DataFrame, optional
        Periodic returns; when given, their pairwise correlations and covariances are used
        instead (as PyPortfolioOpt's ``HRPOpt(returns)`` does).
    linkage : str
        Linkage method of ``scipy.cluster.hierarchy.linkage``.
    """
    # PyPortfolioOpt's HRPOpt validates `linkage` against scipy.cluster.hierarchy._LINKAGE_METHODS, a private name
    # that scipy 1.18 removed, so HRPOpt fails here whatever the input; this uses scipy's public API only.
    if linkage not in LINKAGES:
        raise QuantDeskError(f"Unknown linkage {linkage!r}: use one of {', '.join(LINKAGES)}")
    _require_risk(covariance, "Hierarchical risk parity")
    if returns is not None:
        correlation, covariance = returns.corr(), returns.cov()
    else:
        correlation = risk_models.cov_to_corr(covariance)
    distance = np.sqrt(np.clip((1.0 - correlation.to_numpy()) / 2.0, 0.0, 1.0))
    tree = hierarchy.linkage(squareform(distance, checks=False), method=linkage)
    order = list(hierarchy.leaves_list(tree))
    matrix = covariance.to_numpy()
    weights = np.ones(len(order))
    pending = [order]
    while pending:
        cluster = pending.pop()
        if len(cluster) < 2:
            continue
        left, right = cluster[: len(cluster) // 2], cluster[len(cluster) // 2:]
        left_variance, right_variance = _cluster_variance(matrix, left), _cluster_variance(matrix, right)
        left_share = right_variance / (left_variance + right_variance)
        weights[left] *= left_share
        weights[right] *= 1.0 - left_share
        pending += [left, right]
    return pd.Series(weights, index=covariance.index)


def _require_risk(covariance: pd.DataFrame, method: str) -> None:
    riskless = [str(a) for a, variance in zip(covariance.index, np.diag(covariance.to_numpy())) if not variance > 0]
    if riskless:
        raise QuantDeskError(f"{method} weighs assets by their risk, and {', '.join(riskless)} have none (zero variance): "
                             "leave them out of the universe")


def _cluster_variance(matrix: np.ndarray, members: list[int]) -> float:
    block = matrix[np.ix_(members, members)]
    inverse_variance = 1.0 / np.diag(block)
    inverse_variance /= inverse_variance.sum()
    return float(inverse_variance @ block @ inverse_variance)


def equal_risk_contribution(covariance: pd.DataFrame, risk_budget: Mapping[str, float] | None = None,
                            solver: str = SOLVER) -> pd.Series:
    """Return long-only weights whose risk contributions are proportional to ``risk_budget`` (equal by default).

    Solves the convex problem ``min 1/2 y'Sy - sum b_i log y_i`` (Spinu, 2013), whose optimum has
    ``y_i (S y)_i = b_i``, and rescales ``y`` to sum to one.
    """
    _require_risk(covariance, "Risk parity")
    assets = covariance.index
    if risk_budget is None:
        budget = np.full(len(assets), 1.0 / len(assets))
    else:
        budget = per_asset(risk_budget, list(assets), "risk_budget")
    if (budget <= 0).any():
        raise QuantDeskError("risk_budget must be positive for every asset")
    budget = budget / budget.sum()
    y = cp.Variable(len(assets), pos=True)
    problem = cp.Problem(cp.Minimize(0.5 * cp.quad_form(y, cp.psd_wrap(covariance.to_numpy())) - budget @ cp.log(y)))
    try:
        problem.solve(solver=solver)
        solved = problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    except cp.error.SolverError:
        solved = False
    if not solved:
        raise QuantDeskError("Risk parity found no solution: check the covariance (try the ledoit_wolf risk model)")
    # Interior-point solvers stop at a relative gap near 1e-8, leaving contributions unequal in the fifth digit;
    # Newton steps on the optimality condition S y = b / y (the problem is strictly convex) make them equal.
    matrix, solution = covariance.to_numpy(), np.maximum(y.value, 1e-12)
    for _ in range(NEWTON_STEPS):
        step = np.linalg.solve(matrix + np.diag(budget / solution ** 2), matrix @ solution - budget / solution)
        solution = np.where(solution - step > 0, solution - step, solution / 2)
    return pd.Series(solution / solution.sum(), index=assets)

