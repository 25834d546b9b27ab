"""Returns statistics against quantstats and statsmodels on real prices, and by hand on tiny series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
import statsmodels.api as sm
from statsmodels.regression.rolling import RollingOLS

from quantdesk import analytics
from quantdesk.errors import QuantDeskError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily"
STOCKS = DATA / "pyportfolioopt" / "tests-stock_prices.csv.gz"
SPY_2008 = DATA / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv.gz"
BENCHMARK = DATA / "pyportfolioopt" / "tests-spy_prices.csv.gz"



def _stocks() -> pd.DataFrame:
    return pd.read_csv(STOCKS, index_col=0, parse_dates=True)


def _spy_2008() -> pd.Series:
    prices = pd.read_csv(SPY_2008, index_col=0, parse_dates=True)["Adj Close"]
    return prices.pct_change().dropna().rename("SPY")


def _benchmark() -> pd.Series:
    return pd.read_csv(BENCHMARK, index_col=0, parse_dates=True)["SPY"].pct_change().dropna()


def _equal_weight() -> pd.Series:
    """An equal-weighted, daily rebalanced portfolio of the 20 stocks once all of them trade."""
    prices = _stocks().loc["2014-09-19":]
    return prices.pct_change(fill_method=None).dropna().mean(axis=1).rename("equal_weight")


SERIES = {"spy_2008_2017": _spy_2008, "aapl": lambda: _stocks()["AAPL"].pct_change().dropna(),
          "equal_weight": _equal_weight}  # fmt: skip


@pytest.fixture(params=sorted(SERIES), scope="module")
def returns(request: pytest.FixtureRequest) -> pd.Series:
    return SERIES[request.param]()


@pytest.mark.parametrize("risk_free", [0.0, 0.03])
def test_ratios_match_quantstats(returns: pd.Series, risk_free: float) -> None:
    expected = qs.stats.sharpe(returns, rf=risk_free)
    assert analytics.sharpe_ratio(returns, risk_free) == pytest.approx(expected, rel=1e-10)
    assert analytics.sortino_ratio(returns, risk_free) == pytest.approx(
        qs.stats.sortino(returns, rf=risk_free), rel=1e-10
    )


def test_growth_and_drawdown_match_quantstats(returns: pd.Series) -> None:
    assert analytics.total_return(returns) == pytest.approx(qs.stats.comp(returns), rel=1e-10)
    assert analytics.cagr(returns) == pytest.approx(qs.stats.cagr(returns), rel=1e-10)
    assert analytics.annual_volatility(returns) == pytest.approx(qs.stats.volatility(returns), rel=1e-10)
    assert analytics.max_drawdown(returns) == pytest.approx(qs.stats.max_drawdown(returns), rel=1e-10)
    assert analytics.calmar_ratio(returns) == pytest.approx(qs.stats.calmar(returns), rel=1e-10)


def test_distribution_statistics_match_quantstats(returns: pd.Series) -> None:
    assert analytics.hit_rate(returns) == pytest.approx(qs.stats.win_rate(returns), rel=1e-12)
    assert analytics.profit_factor(returns) == pytest.approx(qs.stats.profit_factor(returns), rel=1e-10)
    assert analytics.tail_ratio(returns) == pytest.approx(qs.stats.tail_ratio(returns), rel=1e-10)


def test_summary_reports_the_risk_engines_historical_var(returns: pd.Series) -> None:
    table = analytics.summary(returns, confidence=0.95)
    worst = np.sort(returns.to_numpy())[: int(np.ceil(len(returns) * 0.05))]
    # The lower-tail order statistic and the mean of the outcomes up to it, as positive losses.
    assert table["value_at_risk"] == pytest.approx(-worst[-1], rel=1e-12)
    assert table["expected_shortfall"] == pytest.approx(-worst.mean(), rel=1e-12)
    assert table["value_at_risk"] == pytest.approx(-np.quantile(returns, 0.05, method="inverted_cdf"), rel=1e-12)


def test_drawdown_periods_match_quantstats_episodes() -> None:
    returns = _spy_2008()
    ours = analytics.drawdown_periods(returns)
    theirs = qs.stats.drawdown_details(qs.stats.to_drawdown_series(returns))
    assert len(ours) == len(theirs) and len(ours) > 50
    dates = returns.index
    theirs = theirs.assign(start=pd.to_datetime(theirs["start"]), end=pd.to_datetime(theirs["end"]))
    theirs = theirs.sort_values("start").reset_index(drop=True)
    ours = ours.sort_values("peak").reset_index(drop=True)
    # quantstats dates an episode by its first and last day under water; ours by the peak
    # before it and the recovery after it (the first episode starts from the starting value).
    first_under = [dates[max(dates.get_loc(p) + 1, 0)] for p in ours["peak"]]
    first_under[0] = dates[0]
    assert list(theirs["start"]) == first_under
    recovered = ours["recovery"].notna()
    last_under = [dates[dates.get_loc(r) - 1] for r in ours.loc[recovered, "recovery"]]
    assert list(theirs.loc[recovered, "end"]) == last_under
    np.testing.assert_allclose(ours["depth"] * 100, theirs["max drawdown"], rtol=1e-10)
    deepest = ours.loc[ours["depth"].idxmin()]
    assert analytics.max_drawdown_duration(returns) == (deepest["recovery"] - deepest["peak"]).days == 1213
    assert deepest["trough"] == pd.Timestamp("2009-03-09")


def test_drawdown_duration_and_profit_factor_by_hand() -> None:
    dates = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-08", "2024-01-09",
                            "2024-01-10"])  # fmt: skip
    returns = pd.Series([0.10, -0.10, -0.05, 0.20, 0.02, -0.01, -0.01], index=dates)
    # Wealth: 1.10, 0.99, 0.9405, 1.1286, 1.151172, 1.13966..., 1.12826...
    # The peak of 01-01 (1.10) is regained on 01-05: 4 days, trough 0.9405 on 01-03.
    # The peak of 01-08 is not regained: 2 days to the last date, depth 1 - 0.99 * 0.99.
    table = analytics.drawdown_periods(returns)
    assert list(table["peak"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]
    assert list(table["trough"]) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-10")]
    assert table["recovery"].iloc[0] == pd.Timestamp("2024-01-05") and pd.isna(table["recovery"].iloc[1])
    assert list(table["days"]) == [4, 2]
    assert table["depth"].iloc[0] == pytest.approx(0.9405 / 1.10 - 1.0, rel=1e-12)
    assert table["depth"].iloc[1] == pytest.approx(0.99 * 0.99 - 1.0, rel=1e-12)
    assert analytics.max_drawdown_duration(returns) == 4
    assert analytics.max_drawdown(returns) == pytest.approx(0.9405 / 1.10 - 1.0, rel=1e-12)
    # Gains 0.10 + 0.20 + 0.02 = 0.32 over losses 0.10 + 0.05 + 0.01 + 0.01 = 0.17.
    assert analytics.profit_factor(returns) == pytest.approx(0.32 / 0.17, rel=1e-12)
    assert analytics.hit_rate(returns) == pytest.approx(3 / 7)


def test_first_loss_is_a_drawdown_from_the_starting_value_and_no_loss_has_none() -> None:
    dates = pd.date_range("2024-01-01", periods=3, freq="D")
    table = analytics.drawdown_periods(pd.Series([-0.5, 0.5, 0.5], index=dates))
    # 0.5, 0.75, 1.125: back above the start on the third day, two days after the first.
    assert table.iloc[0][["peak", "recovery", "days"]].tolist() == [dates[0], dates[2], 2]
    rising = pd.Series([0.01, 0.0, 0.02], index=dates)
    assert analytics.drawdown_periods(rising).empty and analytics.max_drawdown(rising) == 0.0
    assert analytics.max_drawdown_duration(rising) == 0
    assert analytics.profit_factor(rising) == float("inf") and analytics.hit_rate(rising) == 1.0


def test_alpha_beta_match_quantstats_and_statsmodels() -> None:
    returns, benchmark = _equal_weight(), _benchmark()
    common = returns.index.intersection(benchmark.index)
    greeks = qs.stats.greeks(returns.loc[common], benchmark.loc[common])
    ours = analytics.alpha_beta(returns, benchmark)
    assert ours["beta"] == pytest.approx(greeks["beta"], rel=1e-10)
    assert ours["alpha"] == pytest.approx(greeks["alpha"], rel=1e-10)

    daily_rate = 1.04 ** (1 / 252) - 1
    fit = sm.OLS(returns.loc[common] - daily_rate, sm.add_constant(benchmark.loc[common] - daily_rate)).fit()
    with_rate = analytics.alpha_beta(returns, benchmark, risk_free=0.04)
    assert with_rate["beta"] == pytest.approx(fit.params.iloc[1], rel=1e-10)
    assert with_rate["alpha"] == pytest.approx(fit.params.iloc[0] * 252, rel=1e-10)
    assert with_rate["r_squared"] == pytest.approx(fit.rsquared, rel=1e-10)


def test_rolling_statistics_match_quantstats_and_statsmodels() -> None:
    returns, benchmark = _equal_weight(), _benchmark()
    pd.testing.assert_series_equal(
        analytics.rolling_sharpe(returns, 63), qs.stats.rolling_sharpe(returns, rolling_period=63),
        check_names=False, rtol=1e-9,
    )  # fmt: skip
    pd.testing.assert_series_equal(
        analytics.rolling_volatility(returns, 63), qs.stats.rolling_volatility(returns, rolling_period=63),
        check_names=False, rtol=1e-9,
    )  # fmt: skip
    ours = analytics.rolling_beta(returns, benchmark, 63)
    common = returns.index.intersection(benchmark.index)
    fit = RollingOLS(returns.loc[common], sm.add_constant(benchmark.loc[common]), window=63).fit()
    slope = fit.params.iloc[:, 1]
    assert ours.notna().sum() == slope.notna().sum() == len(common) - 62
    np.testing.assert_allclose(ours.dropna(), slope.dropna(), rtol=1e-8)


def test_summary_collects_everything() -> None:
    returns = _equal_weight()
    table = analytics.summary(returns, benchmark=_benchmark(), risk_free=0.02)
    assert table["sharpe"] == analytics.sharpe_ratio(returns, 0.02)
    assert table["max_drawdown_days"] == analytics.max_drawdown_duration(returns)
    assert table["beta"] == analytics.alpha_beta(returns, _benchmark(), 0.02)["beta"]
    assert table["observations"] == len(returns) and table["end"] == pd.Timestamp("2018-04-11")
    assert "beta" not in analytics.summary(returns).index


def test_bad_input_names_the_problem() -> None:
    dates = pd.date_range("2024-01-01", periods=5, freq="D")
    returns = pd.Series([0.01, -0.02, 0.03, 0.0, 0.01], index=dates)
    with pytest.raises(QuantDeskError, match="empty"):
        analytics.summary(pd.Series([], dtype=float, index=pd.DatetimeIndex([])))
    with pytest.raises(QuantDeskError, match="DatetimeIndex"):
        analytics.sharpe_ratio(pd.Series([0.01, 0.02]))
    with pytest.raises(QuantDeskError, match="benchmark shares 0 dates"):
        analytics.summary(returns, benchmark=returns.set_axis(dates + pd.Timedelta(days=30)))
    with pytest.raises(QuantDeskError, match="confidence 1.5"):
        analytics.summary(returns, confidence=1.5)
    with pytest.raises(QuantDeskError, match="level=2"):
        analytics.tail_ratio(returns, level=2)
    with pytest.raises(QuantDeskError, match="window=10"):
        analytics.rolling_sharpe(returns, 10)
    with pytest.raises(QuantDeskError, match="periods=0"):
        analytics.cagr(returns, periods=0)
    with pytest.raises(QuantDeskError, match="infinite"):
        analytics.total_return(returns.replace(0.0, np.inf))
