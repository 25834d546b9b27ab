"""Regimes: GARCH volatility equal to arch's, causal labels, 2008 as high volatility, trends by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from quantdesk.errors import QuantDeskError
from quantdesk.factors.regimes import (
    fit_garch,
    garch_volatility,
    score_by_regime,
    trend_regime,
    volatility_regime,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # as tests/conftest.py defines it


@pytest.fixture(scope="module")
def spy_returns() -> pd.Series:
    path = SHARED_DATA / "daily" / "mplfinance" / "yahoofinance-SPY-20080101-20180101.csv.gz"
    prices = pd.read_csv(path, index_col="Date", parse_dates=True)
    return prices["Adj Close"].pct_change().rename("SPY")


def test_conditional_volatility_equals_arch(spy_returns: pd.Series) -> None:
    from arch import arch_model

    model = arch_model(100 * spy_returns.dropna(), mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    result = model.fit(disp="off")
    volatility = garch_volatility(spy_returns, fit="full")
    ours = volatility["conditional"].dropna().to_numpy() * 100
    np.testing.assert_allclose(ours, result.conditional_volatility.to_numpy(), rtol=1e-10)
    assert np.isnan(volatility["conditional"].iloc[0])  # the first date has no return
    # the next bar's forecast is arch's one-step forecast at the last date
    ahead = result.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]
    assert volatility["forecast"].iloc[-1] * 100 == pytest.approx(np.sqrt(ahead), rel=1e-8)
    fitted = volatility.attrs["parameters"].iloc[0]
    assert fitted["alpha"] == pytest.approx(result.params["alpha[1]"])
    assert fitted["beta"] == pytest.approx(result.params["beta[1]"])


def test_expanding_fit_uses_only_the_past(spy_returns: pd.Series) -> None:
    volatility = garch_volatility(spy_returns, fit="expanding", min_observations=250, refit_every=126)
    parameters = volatility.attrs["parameters"]
    clean = spy_returns.dropna()
    assert parameters.index[0] == clean.index[249]
    assert volatility["forecast"].loc[: clean.index[248]].isna().all()
    assert volatility["forecast"].loc[clean.index[249]:].notna().all()
    # the second fit is the one arch makes on the returns up to its date
    through = parameters.index[1]
    again = fit_garch(clean.loc[:through])
    assert parameters.iloc[1]["beta"] == pytest.approx(again.beta, rel=1e-3)


def test_2008_crisis_is_high_volatility(spy_returns: pd.Series) -> None:
    labels = volatility_regime(spy_returns, min_observations=100, refit_every=63)
    crisis = labels.loc["2008-10-01":"2008-11-30"]
    assert len(crisis) > 35 and (crisis == "high").all()
    assert (labels.loc["2008-09-15":"2009-03-31"] == "high").mean() > 0.6
    calm = labels.loc["2017-01-01":"2017-12-31"]  # the calmest year of the sample
    assert (calm == "low").mean() > 0.7 and (calm == "high").sum() == 0
    assert list(labels.cat.categories) == ["low", "normal", "high"]
    with_levels = volatility_regime(spy_returns, levels=(0.12, 0.25), fit="full")
    assert (with_levels.loc["2008-10-01":"2008-11-30"] == "high").all()


def test_labels_are_causal(spy_returns: pd.Series) -> None:
    cut = pd.Timestamp("2010-06-30")
    changed = spy_returns.copy()
    after = changed.index > cut
    changed[after] = np.random.default_rng(0).normal(0.0, 0.04, after.sum())  # a very different future
    original = volatility_regime(spy_returns, min_observations=100, refit_every=63)
    altered = volatility_regime(changed, min_observations=100, refit_every=63)
    pd.testing.assert_series_equal(original.loc[:cut], altered.loc[:cut])
    assert not original.loc[cut:].equals(altered.loc[cut:])  # the change did reach the later labels


def test_trend_regime_on_constructed_series() -> None:
    dates = pd.bdate_range("2020-01-01", periods=900)
    rising = 100 * 1.002 ** np.arange(300)
    falling = rising[-1] * 0.998 ** np.arange(1, 301)
    flat = np.full(300, falling[-1])
    prices = pd.Series(np.concatenate([rising, falling, flat]), index=dates)
    labels = trend_regime(prices, window=50, band=0.02, slope_window=10)
    assert labels.iloc[:59].isna().all() and labels.iloc[59:].notna().all()
    assert (labels.iloc[60:300] == "up").all()
    assert (labels.iloc[340:600] == "down").all()  # after the average has turned
    assert (labels.iloc[700:] == "sideways").all()
    # a sharp rebound after a long fall: the price is above the average but the average still falls
    rebound = pd.Series(np.r_[100 * 0.995 ** np.arange(100), 100 * 0.995**99 * 1.2], index=dates[:101])
    average = rebound.rolling(50).mean()
    assert rebound.iloc[-1] > 1.02 * average.iloc[-1] and average.iloc[-1] < average.iloc[-11]
    assert trend_regime(rebound, window=50, slope_window=10).iloc[-1] == "sideways"
    with pytest.raises(QuantDeskError, match="band -0.1"):
        trend_regime(prices, band=-0.1)


def test_score_by_regime_splits_daily_ic() -> None:
    times = pd.date_range("2021-01-04", periods=8, freq="D", tz="UTC")
    ic = xr.DataArray(
        [[0.1, 0.2, 0.3, np.nan, 0.5, 0.6, 0.7, 0.8], [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]],
        dims=("factor", "time"),
        coords={"factor": ["f", "g"], "time": times.tz_localize(None) + pd.Timedelta(hours=21)},
    )
    labels = pd.Series(
        pd.Categorical(
            ["low", "low", "high", "high", "low", None, "high", "low"], categories=["low", "normal", "high"]
        ),
        index=times.tz_convert("America/New_York"),  # a different time zone: matched by calendar day
    )
    table = score_by_regime(ic, labels)
    low = [0.1, 0.2, 0.5, 0.8]
    assert table.loc[("f", "low"), "mean"] == pytest.approx(np.mean(low))
    assert table.loc[("f", "low"), "std"] == pytest.approx(np.std(low, ddof=1))
    assert table.loc[("f", "low"), "ir"] == pytest.approx(np.mean(low) / np.std(low, ddof=1))
    assert table.loc[("f", "high"), "dates"] == 2  # 0.3, 0.7; the NaN date is not counted
    assert table.loc[("g", "high"), "mean"] == pytest.approx(1 / 3)
    assert ("f", "normal") not in table.index
    scores = xr.Dataset({"rank_ic": ic.expand_dims(horizon=[5]).transpose("factor", "horizon", "time")})
    pd.testing.assert_frame_equal(score_by_regime(scores, labels, horizon=5), table, check_like=True)
    with pytest.raises(QuantDeskError, match="No scored date has a regime label"):
        score_by_regime(ic, labels.set_axis(labels.index + pd.Timedelta(days=400)))


def test_bad_regime_parameters(spy_returns: pd.Series) -> None:
    with pytest.raises(QuantDeskError, match="fit 'rolling' is not known"):
        garch_volatility(spy_returns, fit="rolling")
    with pytest.raises(QuantDeskError, match="Only 50 returns"):
        garch_volatility(spy_returns.iloc[:51], fit="full")
    # a history shorter than the warm-up has no label yet, like the first dates of a long one
    short = volatility_regime(spy_returns.iloc[:120])
    assert len(short) == 120 and short.isna().all()
    with pytest.raises(QuantDeskError, match="min_observations 50"):
        garch_volatility(spy_returns, min_observations=50)
    with pytest.raises(QuantDeskError, match=r"quantiles \(0.8, 0.2\)"):
        volatility_regime(spy_returns, quantiles=(0.8, 0.2), fit="full")
