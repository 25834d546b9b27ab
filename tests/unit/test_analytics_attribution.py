"""Brinson-Fachler against a published example and its identities; factor attribution against statsmodels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantdesk.analytics import brinson_fachler, factor_attribution
from quantdesk.errors import QuantDeskError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily" / "pyportfolioopt"

# Published example (finfacts.io, "Brinson-Fachler Attribution (A/S/I)"): five fixed-income
# segments; effects in basis points per segment as printed there.
SEGMENTS = ["Government", "Credit", "Mortgages", "High Yield", "Cash"]
PUBLISHED = pd.DataFrame(
    {
        "portfolio_weight": [0.35, 0.30, 0.15, 0.10, 0.10],
        "portfolio_return": [0.0210, 0.0450, 0.0320, 0.0650, 0.0050],
        "benchmark_weight": [0.40, 0.25, 0.20, 0.05, 0.10],
        "benchmark_return": [0.0180, 0.0380, 0.0300, 0.0500, 0.0040],
        "allocation_bps": [3.8, 6.2, -2.2, 12.2, 0.0],
        "selection_bps": [12.0, 17.5, 4.0, 7.5, 1.0],
        "interaction_bps": [-1.5, 3.5, -1.0, 7.5, 0.0],
    },
    index=SEGMENTS,
)


def test_published_single_period_example() -> None:
    result = brinson_fachler(
        PUBLISHED["portfolio_weight"], PUBLISHED["benchmark_weight"], PUBLISHED["portfolio_return"],
        benchmark_returns=PUBLISHED["benchmark_return"],
    )  # fmt: skip
    period = result.by_period.iloc[0]
    assert period["benchmark_return"] == pytest.approx(0.0256, abs=1e-12)
    assert period["portfolio_return"] == pytest.approx(0.03265, abs=1e-12)
    sectors = result.by_sector.xs(result.by_period.index[0], level="period").loc[SEGMENTS]
    for effect in ("allocation", "selection", "interaction"):
        # The source rounds each segment to 0.1 bp.
        np.testing.assert_allclose(sectors[effect] * 1e4, PUBLISHED[f"{effect}_bps"], atol=0.05)
    assert period["allocation"] * 1e4 == pytest.approx(20.0, abs=0.05)
    assert period["selection"] * 1e4 == pytest.approx(42.0, abs=0.05)
    assert period["interaction"] * 1e4 == pytest.approx(8.5, abs=0.05)
    # One period: the linked totals are the period's effects.
    assert result.total["active_return"] == pytest.approx(0.00705, abs=1e-12)
    assert result.total["allocation"] == pytest.approx(period["allocation"], rel=1e-12)


def _multi_period() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Monthly weights and returns of eight real stocks in three sectors, 2017."""
    prices = pd.read_csv(DATA / "tests-stock_prices.csv.gz", index_col=0, parse_dates=True)
    assets = ["AAPL", "AMD", "GOOG", "JPM", "BAC", "MA", "XOM", "RRC"]
    sectors = {"AAPL": "tech", "AMD": "tech", "GOOG": "tech", "JPM": "finance", "BAC": "finance",
               "MA": "finance", "XOM": "energy", "RRC": "energy"}  # fmt: skip
    monthly = prices.loc["2016-12":"2017-12", assets].resample("ME").last().pct_change().dropna()
    generator = np.random.default_rng(7)
    portfolio = pd.DataFrame(generator.dirichlet(np.ones(len(assets)), len(monthly)), monthly.index, assets)
    # The benchmark holds no MA and the portfolio no RRC: assets held on one side only.
    portfolio["RRC"] = 0.0
    portfolio = portfolio.div(portfolio.sum(axis=1), axis=0)
    benchmark = pd.DataFrame(1.0 / 7, monthly.index, [a for a in assets if a != "MA"])
    return portfolio, benchmark, monthly, sectors


def test_effects_add_up_to_active_return_every_period_and_linked() -> None:
    portfolio, benchmark, returns, sectors = _multi_period()
    result = brinson_fachler(portfolio, benchmark, returns, sectors)
    by_period = result.by_period
    assert len(by_period) == 12
    effects = by_period[["allocation", "selection", "interaction"]].sum(axis=1)
    np.testing.assert_allclose(effects, by_period["active_return"], rtol=0, atol=1e-16)
    # Portfolio and benchmark returns are the plain weighted sums of asset returns.
    np.testing.assert_allclose(by_period["portfolio_return"], (portfolio * returns).sum(axis=1), atol=1e-16)
    np.testing.assert_allclose(by_period["benchmark_return"], (benchmark * returns[benchmark.columns]).sum(axis=1),
                               atol=1e-16)  # fmt: skip
    # Sector rows add up to their period, and the sector weights to 1.
    summed = result.by_sector.groupby(level="period").sum()
    np.testing.assert_allclose(summed["active"], by_period["active_return"], atol=1e-16)
    np.testing.assert_allclose(summed["portfolio_weight"], 1.0, atol=1e-12)
    compounded = (1 + by_period["portfolio_return"]).prod() - (1 + by_period["benchmark_return"]).prod()
    total = result.total
    assert total["active_return"] == pytest.approx(compounded, abs=1e-15)
    assert total[["allocation", "selection", "interaction"]].sum() == pytest.approx(compounded, abs=1e-15)
    assert result.sector_total["active"].sum() == pytest.approx(compounded, abs=1e-15)


def test_carino_linking_by_hand() -> None:
    # Two periods, one sector pair, effects known: check the linked totals with the formula.
    weights = pd.DataFrame({"a": [0.6, 0.5], "b": [0.4, 0.5]}, index=[1, 2])
    bench = pd.DataFrame({"a": [0.5, 0.5], "b": [0.5, 0.5]}, index=[1, 2])
    returns = pd.DataFrame({"a": [0.10, -0.05], "b": [0.02, 0.03]}, index=[1, 2])
    result = brinson_fachler(weights, bench, returns)
    p = np.array([0.6 * 0.10 + 0.4 * 0.02, 0.5 * -0.05 + 0.5 * 0.03])
    b = np.array([0.5 * 0.10 + 0.5 * 0.02, 0.5 * -0.05 + 0.5 * 0.03])
    total_p, total_b = np.prod(1 + p) - 1, np.prod(1 + b) - 1
    k = np.log((1 + total_p) / (1 + total_b)) / (total_p - total_b)
    k_first = np.log((1 + p[0]) / (1 + b[0])) / (p[0] - b[0])
    k_second = 1 / (1 + p[1])  # no active return in period 2: the factor's limit
    allocation_first = 0.1 * (0.10 - b[0]) + -0.1 * (0.02 - b[0])
    assert result.total["allocation"] == pytest.approx(allocation_first * k_first / k, rel=1e-12)
    assert result.by_period["active_return"].iloc[1] == 0.0 and k_second > 0
    assert result.total["active_return"] == pytest.approx(total_p - total_b, rel=1e-12)


def test_bad_brinson_input_names_the_problem() -> None:
    portfolio, benchmark, returns, sectors = _multi_period()
    off = portfolio.copy()
    off.iloc[3, 0] += 0.1
    with pytest.raises(QuantDeskError, match="portfolio_weights of period .* sum to 1.1"):
        brinson_fachler(off, benchmark, returns, sectors)
    with pytest.raises(QuantDeskError, match="asset 'RRC' has no sector"):
        brinson_fachler(portfolio, benchmark, returns, {k: v for k, v in sectors.items() if k != "RRC"})
    with pytest.raises(QuantDeskError, match="no return for asset 'AAPL'"):
        brinson_fachler(portfolio, benchmark, returns.drop(columns="AAPL"), sectors)
    with pytest.raises(QuantDeskError, match="differ from benchmark_weights periods"):
        brinson_fachler(portfolio, benchmark.iloc[1:], returns, sectors)


def test_factor_attribution_matches_statsmodels() -> None:
    prices = pd.read_csv(DATA / "tests-stock_prices.csv.gz", index_col=0, parse_dates=True).loc["2012-06":]
    spy = pd.read_csv(DATA / "tests-spy_prices.csv.gz", index_col=0, parse_dates=True)["SPY"]
    stocks = prices.pct_change(fill_method=None)
    portfolio = stocks[["AAPL", "JPM", "XOM", "AMZN"]].mean(axis=1).dropna()
    factors = pd.DataFrame(
        {"market": spy.pct_change(), "tech_minus_energy": stocks["GOOG"] - stocks["RRC"],
         "banks": stocks["BAC"] - spy.pct_change()}
    ).dropna()  # fmt: skip
    result = factor_attribution(portfolio, factors)
    common = portfolio.index.intersection(factors.index)
    fit = sm.OLS(portfolio.loc[common], sm.add_constant(factors.loc[common])).fit()
    np.testing.assert_allclose(result.exposures.to_numpy(), fit.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(result.t_stats.to_numpy(), fit.tvalues.to_numpy(), rtol=1e-9)
    assert result.r_squared == pytest.approx(fit.rsquared, rel=1e-10)
    np.testing.assert_allclose(result.over_time["residual"], fit.resid, atol=1e-14)
    # Each date's pieces add up to its return; the annualized pieces to the annualized mean.
    np.testing.assert_allclose(result.over_time.sum(axis=1), portfolio.loc[common], atol=1e-15)
    assert result.contribution.sum() == pytest.approx(portfolio.loc[common].mean() * 252, rel=1e-12)
    assert result.contribution["market"] == pytest.approx(fit.params["market"] * factors.loc[common, "market"].mean()
                                                          * 252, rel=1e-10)  # fmt: skip


def test_bad_factor_input_names_the_problem() -> None:
    dates = pd.date_range("2024-01-01", periods=30, freq="B")
    returns = pd.Series(np.linspace(-0.01, 0.01, 30), index=dates)
    factor = pd.Series(np.sin(np.arange(30)), index=dates)
    with pytest.raises(QuantDeskError, match="linearly dependent"):
        factor_attribution(returns, pd.DataFrame({"one": factor, "two": 2 * factor}))
    with pytest.raises(QuantDeskError, match="named 'alpha'"):
        factor_attribution(returns, pd.DataFrame({"alpha": factor}))
    with pytest.raises(QuantDeskError, match="factors shares 0 dates"):
        factor_attribution(returns, pd.DataFrame({"market": factor.set_axis(dates + pd.Timedelta(days=400))}))
