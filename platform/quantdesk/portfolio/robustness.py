"""How much optimized weights owe to estimation noise: resampled (Michaud) frontiers and bootstrap intervals.

Both draw many return histories like the observed one, re-estimate expected returns and
covariance from each with the same estimators, and optimize again:

- ``parametric`` sampling draws each history from a multivariate normal with the observed
  per-period mean return and the chosen risk model's covariance (Michaud's resampling);
- ``bootstrap`` sampling draws the observed dates with replacement, which keeps fat tails
  and cross-asset dependence beyond correlation.

Every resample has its own random stream spawned from ``seed``, so a result depends only on
the seed and the inputs: not on batching, on the number of workers, or on serial vs Dask.
Resamples run in batches, one Dask task per batch, on ``client`` when one is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantdesk.errors import QuantDeskError
from quantdesk.portfolio.constraints import Constraints
from quantdesk.progress import Progress, progress_reporter

SAMPLINGS = ("parametric", "bootstrap")


@dataclass(frozen=True)
class ResampledFrontier:
    """Frontier portfolios averaged over resamples, evaluated on the original estimates.

    Attributes
    ----------
    frontier : pandas.DataFrame
        One row per frontier rank (lowest risk first): ``expected_return``, ``volatility`` and
        ``sharpe`` of the averaged portfolio under the original expected returns and
        covariance, then one column of averaged weight per asset.
    weight_std : pandas.DataFrame
        Rank x asset standard deviation of the weight over resamples.
    resamples : int
        Resamples whose frontier was solved.
    failed : int
        Resamples whose frontier could not be solved (left out of the averages).
    """

    frontier: pd.DataFrame
    weight_std: pd.DataFrame
    resamples: int
    failed: int

    @property
    def weights(self) -> pd.DataFrame:
        """Return the rank x asset averaged weights."""
        return self.frontier.drop(columns=["expected_return", "volatility", "sharpe"])


@dataclass(frozen=True)
class WeightConfidence:
    """Bootstrap distribution of one optimization's weights.

    Attributes
    ----------
    point : pandas.Series
        Asset -> weight optimized on the original estimates.
    lower, upper : pandas.Series
        Asset -> percentile bounds holding ``level`` of the resampled weights.
    mean, std : pandas.Series
        Asset -> mean and standard deviation of the resampled weights.
    level : float
        Coverage of the intervals (0.9: 5th to 95th percentile).
    samples : pandas.DataFrame
        Resample x asset weights (solved resamples only).
    failed : int
        Resamples whose optimization could not be solved.
    """

    point: pd.Series
    lower: pd.Series
    upper: pd.Series
    mean: pd.Series
    std: pd.Series
    level: float
    samples: pd.DataFrame = field(repr=False)
    failed: int

    def table(self) -> pd.DataFrame:
        """Return one row per asset: point, mean, std, lower, upper."""
        return pd.DataFrame({"point": self.point, "mean": self.mean, "std": self.std,
                             "lower": self.lower, "upper": self.upper}).rename_axis("asset")


@dataclass(frozen=True)
class _Resampler:
    """What one task needs to redraw histories and re-estimate: small, picklable, shipped once."""

    returns: np.ndarray  # observed per-period returns, dates with every asset only
    assets: list[str]
    sampling: str
    mean: np.ndarray  # per-period mean return (parametric)
    factor: np.ndarray  # covariance = factor @ factor.T, per period (parametric)
    expected_method: str
    risk_method: str
    frequency: int
    expected_options: dict[str, Any]
    risk_options: dict[str, Any]

    def estimates(self, seed: np.random.SeedSequence) -> tuple[pd.Series, pd.DataFrame]:
        """Return expected returns and covariance re-estimated from one resampled history."""
        from quantdesk.portfolio.estimators import expected_returns, risk_model

        rng = np.random.default_rng(seed)
        periods = len(self.returns)
        if self.sampling == "bootstrap":
            drawn = self.returns[rng.integers(0, periods, periods)]
        else:
            drawn = self.mean + rng.standard_normal((periods, len(self.assets))) @ self.factor.T
        # The estimators read prices: rebuild a price path from the drawn returns. A normal
        # draw below -100% (never seen at daily volatilities) would give a non-positive price.
        growth = np.cumprod(1.0 + np.maximum(drawn, -0.99), axis=0)
        prices = pd.DataFrame(np.vstack([np.ones(len(self.assets)), growth]), columns=self.assets)
        return (expected_returns(prices, self.expected_method, self.frequency, **self.expected_options),
                risk_model(prices, self.risk_method, self.frequency, **self.risk_options))


def resampled_frontier(
    prices: pd.DataFrame,
    constraints: Constraints | None = None,
    points: int = 20,
    resamples: int = 200,
    *,
    sampling: str = "parametric",
    seed: int = 0,
    expected_method: str = "mean_historical",
    risk_method: str = "ledoit_wolf",
    frequency: int = 252,
    expected_options: Mapping[str, Any] | None = None,
    risk_options: Mapping[str, Any] | None = None,
    risk_free_rate: float = 0.0,
    client: Any = None,
    batch_size: int | None = None,
    progress: bool | Progress = True,
) -> ResampledFrontier:
    """Compute the resampled (Michaud) efficient frontier.

    Each resample's efficient frontier (:func:`quantdesk.portfolio.optimize.efficient_frontier`
    on its re-estimated returns and covariance, ``points`` portfolios from lowest risk to
    highest return) is solved; the weights of the portfolios of equal rank are averaged over
    resamples and evaluated on the estimates from ``prices``. Constraints that are convex
    (all of :class:`~quantdesk.portfolio.constraints.Constraints`) hold for the averages too.

    Parameters
    ----------
    prices : pandas.DataFrame
        Prices, one column per asset; dates where an asset has no price are dropped.
    constraints : Constraints, optional
        Applied to every resample's frontier.
    points : int
        Portfolios per frontier (>= 2).
    resamples : int
        Histories to draw (>= 1).
    sampling : {"parametric", "bootstrap"}
        How histories are drawn (see the module docstring).
    seed : int
        Seed of the random streams: equal seeds give equal results.
    expected_method, risk_method : str
        Estimators (:func:`~quantdesk.portfolio.estimators.expected_returns`,
        :func:`~quantdesk.portfolio.estimators.risk_model`) used on the original and on every resample.
    frequency : int
        Periods a year (252 for daily prices).
    expected_options, risk_options : mapping, optional
        Extra keyword arguments of the estimators (e.g. ``{"span": 180}``).
    risk_free_rate : float
        Annual rate for the Sharpe ratios of the result.
    client : distributed.Client, optional
        Runs the batches on this Dask cluster; None runs them in this process.
    batch_size : int, optional
        Resamples per task; default: about four tasks per worker (20 batches serially).
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(resamples done, resamples)``.

    Returns
    -------
    ResampledFrontier
    """
    if not isinstance(points, int) or points < 2:
        raise QuantDeskError(f"points={points!r}: a frontier needs an integer number of points >= 2")
    resampler, expected, covariance = _prepare(prices, sampling, expected_method, risk_method, frequency,
                                               expected_options, risk_options)
    work = {"kind": "frontier", "constraints": constraints, "points": points}
    solved, failed = _run(resampler, work, resamples, seed, client, batch_size, progress, "resampled frontiers")
    stacked = np.stack(solved)  # resample x rank x asset
    averaged = pd.DataFrame(stacked.mean(axis=0), columns=resampler.assets)
    std = pd.DataFrame(stacked.std(axis=0, ddof=1) if len(solved) > 1 else np.zeros_like(averaged), columns=resampler.assets)
    figures = _evaluate(averaged.to_numpy(), expected, covariance, risk_free_rate)
    frontier = pd.concat([figures, averaged], axis=1).rename_axis("rank")
    return ResampledFrontier(frontier, std.rename_axis("rank"), len(solved), failed)


def weight_confidence(
    prices: pd.DataFrame,
    method: str = "max_sharpe",
    constraints: Constraints | None = None,
    resamples: int = 200,
    level: float = 0.9,
    *,
    sampling: str = "bootstrap",
    seed: int = 0,
    expected_method: str = "mean_historical",
    risk_method: str = "ledoit_wolf",
    frequency: int = 252,
    expected_options: Mapping[str, Any] | None = None,
    risk_options: Mapping[str, Any] | None = None,
    client: Any = None,
    batch_size: int | None = None,
    progress: bool | Progress = True,
    **options: Any,
) -> WeightConfidence:
    """Compute bootstrap confidence intervals of the weights one optimization method gives.

    Parameters
    ----------
    prices : pandas.DataFrame
        Prices, one column per asset; dates where an asset has no price are dropped.
    method : str
        Optimization method of :func:`quantdesk.portfolio.optimize.optimize`.
    constraints : Constraints, optional
        Applied to every resample.
    resamples : int
        Histories to draw (>= 1).
    level : float
        Coverage of the percentile intervals, between 0 and 1.
    sampling : {"bootstrap", "parametric"}
        How histories are drawn (see the module docstring).
    seed : int
        Seed of the random streams: equal seeds give equal results.
    expected_method, risk_method, frequency, expected_options, risk_options
        Estimators, as in :func:`resampled_frontier`.
    client : distributed.Client, optional
        Runs the batches on this Dask cluster; None runs them in this process.
    batch_size : int, optional
        Resamples per task; default: about four tasks per worker (20 batches serially).
    progress : bool or callable
        True shows a tqdm bar; a callable receives ``(resamples done, resamples)``.
    **options
        Passed to ``optimize`` (``risk_free_rate``, ``target_return``, ...).

    Returns
    -------
    WeightConfidence
    """
    from quantdesk.portfolio.optimize import optimize

    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise QuantDeskError(f"level={level!r}: give the intervals' coverage as a fraction between 0 and 1, e.g. 0.9")
    resampler, expected, covariance = _prepare(prices, sampling, expected_method, risk_method, frequency,
                                               expected_options, risk_options)
    point = optimize(expected, covariance, method, constraints, **options).weights.reindex(resampler.assets)
    work = {"kind": "method", "method": method, "constraints": constraints, "options": options}
    solved, failed = _run(resampler, work, resamples, seed, client, batch_size, progress, f"{method} resamples")
    samples = pd.DataFrame(np.stack(solved), columns=resampler.assets).rename_axis("resample")
    tail = (1 - level) / 2
    return WeightConfidence(
        point=point,
        lower=samples.quantile(tail),
        upper=samples.quantile(1 - tail),
        mean=samples.mean(),
        std=samples.std(ddof=1) if len(samples) > 1 else samples.mean() * 0.0,
        level=float(level),
        samples=samples,
        failed=failed,
    )


def _prepare(
    prices: pd.DataFrame, sampling: str, expected_method: str, risk_method: str, frequency: int,
    expected_options: Mapping[str, Any] | None, risk_options: Mapping[str, Any] | None,
) -> tuple[_Resampler, pd.Series, pd.DataFrame]:
    from quantdesk.portfolio.estimators import check_prices, expected_returns, risk_model

    if sampling not in SAMPLINGS:
        raise QuantDeskError(f"Unknown sampling {sampling!r}: use one of {', '.join(SAMPLINGS)}")
    # Resampled histories have no dates, so series that must line up with the asset prices by
    # date (a market for CAPM, factor returns) cannot be redrawn alongside them.
    if expected_method == "capm" and (expected_options or {}).get("market_prices") is not None:
        raise QuantDeskError("Resampling cannot redraw market_prices with the assets: use expected_method='capm' "
                             "without market_prices (the equal-weighted universe is the market) or another method")
    if risk_method == "factor_model":
        raise QuantDeskError("Resampling cannot redraw factor returns with the assets: use risk_method 'sample', "
                             "'exponential' or 'ledoit_wolf'")
    # The original estimates and every resample see the same dates: those with every asset's price.
    prices = check_prices(prices).dropna(how="any")
    returns = prices.pct_change().iloc[1:]
    if len(returns) < 2:
        raise QuantDeskError(f"Only {len(returns)} dates have returns for every asset: resampling needs at least 2; "
                             "drop assets with short histories or widen the period")
    expected_options, risk_options = dict(expected_options or {}), dict(risk_options or {})
    expected = expected_returns(prices, expected_method, frequency, **expected_options)
    covariance = risk_model(prices, risk_method, frequency, **risk_options)
    assets = [str(asset) for asset in prices.columns]
    expected.index, covariance.index, covariance.columns = assets, assets, assets
    # The covariance is positive semidefinite; its eigen-decomposition gives a square root
    # that exists even when Cholesky's would fail on a singular matrix.
    values, vectors = np.linalg.eigh(covariance.to_numpy() / frequency)
    factor = vectors * np.sqrt(np.clip(values, 0.0, None))
    resampler = _Resampler(returns.to_numpy(), assets, sampling, returns.to_numpy().mean(axis=0), factor,
                           expected_method, risk_method, frequency, expected_options, risk_options)
    return resampler, expected, covariance


def _run(
    resampler: _Resampler, work: dict[str, Any], resamples: int, seed: int, client: Any,
    batch_size: int | None, progress: bool | Progress, description: str,
) -> tuple[list[np.ndarray], int]:
    """Solve every resample, serially or on ``client``; return the solved ones in resample order and the failures."""
    if not isinstance(resamples, int) or resamples < 1:
        raise QuantDeskError(f"resamples={resamples!r}: give a whole number of resamples >= 1")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise QuantDeskError(f"batch_size={batch_size!r}: give a whole number of resamples per task >= 1")
    seeds = np.random.SeedSequence(seed).spawn(resamples)
    size = batch_size or math.ceil(resamples / (4 * _workers(client) if client is not None else 20))
    batches = [seeds[start:start + size] for start in range(0, resamples, size)]
    report = progress_reporter(progress, resamples, description, unit="resample")
    try:
        if client is None:
            results, done = [], 0
            for batch in batches:
                results.append(_solve_batch(resampler, work, batch))
                done += len(batch)
                report(done)
        else:
            results = _run_on_cluster(client, resampler, work, batches, report)
    finally:
        report(None)
    outcomes = [weights for batch in results for weights in batch]
    solved = [weights for weights in outcomes if weights is not None]
    if not solved:
        raise QuantDeskError(f"No resample could be solved ({resamples} tried): the constraints may be too tight "
                             "for the resampled estimates; loosen them or check the optimization on the original data")
    return solved, resamples - len(solved)


def _run_on_cluster(
    client: Any, resampler: _Resampler, work: dict[str, Any], batches: list[list[np.random.SeedSequence]],
    report: Callable[[int | None], None],
) -> list[list[np.ndarray | None]]:
    from distributed import as_completed

    # Shipped once to every worker rather than inside each task. A fresh key each call: a
    # content-hashed key repeats when the same inputs are resampled again, and the new call's
    # tasks can then ask for data the previous call is releasing ("Could not find data").
    [shared] = client.scatter([(resampler, work)], broadcast=True, hash=False)
    futures = [client.submit(_solve_shared, shared, batch, pure=False) for batch in batches]
    index = {future.key: position for position, future in enumerate(futures)}
    results: list[list[np.ndarray | None]] = [[] for _ in batches]
    done = 0
    try:
        for future in as_completed(futures):
            position = index[future.key]
            results[position] = future.result()
            done += len(batches[position])
            report(done)
    except BaseException:
        client.cancel(futures)
        raise
    return results


def _workers(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def _solve_shared(shared: tuple[_Resampler, dict[str, Any]], seeds: Sequence[np.random.SeedSequence]) -> list[np.ndarray | None]:
    return _solve_batch(*shared, seeds)


def _solve_batch(resampler: _Resampler, work: dict[str, Any], seeds: Sequence[np.random.SeedSequence]) -> list[np.ndarray | None]:
    """Return each resample's weights (rank x asset for frontiers, asset for a method), None where unsolvable."""
    from threadpoolctl import threadpool_limits

    from quantdesk.portfolio.optimize import efficient_frontier, optimize

    outcomes: list[np.ndarray | None] = []
    # Dask starts workers with single-threaded BLAS; a multi-threaded BLAS sums covariances in
    # another order (differences of 1e-17 that grow to 1e-11 in the weights). One thread here
    # too makes every resample bit-identical wherever it runs.
    with threadpool_limits(limits=1):
        for seed in seeds:
            expected, covariance = resampler.estimates(seed)
            try:
                if work["kind"] == "frontier":
                    frontier = efficient_frontier(expected, covariance, work["constraints"], points=work["points"])
                    outcomes.append(frontier[resampler.assets].to_numpy(dtype=float))
                else:
                    allocation = optimize(expected, covariance, work["method"], work["constraints"], **work["options"])
                    outcomes.append(allocation.weights.reindex(resampler.assets).to_numpy(dtype=float))
            except QuantDeskError:
                outcomes.append(None)  # e.g. no feasible max-Sharpe portfolio when every resampled return is negative
    return outcomes


def _evaluate(weights: np.ndarray, expected: pd.Series, covariance: pd.DataFrame, risk_free_rate: float) -> pd.DataFrame:
    """Return expected return, volatility and Sharpe ratio of each row of ``weights``."""
    returns = weights @ expected.to_numpy()
    volatility = np.sqrt(np.einsum("ij,jk,ik->i", weights, covariance.to_numpy(), weights))
    return pd.DataFrame({"expected_return": returns, "volatility": volatility,
                         "sharpe": (returns - risk_free_rate) / volatility})
