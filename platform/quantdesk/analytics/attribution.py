"""Return attribution: Brinson-Fachler by sector and regression on factor returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantdesk.analytics.inputs import aligned, periods_per_year, return_series
from quantdesk.analytics.returns import TRADING_DAYS
from quantdesk.errors import QuantDeskError

EFFECTS = ["allocation", "selection", "interaction"]
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BrinsonAttribution:
    """Brinson-Fachler effects per period and sector, and linked over all periods.

    Attributes
    ----------
    by_sector : pandas.DataFrame
        Index (period, sector). Columns ``portfolio_weight``, ``benchmark_weight``,
        ``portfolio_return``, ``benchmark_return`` (the sector's weighted return), the three
        effects and ``active`` (their sum).
    by_period : pandas.DataFrame
        Index period. ``portfolio_return``, ``benchmark_return``, ``active_return`` and the
        three effects summed over sectors; the effects add up to ``active_return``.
    sector_total : pandas.DataFrame
        Index sector: the effects linked over all periods (Carino), plus ``active``.
    total : pandas.Series
        Compounded ``portfolio_return``, ``benchmark_return``, ``active_return`` (their
        difference) and the linked effects, which add up to ``active_return``.
    """

    by_sector: pd.DataFrame
    by_period: pd.DataFrame
    sector_total: pd.DataFrame
    total: pd.Series


def _frame(values: pd.DataFrame | pd.Series, name: str) -> pd.DataFrame:
    if isinstance(values, pd.Series):
        # One period, labelled 0 whatever the Series is named, so the inputs line up.
        values = pd.DataFrame([values.to_numpy()], columns=values.index, index=[0])
    if not isinstance(values, pd.DataFrame):
        raise QuantDeskError(
            f"{name} is a {type(values).__name__}: pass a DataFrame (period x asset) or a Series (asset)"
        )
    if values.empty:
        raise QuantDeskError(f"{name} is empty: pass at least one period and one asset")
    try:
        return values.astype("float64")
    except (TypeError, ValueError):
        raise QuantDeskError(f"{name} holds non-numeric values: pass numbers") from None


def _check_weights(weights: pd.DataFrame, name: str) -> None:
    totals = weights.sum(axis=1)
    off = (totals - 1.0).abs() > WEIGHT_TOLERANCE
    if off.any():
        period = totals.index[off.to_numpy()][0]
        raise QuantDeskError(
            f"{name} of period {period!r} sum to {totals[period]:.6g}, not 1: include cash as an asset or rescale"
        )


def _by_sector(frame: pd.DataFrame, sectors: pd.Series) -> pd.DataFrame:
    return frame.T.groupby(sectors.reindex(frame.columns).to_numpy(), sort=True).sum().T


def brinson_fachler(
    portfolio_weights: pd.DataFrame | pd.Series,
    benchmark_weights: pd.DataFrame | pd.Series,
    returns: pd.DataFrame | pd.Series,
    sectors: Mapping[str, str] | pd.Series | None = None,
    benchmark_returns: pd.DataFrame | pd.Series | None = None,
) -> BrinsonAttribution:
    """Split each period's active return into allocation, selection and interaction by sector.

    With sector weights ``wp``, ``wb``, sector returns ``rp``, ``rb`` (weight-averaged over
    the sector's assets) and benchmark return ``B = sum(wb * rb)``, per sector:

    - allocation = ``(wp - wb) * (rb - B)``   (Brinson-Fachler: relative to the benchmark)
    - selection = ``wb * (rp - rb)``
    - interaction = ``(wp - wb) * (rp - rb)``

    Their sum over sectors is the period's ``sum(wp * rp) - B``. A sector the portfolio does
    not hold takes ``rp = rb`` (and one outside the benchmark ``rb = rp``), so it has only
    an allocation effect. Periods are linked with Carino's logarithmic factors, so the
    total effects add up to the compounded portfolio return minus the compounded
    benchmark return.

    Parameters
    ----------
    portfolio_weights, benchmark_weights : pandas.DataFrame or Series
        Weights per period (rows) and asset (columns) at the start of each period; each
        row sums to 1 (hold cash as an asset). A Series is one period. Missing assets weigh 0.
    returns : pandas.DataFrame or Series
        Each asset's return over each period (the portfolio's returns per asset).
    sectors : mapping or Series, optional
        Asset -> sector. None: the columns already are sectors.
    benchmark_returns : pandas.DataFrame or Series, optional
        The benchmark's return per asset when it differs from ``returns``.

    Raises
    ------
    QuantDeskError
        When weights do not sum to 1, periods differ, or an asset lacks a return or a sector.
    """
    portfolio = _frame(portfolio_weights, "portfolio_weights")
    benchmark = _frame(benchmark_weights, "benchmark_weights")
    asset_returns = _frame(returns, "returns")
    bench_returns = asset_returns if benchmark_returns is None else _frame(benchmark_returns, "benchmark_returns")
    if not portfolio.index.equals(benchmark.index):
        raise QuantDeskError(
            f"portfolio_weights periods {list(portfolio.index)[:3]}... differ from benchmark_weights periods "
            f"{list(benchmark.index)[:3]}...: pass both over the same periods"
        )
    assets = portfolio.columns.union(benchmark.columns, sort=False)
    portfolio = portfolio.reindex(columns=assets, fill_value=0.0).fillna(0.0)
    benchmark = benchmark.reindex(columns=assets, fill_value=0.0).fillna(0.0)
    _check_weights(portfolio, "portfolio_weights")
    _check_weights(benchmark, "benchmark_weights")
    sides = ((asset_returns, "returns", portfolio), (bench_returns, "benchmark_returns", benchmark))
    for frame, name, weights in sides:
        missing_periods = weights.index.difference(frame.index)
        if len(missing_periods):
            raise QuantDeskError(f"{name} has no row for period {missing_periods[0]!r}: pass returns for every period")
        held = weights.ne(0.0)
        lacking = held & frame.reindex(index=weights.index, columns=assets).isna()
        if lacking.to_numpy().any():
            period, asset = lacking.stack().loc[lambda s: s].index[0]
            raise QuantDeskError(f"{name} has no return for asset {asset!r} in period {period!r}, which is held")
    sector_of = pd.Series(dict(sectors)) if sectors is not None else pd.Series(assets, index=assets)
    unmapped = [asset for asset in assets if asset not in sector_of.index]
    if unmapped:
        raise QuantDeskError(f"asset {unmapped[0]!r} has no sector in sectors: add it to the sector map")

    # Unheld assets may lack returns: zero weight times anything is zero, so fill them.
    p_returns = asset_returns.reindex(index=portfolio.index, columns=assets).fillna(0.0)
    b_returns = bench_returns.reindex(index=benchmark.index, columns=assets).fillna(0.0)
    p_contribution = _by_sector(portfolio * p_returns, sector_of)
    b_contribution = _by_sector(benchmark * b_returns, sector_of)
    wp, wb = _by_sector(portfolio, sector_of), _by_sector(benchmark, sector_of)
    rp = p_contribution / wp.where(wp != 0)
    rb = b_contribution / wb.where(wb != 0)
    rp, rb = rp.fillna(rb), rb.fillna(rp)
    rp, rb = rp.fillna(0.0), rb.fillna(0.0)
    benchmark_total = (wb * rb).sum(axis=1)
    portfolio_total = (wp * rp).sum(axis=1)

    effects = {
        "allocation": (wp - wb).mul(rb.sub(benchmark_total, axis=0)),
        "selection": wb * (rp - rb),
        "interaction": (wp - wb) * (rp - rb),
    }
    columns = {"portfolio_weight": wp, "benchmark_weight": wb, "portfolio_return": rp, "benchmark_return": rb,
               **effects}  # fmt: skip
    by_sector = pd.concat({name: frame.stack() for name, frame in columns.items()}, axis=1)
    by_sector.index.names = ["period", "sector"]
    by_sector["active"] = by_sector[EFFECTS].sum(axis=1)

    by_period = pd.DataFrame(
        {"portfolio_return": portfolio_total, "benchmark_return": benchmark_total,
         "active_return": portfolio_total - benchmark_total, **{name: e.sum(axis=1) for name, e in effects.items()}}
    )  # fmt: skip
    by_period.index.name = "period"

    compounded_portfolio = float(np.prod(1.0 + portfolio_total.to_numpy()) - 1.0)
    compounded_benchmark = float(np.prod(1.0 + benchmark_total.to_numpy()) - 1.0)
    period_factor = _carino(portfolio_total.to_numpy(), benchmark_total.to_numpy())
    overall_factor = _carino(np.array([compounded_portfolio]), np.array([compounded_benchmark]))[0]
    scale = pd.Series(period_factor / overall_factor, index=by_period.index)
    sector_total = pd.DataFrame({name: e.mul(scale, axis=0).sum(axis=0) for name, e in effects.items()})
    sector_total.index.name = "sector"
    sector_total["active"] = sector_total[EFFECTS].sum(axis=1)
    total = pd.Series(
        {"portfolio_return": compounded_portfolio, "benchmark_return": compounded_benchmark,
         "active_return": compounded_portfolio - compounded_benchmark, **sector_total[EFFECTS].sum(axis=0).to_dict()}
    )  # fmt: skip
    return BrinsonAttribution(by_sector=by_sector, by_period=by_period, sector_total=sector_total, total=total)


def _carino(portfolio: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """Carino's factor ``(ln(1 + p) - ln(1 + b)) / (p - b)``, or its limit ``1 / (1 + p)`` when p == b."""
    difference = portfolio - benchmark
    same = np.isclose(difference, 0.0, rtol=0.0, atol=1e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = (np.log1p(portfolio) - np.log1p(benchmark)) / np.where(same, 1.0, difference)
    return np.where(same, 1.0 / (1.0 + portfolio), factor)


@dataclass(frozen=True)
class FactorAttribution:
    """A regression of portfolio returns on factor returns and the return it explains.

    Attributes
    ----------
    exposures : pandas.Series
        ``alpha`` (the intercept, per period) and each factor's beta.
    t_stats : pandas.Series
        Ordinary least squares t-statistics of ``exposures`` (homoskedastic errors).
    r_squared : float
        Share of the return variance the factors explain.
    contribution : pandas.Series
        Annualized mean return from each factor (``beta * mean(factor) * periods``) and
        ``alpha`` (``intercept * periods``); they add up to the annualized mean return.
    over_time : pandas.DataFrame
        Per date: each factor's ``beta * factor return``, ``alpha`` and ``residual``; each row
        adds up to that date's return.
    """

    exposures: pd.Series
    t_stats: pd.Series
    r_squared: float
    contribution: pd.Series
    over_time: pd.DataFrame


def factor_attribution(returns: pd.Series, factors: pd.DataFrame, periods: int = TRADING_DAYS) -> FactorAttribution:
    """Regress ``returns`` on ``factors`` (with an intercept) over their common dates.

    ``r_t = alpha + sum_k beta_k * f_kt + e_t`` by ordinary least squares. Solved with numpy
    rather than statsmodels, which QuantDesk installs for its tests only.

    Parameters
    ----------
    returns : pandas.Series
        Portfolio returns on a DatetimeIndex.
    factors : pandas.DataFrame
        Factor returns, one column per factor, on a DatetimeIndex.
    periods : int
        Return periods per year, for the annualized contributions.

    Raises
    ------
    QuantDeskError
        When there are too few common dates, a factor is constant or duplicates others, or
        a factor is named ``alpha`` or ``residual``.
    """
    if not isinstance(factors, pd.DataFrame) or factors.shape[1] == 0:
        raise QuantDeskError("factors must be a DataFrame with one column of returns per factor")
    for reserved in ("alpha", "residual"):
        if reserved in factors.columns:
            raise QuantDeskError(f"factors has a column named {reserved!r}: rename it (the name is reserved)")
    returns = return_series(returns)
    try:
        table = factors.astype("float64").dropna()
    except (TypeError, ValueError):
        raise QuantDeskError("factors holds non-numeric values: pass factor returns as numbers") from None
    returns, _ = aligned(returns, table.iloc[:, 0], minimum=factors.shape[1] + 2, name="factors")
    table = table.loc[returns.index]
    design = np.column_stack([np.ones(len(table)), table.to_numpy()])
    coefficients, _, rank, _ = np.linalg.lstsq(design, returns.to_numpy(), rcond=None)
    if rank < design.shape[1]:
        raise QuantDeskError(
            f"factors {list(factors.columns)} are constant or linearly dependent over the common dates: drop one"
        )
    fitted = design @ coefficients
    residual = returns.to_numpy() - fitted
    observations, parameters = design.shape
    variance = residual @ residual / (observations - parameters)
    errors = np.sqrt(np.diag(variance * np.linalg.inv(design.T @ design)))
    names = ["alpha", *table.columns]
    centered = returns.to_numpy() - returns.mean()
    exposures = pd.Series(coefficients, index=names, name="exposure")
    over_time = pd.DataFrame(design * coefficients, index=returns.index, columns=names)
    over_time["residual"] = residual
    periods = periods_per_year(periods)
    return FactorAttribution(
        exposures=exposures,
        t_stats=pd.Series(coefficients / errors, index=names, name="t_stat"),
        r_squared=float(1.0 - residual @ residual / (centered @ centered)),
        contribution=(over_time[names].mean() * periods).rename("contribution"),
        over_time=over_time,
    )
