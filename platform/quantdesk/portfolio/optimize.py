"""Optimize portfolio weights: one entry point over mean-variance, multi-objective, HRP, risk parity and Black-Litterman.

Mean-variance problems are PyPortfolioOpt ``EfficientFrontier`` problems with the constraint
groups of :mod:`quantdesk.portfolio.constraints` added, solved by CLARABEL (PyPortfolioOpt's
default OSQP failed max Sharpe at 500 assets on this stack; CLARABEL solved it). When a problem
has no solution, the constraint groups are tried again without each in turn until the smallest
set that still cannot hold together remains, and that set is named to the user. HRP and risk
parity live in :mod:`quantdesk.portfolio.risk_budgeting`, the Black-Litterman posterior in
:mod:`quantdesk.portfolio.views`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier
from pypfopt.exceptions import OptimizationError

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.constraints import SOLVER, ConstraintGroup, Constraints, PreparedConstraints, per_asset, prepare
from quantdesk.portfolio.risk_budgeting import equal_risk_contribution, hierarchical_risk_parity
from quantdesk.portfolio.views import black_litterman_inputs

MEAN_VARIANCE = ("max_sharpe", "min_volatility", "efficient_return", "efficient_risk", "multi_objective")
METHODS = (*MEAN_VARIANCE, "hrp", "risk_parity", "black_litterman")


@dataclass(frozen=True)
class Allocation:
    """Optimized weights and their annualized risk and return.

    Attributes
    ----------
    weights : pandas.Series
        Asset -> weight; they sum to the net exposure (1 when fully invested).
    method : str
        The optimization method that chose them.
    expected_return, volatility, sharpe : float
        Annualized expected return, volatility and Sharpe ratio (over the risk-free rate).
    risk_contribution : pandas.Series
        Asset -> its part of the volatility, ``w_i (S w)_i / sqrt(w' S w)``; they sum to ``volatility``.
    """

    weights: pd.Series
    method: str
    expected_return: float
    volatility: float
    sharpe: float
    risk_contribution: pd.Series

    def sector_weights(self, sectors: Mapping[str, str]) -> pd.Series:
        """Return the summed weight per sector, given a map of asset -> sector."""
        missing = [a for a in self.weights.index if a not in sectors]
        if missing:
            raise QuantDeskError(f"Assets {', '.join(missing)} have no sector in the sector map: add them")
        return self.weights.groupby(lambda asset: sectors[asset]).sum().rename("weight")


def allocation(weights: pd.Series, method: str, expected: pd.Series, covariance: pd.DataFrame,
               risk_free_rate: float = 0.0) -> Allocation:
    """Return the :class:`Allocation` of given weights under given expected returns and covariance."""
    w = weights.reindex(covariance.index).fillna(0.0).astype(float)
    marginal = covariance.to_numpy() @ w.to_numpy()
    volatility = float(np.sqrt(max(w.to_numpy() @ marginal, 0.0)))
    expected_return = float(w.to_numpy() @ expected.reindex(w.index).to_numpy())
    contribution = w * marginal / volatility if volatility > 0 else w * 0.0
    sharpe = (expected_return - risk_free_rate) / volatility if volatility > 0 else float("nan")
    return Allocation(w.rename("weight"), method, expected_return, volatility, sharpe, contribution.rename("risk_contribution"))


def optimize(expected: pd.Series, covariance: pd.DataFrame, method: str = "max_sharpe",
             constraints: Constraints | None = None, *, target_return: float | None = None,
             target_volatility: float | None = None, risk_free_rate: float = 0.0, **options: Any) -> Allocation:
    """Choose portfolio weights.

    Parameters
    ----------
    expected : pandas.Series
        Asset -> annualized expected return (see :func:`quantdesk.portfolio.expected_returns`).
    covariance : pandas.DataFrame
        Annualized covariance (see :func:`quantdesk.portfolio.risk_model`), same assets.
    method : str
        ``max_sharpe``, ``min_volatility``, ``efficient_return`` (needs ``target_return``),
        ``efficient_risk`` (needs ``target_volatility``), ``multi_objective``, ``hrp``,
        ``risk_parity`` or ``black_litterman``.
    constraints : Constraints, optional
        Limits the weights respect (mean-variance methods and Black-Litterman; HRP and risk
        parity are long-only and fully invested, and refuse constraints that restrict more,
        see :meth:`Constraints.active`).
    target_return, target_volatility : float, optional
        Targets of ``efficient_return`` and ``efficient_risk``.
    risk_free_rate : float
        Annual rate that Sharpe ratios are measured over.
    **options
        ``solver`` (default CLARABEL) for the cvxpy methods.
        ``multi_objective``: ``scores`` (asset -> score, e.g. ESG) and ``weights``, a mapping
        with keys ``return``, ``risk`` and ``score`` (defaults 1, 1, 0): maximize
        ``return x w'mu - risk x w'Sw + score x w'scores``.
        ``hrp``: ``linkage`` (default ``single``), ``returns`` (periodic returns to cluster on
        instead of the covariance's correlations).
        ``risk_parity``: ``risk_budget`` (asset -> share of risk; default equal).
        ``black_litterman``: ``views``, ``market_caps``, ``market_prices``, ``risk_aversion``,
        ``tau``, ``then`` (the mean-variance method run on the posterior; default max_sharpe);
        see :func:`black_litterman_inputs`.

    Returns
    -------
    Allocation

    Raises
    ------
    QuantDeskError
        For an unknown method or option, assets that do not match, or constraints that cannot
        all hold (the message names the conflicting ones).
    """
    expected, covariance = check_inputs(expected, covariance)
    if method not in METHODS:
        raise QuantDeskError(f"Unknown optimization method {method!r}: use one of {', '.join(METHODS)}")
    solver = options.pop("solver", SOLVER)
    if method in ("hrp", "risk_parity"):
        restrictions = constraints.active() if constraints is not None else []
        if restrictions:
            raise QuantDeskError(f"Method {method} is long-only and fully invested and cannot honour the constraints "
                                 f"set ({', '.join(restrictions)}): clear them or use a mean-variance method")
        if method == "hrp":
            weights = hierarchical_risk_parity(covariance, options.pop("returns", None), options.pop("linkage", "single"))
        else:
            weights = equal_risk_contribution(covariance, options.pop("risk_budget", None), solver)
        _no_options_left(options, method)
        return allocation(weights, method, expected, covariance, risk_free_rate)
    problem = method
    if method == "black_litterman":
        problem = options.pop("then", "max_sharpe")
        if problem not in MEAN_VARIANCE:
            raise QuantDeskError(f"then={problem!r}: Black-Litterman feeds a mean-variance method, one of "
                                 f"{', '.join(MEAN_VARIANCE)}")
        keys = ("views", "market_caps", "market_prices", "risk_aversion", "tau", "frequency")
        expected, covariance = black_litterman_inputs(expected, covariance, risk_free_rate=risk_free_rate,
                                                      **{k: options.pop(k) for k in keys if k in options})
    weights = mean_variance(problem, expected, covariance, prepare(constraints, list(expected.index)), target_return,
                            target_volatility, risk_free_rate, solver, options)
    return allocation(weights, method, expected, covariance, risk_free_rate)


def check_inputs(expected: pd.Series, covariance: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Return expected returns and covariance over the same assets in the same order, or raise naming the mismatch."""
    if not isinstance(expected, pd.Series) or expected.empty:
        raise QuantDeskError("expected must be a non-empty Series of asset -> expected return")
    if not isinstance(covariance, pd.DataFrame) or list(covariance.index) != list(covariance.columns):
        raise QuantDeskError("covariance must be a square DataFrame with the same assets as rows and columns")
    missing = [str(a) for a in expected.index if a not in covariance.index]
    extra = [str(a) for a in covariance.index if a not in expected.index]
    if missing or extra:
        raise QuantDeskError(f"expected returns and covariance cover different assets (only in expected returns: "
                             f"{', '.join(missing) or 'none'}; only in the covariance: {', '.join(extra) or 'none'})")
    if expected.isna().any():
        raise QuantDeskError(f"Assets {', '.join(map(str, expected.index[expected.isna()]))} have no expected return")
    return expected.astype(float), covariance.loc[expected.index, expected.index].astype(float)


def _no_options_left(options: dict[str, Any], method: str) -> None:
    if options:
        raise QuantDeskError(f"Unknown option(s) {', '.join(options)} for method {method}")


def frontier_problem(expected: pd.Series, covariance: pd.DataFrame, prepared: PreparedConstraints,
                     solver: str = SOLVER) -> EfficientFrontier:
    """Return a PyPortfolioOpt ``EfficientFrontier`` in units of the net exposure, with every constraint group added."""
    problem = EfficientFrontier(expected, covariance, weight_bounds=prepared.scaled_bounds(), solver=solver)
    for group in prepared.groups:
        for index in range(len(group.build(problem._w))):  # PyPortfolioOpt takes one constraint per function
            problem.add_constraint(lambda v, build=group.build, i=index: build(v)[i])
    return problem


def mean_variance(method: str, expected: pd.Series, covariance: pd.DataFrame, prepared: PreparedConstraints,
                  target_return: float | None, target_volatility: float | None, risk_free_rate: float,
                  solver: str = SOLVER, options: dict[str, Any] | None = None) -> pd.Series:
    """Solve one mean-variance problem and return the weights (see :func:`optimize`)."""
    options = dict(options or {})
    n = prepared.exposure
    problem = frontier_problem(expected, covariance, prepared, solver)
    target: ConstraintGroup | None = None
    try:
        if method == "max_sharpe":
            # Sharpe of w = n v over rate r equals that of v over r / n.
            problem.max_sharpe(risk_free_rate=risk_free_rate / n)
        elif method == "min_volatility":
            problem.min_volatility()
        elif method == "efficient_return":
            if target_return is None:
                raise QuantDeskError("efficient_return needs target_return= (an annual expected return)")
            mu = expected.to_numpy()
            target = ConstraintGroup(f"expected return at least {target_return:g}",
                                     lambda v: [mu @ (n * v) >= target_return])
            problem.efficient_return(float(target_return) / n)
        elif method == "efficient_risk":
            if target_volatility is None:
                raise QuantDeskError("efficient_risk needs target_volatility= (an annual volatility)")
            sigma = cp.psd_wrap(covariance.to_numpy())
            target = ConstraintGroup(f"volatility at most {target_volatility:g}",
                                     lambda v: [cp.quad_form(n * v, sigma) <= target_volatility ** 2])
            problem.efficient_risk(float(target_volatility) / n)
        elif method == "multi_objective":
            problem.convex_objective(_multi_objective(expected, covariance, n, options.pop("scores", None),
                                                      options.pop("weights", None)), weights_sum_to_one=True)
        _no_options_left(options, method)
    except (OptimizationError, cp.error.SolverError):
        raise QuantDeskError(conflict_message(prepared, method, [target] if target else [], solver)) from None
    except ValueError as error:
        if method == "efficient_return":
            highest = _highest_return(expected, covariance, prepared, solver)
            raise QuantDeskError(f"target_return={target_return:g} is above the highest expected return the "
                                 f"constraints allow ({highest:.4g}): lower it or loosen the constraints") from None
        # PyPortfolioOpt checks its other inputs before solving; its sentence names the bad value.
        raise QuantDeskError(f"{method}: {error}") from None
    return pd.Series(problem.weights * n, index=expected.index)


def _multi_objective(expected: pd.Series, covariance: pd.DataFrame, n: float, scores: Mapping[str, float] | None,
                     weights: Mapping[str, float] | None) -> Any:
    weights = {"return": 1.0, "risk": 1.0, "score": 0.0, **(weights or {})}
    unknown = set(weights) - {"return", "risk", "score"}
    if unknown:
        raise QuantDeskError(f"Unknown objective weights {', '.join(sorted(unknown))}: use return, risk and score")
    if weights["risk"] < 0:
        raise QuantDeskError(f"The risk weight {weights['risk']} must be 0 or more: a negative one rewards risk")
    if weights["score"] != 0 and scores is None:
        raise QuantDeskError("A score weight needs scores=: a score per asset")
    mu = expected.to_numpy()
    sigma = cp.psd_wrap(covariance.to_numpy())
    score = np.zeros(len(mu)) if scores is None else per_asset(scores, list(expected.index), "scores")

    def objective(v: cp.Variable) -> cp.Expression:
        w = n * v
        return -weights["return"] * (mu @ w) + weights["risk"] * cp.quad_form(w, sigma) - weights["score"] * (score @ w)

    return objective


def conflict_message(prepared: PreparedConstraints, method: str, extra: Sequence[ConstraintGroup] = (),
                     solver: str = SOLVER) -> str:
    """Return a sentence naming a smallest set of constraint groups that cannot hold together."""
    groups = [prepared.net_group(), prepared.bounds_group(), *prepared.groups, *extra]
    size = len(prepared.assets)

    def feasible(subset: list[ConstraintGroup]) -> bool:
        v = cp.Variable(size)
        problem = cp.Problem(cp.Minimize(0), [c for group in subset for c in group.build(v)])
        try:
            problem.solve(solver=solver)
        except cp.error.SolverError:
            return True  # cannot tell: keep the group in the conflicting set
        return problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)

    if feasible(groups):
        return (f"The {method} optimization found no solution although its constraints can all hold: "
                f"try solver='SCS' or check the expected returns and covariance")
    # Deletion filter: a group whose removal leaves the rest still infeasible is not needed to explain the conflict.
    conflicting = list(groups)
    for group in groups:
        rest = [g for g in conflicting if g is not group]
        if rest and not feasible(rest):
            conflicting = rest
    names = [g.label for g in conflicting]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "cannot hold" if len(names) == 1 else "conflict"
    return f"Infeasible constraints for {method}: {listed} {verb}; loosen one of them"


def efficient_frontier(expected: pd.Series, covariance: pd.DataFrame, constraints: Constraints | None = None,
                       points: int = 50, client: Any = None, *, risk_free_rate: float = 0.0,
                       solver: str = SOLVER) -> pd.DataFrame:
    """Trace the efficient frontier under constraints: minimum volatility at evenly spaced target returns.

    Targets run from the minimum-volatility portfolio's return to the highest return the
    constraints allow. With a Dask ``client`` the targets are cut into one batch per worker
    thread; the inputs are scattered to the workers once, and each batch compiles its problem
    once and re-solves it with a new target (a cvxpy parameter), so a task ships only its targets.

    Parameters
    ----------
    expected, covariance, constraints
        As for :func:`optimize`.
    points : int
        Number of frontier points (at least 2).
    client : dask.distributed.Client, optional
        Spread the points over its workers; None solves them here, one after another.
    risk_free_rate : float
        Rate for the Sharpe ratios.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``target_return``, ``expected_return``, ``volatility``, ``sharpe``,
        then one column of weights per asset.
    """
    expected, covariance = check_inputs(expected, covariance)
    if points < 2:
        raise QuantDeskError(f"points={points}: a frontier needs at least 2 points")
    prepared = prepare(constraints, list(expected.index))
    lowest = float(expected @ mean_variance("min_volatility", expected, covariance, prepared, None, None, 0.0, solver))
    highest = _highest_return(expected, covariance, prepared, solver)
    # The very top target sits on the boundary of the feasible set; a hair inside it solves reliably.
    targets = np.linspace(lowest, highest - 1e-7 * max(highest - lowest, 1e-12), points)
    if client is None:
        rows = _frontier_points(expected, covariance, constraints, list(targets), risk_free_rate, solver)
    else:
        threads = max(1, sum(client.nthreads().values()))
        # Every n-th target per batch, not contiguous runs: high-return points cost the solver about a quarter
        # more (measured at 500 assets), so contiguous halves left one worker waiting on the other.
        batches = [list(targets[start::threads]) for start in range(min(threads, points))]
        # hash=False: scattering the same inputs twice under one content key lost them on the workers.
        shared = client.scatter([expected, covariance, constraints], broadcast=True, hash=False)
        futures = [client.submit(_frontier_points, *shared, batch, risk_free_rate, solver, pure=False) for batch in batches]
        rows = sorted((row for batch in client.gather(futures) for row in batch), key=lambda row: row["target_return"])
    return pd.DataFrame(rows)


def _highest_return(expected: pd.Series, covariance: pd.DataFrame, prepared: PreparedConstraints, solver: str) -> float:
    problem = frontier_problem(expected, covariance, prepared, solver)
    mu = expected.to_numpy()
    try:
        problem.convex_objective(lambda v: -(mu @ v), weights_sum_to_one=True)
    except (OptimizationError, cp.error.SolverError):
        raise QuantDeskError(conflict_message(prepared, "efficient frontier", solver=solver)) from None
    return float(mu @ problem.weights) * prepared.exposure


def _frontier_points(expected: pd.Series, covariance: pd.DataFrame, constraints: Constraints | None,
                     targets: list[float], risk_free_rate: float, solver: str) -> list[dict[str, float]]:
    prepared = prepare(constraints, list(expected.index))
    problem = frontier_problem(expected, covariance, prepared, solver)
    rows = []
    for target in targets:
        try:
            problem.efficient_return(float(target) / prepared.exposure)
        except (OptimizationError, cp.error.SolverError, ValueError):
            raise QuantDeskError(f"The efficient frontier point at target return {target:g} did not solve: "
                                 f"try fewer points or solver='SCS'") from None
        result = allocation(pd.Series(problem.weights * prepared.exposure, index=expected.index), "efficient_return",
                            expected, covariance, risk_free_rate)
        rows.append({"target_return": float(target), "expected_return": result.expected_return,
                     "volatility": result.volatility, "sharpe": result.sharpe, **result.weights.to_dict()})
    return rows
