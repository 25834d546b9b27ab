"""Portfolio constraints: what a manager may hold, turned into named groups of cvxpy constraints.

Each group is built on the optimizer's weight variable ``v`` as it is passed to PyPortfolioOpt's
``add_constraint``. PyPortfolioOpt's problems fix ``sum(v) = 1``; a net exposure ``n`` other
than 1 is solved in units of the net, so the held weights are ``w = n v``. Every group is
written so that, besides its constant, it is positively homogeneous in ``v``: PyPortfolioOpt's
max Sharpe substitutes ``v = y / k`` with ``sum(y) = k`` and multiplies each constant by ``k``,
which is exact only for such constraints. The turnover limit refers to current weights, a
constant, so it multiplies them by ``sum(v)`` (1 in the plain problems, ``k`` under the
substitution) to keep that form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from quantdesk.errors import QuantDeskError

Bounds = tuple[float, float]
# The cvxpy solver of every portfolio problem: PyPortfolioOpt's default OSQP failed max Sharpe at 500 assets on
# this stack, CLARABEL solved it.
SOLVER = "CLARABEL"


@dataclass(frozen=True)
class Constraints:
    """The limits an optimized portfolio must respect; every field is optional.

    Parameters
    ----------
    weight_bounds : (float, float) or dict of str to (float, float), optional
        Lower and upper weight of every asset, or per asset (assets left out get the
        default). Default ``(0, 1)`` long-only, ``(-1, 1)`` long-short.
    long_only : bool
        Forbid short positions (False allows them, limited by ``gross_limit``).
    gross_limit : float, optional
        Upper limit on gross exposure, ``sum |w|`` (e.g. 1.6 for a 130/30 portfolio).
    net_exposure : float
        Net exposure ``sum w`` (1: fully invested). Must be positive.
    sectors : dict of str to str, optional
        Asset -> sector, needed by ``sector_limits``.
    sector_limits : dict of str to (float or None, float or None), optional
        Sector -> (lower, upper) on the sector's summed weight; None leaves a side open.
    volume_share : float, optional
        Turn the liquidity caps on: a position may be at most ``volume_share x average daily
        volume x liquidation_days`` shares, i.e. ``|w| <= volume_share x volume x days x price
        / capital``. None (the default): no liquidity caps, and the three inputs below are unused.
    liquidation_days : float
        Days of volume a position may take to trade out of, under the liquidity caps.
    capital : float, optional
        Portfolio value the liquidity caps are measured at.
    prices, average_daily_volume : dict of str to float, optional
        Price and average daily volume (in shares) per asset, for the liquidity caps.
    current_weights : dict of str to float, optional
        Weights held now (assets left out are not held), for the turnover limit.
    turnover_limit : float, optional
        Upper limit on ``sum |w - current|``.
    scores : dict of str to float, optional
        A score per asset (e.g. ESG), for ``minimum_score``.
    minimum_score : float, optional
        Lower limit on the portfolio score ``sum w x score``.
    """

    weight_bounds: Bounds | Mapping[str, Bounds] | None = None
    long_only: bool = True
    gross_limit: float | None = None
    net_exposure: float = 1.0
    sectors: Mapping[str, str] | None = None
    sector_limits: Mapping[str, tuple[float | None, float | None]] | None = None
    capital: float | None = None
    prices: Mapping[str, float] | None = None
    average_daily_volume: Mapping[str, float] | None = None
    volume_share: float | None = None
    liquidation_days: float = 1.0
    current_weights: Mapping[str, float] | None = None
    turnover_limit: float | None = None
    scores: Mapping[str, float] | None = None
    minimum_score: float | None = None

    def active(self) -> list[str]:
        """Return the names of the fields that restrict the portfolio (binding liquidity caps as ``volume_share``).

        Inputs that restrict nothing by themselves do not count: a sector map without sector
        limits, current weights without a turnover limit, scores without a minimum score,
        weight bounds equal to the default, ``long_only=False`` (it widens the default bounds),
        capital, prices and volumes without ``volume_share``, and liquidity caps that all exceed
        every asset's largest allowed weight.
        """
        default = _default_bounds(self.long_only)
        bounds = self.weight_bounds
        pairs = list(bounds.values()) if isinstance(bounds, Mapping) else [bounds or default]
        restricted = {
            "weight_bounds": any(tuple(map(float, pair)) != default for pair in pairs),
            "gross_limit": self.gross_limit is not None,
            "net_exposure": self.net_exposure != 1.0,
            "sector_limits": bool(self.sector_limits),
            "volume_share": self._liquidity_binds(),
            "turnover_limit": self.turnover_limit is not None,
            "minimum_score": self.minimum_score is not None,
        }
        return [name for name, set_ in restricted.items() if set_]

    def _liquidity_binds(self) -> bool:
        """Return whether some asset's liquidity cap is below the largest weight its bounds allow."""
        if self.volume_share is None:
            return False
        if self.capital is None or self.prices is None or self.average_daily_volume is None:
            return True  # caps asked for that cannot be measured: named where the caps are built
        if not (self.capital > 0 and self.volume_share > 0 and self.liquidation_days > 0):
            return True  # bad inputs, named where the caps are built
        by_asset = self.weight_bounds if isinstance(self.weight_bounds, Mapping) else {}
        common = (_default_bounds(self.long_only) if self.weight_bounds is None or isinstance(self.weight_bounds, Mapping)
                  else self.weight_bounds)
        for asset, price in self.prices.items():
            low, high = by_asset.get(asset, common)
            cap = self.volume_share * self.average_daily_volume.get(asset, np.inf) * self.liquidation_days * price / self.capital
            if cap < max(abs(low), abs(high)):
                return True
        return False


def _default_bounds(long_only: bool) -> Bounds:
    return (0.0, 1.0) if long_only else (-1.0, 1.0)


@dataclass(frozen=True)
class ConstraintGroup:
    """Constraints that stand or fall together, with the words that name them in a conflict."""

    label: str
    build: Callable[[cp.Variable], list[cp.Constraint]]


@dataclass(frozen=True)
class PreparedConstraints:
    """Constraints checked against a universe: bounds per asset and the other groups."""

    assets: list[str]
    lower: np.ndarray
    upper: np.ndarray
    exposure: float
    groups: list[ConstraintGroup]

    def scaled_bounds(self) -> list[tuple[float, float]]:
        """Return the bounds of ``v = w / exposure`` per asset, as PyPortfolioOpt takes them."""
        return list(zip(self.lower / self.exposure, self.upper / self.exposure))

    def bounds_group(self) -> ConstraintGroup:
        """Return the weight bounds and the net exposure as a group (PyPortfolioOpt adds them itself)."""
        lower, upper = self.lower / self.exposure, self.upper / self.exposure
        return ConstraintGroup(_describe_bounds(self.lower, self.upper), lambda v: [v >= lower, v <= upper])

    def net_group(self) -> ConstraintGroup:
        """Return the net exposure as a group (PyPortfolioOpt adds it itself)."""
        return ConstraintGroup(f"weights summing to {self.exposure:g}", lambda v: [cp.sum(v) == 1])


def prepare(constraints: Constraints | None, assets: list[str]) -> PreparedConstraints:
    """Check ``constraints`` against ``assets`` and return them as bounds and named groups."""
    c = constraints or Constraints()
    if not c.net_exposure > 0:
        raise QuantDeskError(f"net_exposure={c.net_exposure}: give a positive net exposure (1 is fully invested)")
    n = float(c.net_exposure)
    lower, upper = _bounds(c, assets)
    groups: list[ConstraintGroup] = []
    if c.gross_limit is not None:
        if c.long_only:
            raise QuantDeskError("gross_limit applies to long-short portfolios: set long_only=False or drop gross_limit")
        if c.gross_limit < n:
            raise QuantDeskError(f"gross_limit={c.gross_limit} is below net_exposure={n}: gross exposure is at least the net")
        groups.append(ConstraintGroup(f"gross exposure at most {c.gross_limit:g}",
                                      lambda v: [cp.sum(cp.abs(n * v)) <= c.gross_limit]))
    groups += _sector_groups(c, assets, n)
    liquidity = _liquidity_caps(c, assets)
    if liquidity is not None:
        groups.append(ConstraintGroup(
            f"liquidity caps (a position at most {c.volume_share:g} of average daily volume x {c.liquidation_days:g} days "
            f"at capital {c.capital:,.0f}; tightest {liquidity.idxmin()} <= {liquidity.min():.4g})",
            lambda v: [cp.abs(n * v) <= liquidity.to_numpy()]))
    if c.turnover_limit is not None:
        if c.turnover_limit < 0:
            raise QuantDeskError(f"turnover_limit={c.turnover_limit}: give a limit of 0 or more")
        current = per_asset(c.current_weights or {}, assets, "current_weights", missing=0.0)
        groups.append(ConstraintGroup(f"turnover at most {c.turnover_limit:g} from the current weights",
                                      lambda v: [cp.sum(cp.abs(n * v - current * cp.sum(v))) <= c.turnover_limit]))
    if c.minimum_score is not None:
        if c.scores is None:
            raise QuantDeskError("minimum_score needs scores: give a score per asset")
        scores = per_asset(c.scores, assets, "scores")
        groups.append(ConstraintGroup(f"portfolio score at least {c.minimum_score:g}",
                                      lambda v: [scores @ (n * v) >= c.minimum_score]))
    return PreparedConstraints(list(assets), lower, upper, n, groups)


def _bounds(c: Constraints, assets: list[str]) -> tuple[np.ndarray, np.ndarray]:
    default = _default_bounds(c.long_only)
    bounds = c.weight_bounds
    if bounds is None:
        pairs = {asset: default for asset in assets}
    elif isinstance(bounds, Mapping):
        _check_known(bounds, assets, "weight_bounds")
        pairs = {asset: tuple(bounds.get(asset, default)) for asset in assets}
    else:
        pairs = {asset: tuple(bounds) for asset in assets}
    lower = np.array([pairs[a][0] for a in assets], dtype=float)
    upper = np.array([pairs[a][1] for a in assets], dtype=float)
    for asset, low, high in zip(assets, lower, upper):
        if not (np.isfinite(low) and np.isfinite(high)) or low > high:
            raise QuantDeskError(f"Weight bounds ({low:g}, {high:g}) for {asset}: give finite bounds with lower <= upper")
        if c.long_only and low < 0:
            raise QuantDeskError(f"Weight bounds for {asset} allow a short ({low:g}) in a long-only portfolio: "
                                 "set long_only=False or a lower bound of 0 or more")
    return lower, upper


def _sector_groups(c: Constraints, assets: list[str], n: float) -> list[ConstraintGroup]:
    if not c.sector_limits:
        return []
    if not c.sectors:
        raise QuantDeskError("sector_limits need sectors: give a map of asset -> sector")
    missing = [a for a in assets if a not in c.sectors]
    if missing:
        raise QuantDeskError(f"Assets {', '.join(missing)} have no sector in the sector map: add them")
    groups = []
    for sector, (low, high) in c.sector_limits.items():
        members = [i for i, a in enumerate(assets) if c.sectors[a] == sector]
        if not members:
            known = ", ".join(sorted(set(c.sectors[a] for a in assets)))
            raise QuantDeskError(f"Sector {sector!r} in sector_limits has no asset in the universe: the sectors are {known}")
        names = ", ".join(assets[i] for i in members)
        side = " and ".join(s for s in (f"at least {low:g}" if low is not None else "",
                                        f"at most {high:g}" if high is not None else "") if s)
        groups.append(ConstraintGroup(f"sector {sector} {side} ({len(members)} assets: {names})",
                                      _sector_builder(members, low, high, n)))
    return groups


def _sector_builder(members: list[int], low: float | None, high: float | None, n: float) -> Callable[[cp.Variable], list]:
    def build(v: cp.Variable) -> list[cp.Constraint]:
        total = cp.sum(n * v[members])
        return ([total >= low] if low is not None else []) + ([total <= high] if high is not None else [])

    return build


def _liquidity_caps(c: Constraints, assets: list[str]) -> pd.Series | None:
    if c.volume_share is None:
        return None
    missing = [name for name in ("capital", "prices", "average_daily_volume") if getattr(c, name) is None]
    if missing:
        raise QuantDeskError(f"Liquidity caps (volume_share={c.volume_share:g}) need {', '.join(missing)}: give them, "
                             "or drop volume_share to run without liquidity caps")
    if c.capital <= 0 or c.volume_share <= 0 or c.liquidation_days <= 0:
        raise QuantDeskError(f"Liquidity caps need positive capital, volume_share and liquidation_days "
                             f"(got {c.capital}, {c.volume_share}, {c.liquidation_days})")
    prices = per_asset(c.prices, assets, "prices")
    volume = per_asset(c.average_daily_volume, assets, "average_daily_volume")
    return pd.Series(c.volume_share * volume * c.liquidation_days * prices / c.capital, index=assets)


def per_asset(values: Mapping[str, float], assets: list[str], name: str, missing: float | None = None) -> np.ndarray:
    """Return ``values`` in the order of ``assets`` (``missing`` for those left out), or raise naming the bad assets."""
    _check_known(values, assets, name)
    absent = [a for a in assets if a not in values]
    if absent and missing is None:
        raise QuantDeskError(f"{name} has no value for {', '.join(absent)}: give one for every asset")
    return np.array([float(values[a]) if a in values else missing for a in assets])


def _check_known(values: Mapping[str, Any], assets: list[str], name: str) -> None:
    unknown = [str(a) for a in values.keys() if a not in set(assets)]
    if unknown:
        raise QuantDeskError(f"{name} names assets outside the universe: {', '.join(unknown)}; drop them or add them to the universe")


def _describe_bounds(lower: np.ndarray, upper: np.ndarray) -> str:
    if np.ptp(lower) == 0 and np.ptp(upper) == 0:
        return f"weight bounds ({lower[0]:g}, {upper[0]:g}) on each of the {len(lower)} assets"
    return f"per-asset weight bounds (lower bounds summing to {lower.sum():g}, upper bounds to {upper.sum():g})"
