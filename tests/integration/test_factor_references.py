"""The factor library against independent references on real data.

Data (``../shared/data``): SPY 2008-2017 and AAPL 2004-2018 daily OHLCV from Yahoo (the
mplfinance test files), assembled into one panel so SPY is missing before its first bar and
after its last; PyPortfolioOpt's 20 tickers of closes, NaN before each listing; the sample
catalog's daily stocks against the S&P 500; arch's real VIX, Moody's AAA yield and core CPI
as external series.

References, each computed here on the asset's own dates:

* pandas rolling computations written in this file: momentum, the volatility estimators
  (Parkinson, Garman-Klass, Rogers-Satchell and Yang-Zhang written from their published
  formulas), liquidity measures, skew and kurtosis (pandas' bias-corrected estimators, which
  the library matches), beta and correlation (pandas rolling cov/var/corr), and the EMA-based
  indicators with an EMA seeded by a simple mean (pandas ``ewm(adjust=False)`` started from
  that mean);
* the ``ta`` library (PyPI ``ta``, Bukosabino) for RSI, MACD, PPO, PVO, Bollinger, Keltner,
  ATR, stochastic, stochastic RSI, CCI, ADX/DI, Aroon, vortex, mass index, KAMA, TRIX, TSI,
  ultimate oscillator, OBV, MFI, CMF, VWAP, Donchian, ulcer index and Williams %R;
* arch's own ``conditional_volatility`` and ``forecast`` for the GARCH(1,1) factor.

Where ``ta``'s definition matches ours bar for bar we compare every bar where ``ta`` has a
value (and require our NaN exactly where the window is short). Where it differs only in how
a recursive average is started (``ta`` seeds EMAs and Wilder averages with the first value,
or counts a first true range of ``high - low``; the library seeds with the simple mean of
the first ``n`` values, as TA-Lib and Wilder do), the two differ by a term that shrinks
geometrically (by ``1 - alpha`` per bar), so we compare from the bar where it is far below
the tolerance (noted per case) and check the library exactly against the pandas form of its
own seeding rule as well.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import ta
from arch import arch_model
from arch.data import core_cpi, default, vix
from conftest import SHARED_DATA

from quantdesk.factors.panel import arrays, assemble, load_panel
from quantdesk.factors.registry import get_factor

DAILY = SHARED_DATA / "daily"
ASSETS = ("SPY", "AAPL")


def _yahoo(path: str) -> pd.DataFrame:
    frame = pd.read_csv(DAILY / "mplfinance" / path, index_col="Date", parse_dates=True)
    return frame.rename(columns=str.lower)[["open", "high", "low", "close", "volume"]].astype("float64")


@pytest.fixture(scope="module")
def stocks() -> dict:
    """SPY and AAPL in one panel (SPY as the market), with arch's real VIX, AAA yield and core CPI."""
    frames = {
        "SPY": _yahoo("yahoofinance-SPY-20080101-20180101.csv.gz"),
        "AAPL": _yahoo("yahoofinance-AAPL-20040819-20180120.csv.gz"),
    }
    external = {
        "vix": vix.load()["vix"],
        "rates": default.load()["AAA"],
        "inflation": core_cpi.load()["CPILFESL"],
    }
    panel = assemble(frames, market=frames["SPY"]["close"], external=external)
    times = pd.DatetimeIndex(panel["time"].to_numpy())
    assert set(frames["SPY"].index) <= set(frames["AAPL"].index)  # one calendar: AAPL's dates
    returns = pd.DataFrame({name: frame["close"].pct_change(fill_method=None) for name, frame in frames.items()})
    return {
        "frames": frames,
        "data": arrays(panel),
        "times": times,
        "external": external,
        # The benchmarks, computed here: SPY's own returns, and the mean return of the assets
        # present on each date.
        "market": frames["SPY"]["close"].pct_change(fill_method=None).reindex(times),
        "cross_mean": returns.reindex(times).mean(axis=1),
    }


def _ours(stocks: dict, asset: str, name: str, **parameters) -> pd.Series:
    """Return the factor's values for ``asset`` on the asset's own dates."""
    out = get_factor(name).function(stocks["data"], **parameters)
    column = ASSETS.index(asset)
    return pd.Series(out[:, column], index=stocks["times"]).reindex(stocks["frames"][asset].index)


def _assert_matches(ours: pd.Series, reference: pd.Series, start: int = 0, stop: int | None = None,
                    rtol: float = 1e-9, label: str = "") -> None:
    """Assert NaN in the same places and close values over ``[start, stop)`` (positions)."""
    mine, theirs = ours.iloc[start:stop], reference.iloc[start:stop].astype("float64")
    present = theirs.notna().to_numpy()
    assert present.sum() > 50, f"{label}: almost nothing to compare"
    assert np.array_equal(mine.notna().to_numpy(), present), f"{label}: NaN in other places"
    scale = float(np.nanmax(np.abs(theirs.to_numpy())))
    np.testing.assert_allclose(mine.to_numpy()[present], theirs.to_numpy()[present], rtol=rtol,
                               atol=max(rtol * scale, 1e-12), err_msg=label)


def _ema(series: pd.Series, span: int | None = None, alpha: float | None = None) -> pd.Series:
    """Return an EMA seeded with the simple mean of its first ``span`` values, written with pandas.

    The seed sits on the ``span``-th valid value; pandas' ``ewm(adjust=False)`` then runs
    ``e_t = (1 - alpha) e_{t-1} + alpha x_t`` from it.
    """
    window = span if span is not None else round(1 / alpha)
    alpha = alpha if alpha is not None else 2.0 / (span + 1.0)
    valid = series.dropna()
    seeded = valid.copy()
    seeded.iloc[: window - 1] = np.nan
    seeded.iloc[window - 1] = valid.iloc[:window].mean()
    return seeded.ewm(alpha=alpha, adjust=False).mean().reindex(series.index)


def _log_returns(frame: pd.DataFrame) -> pd.Series:
    return np.log(frame["close"] / frame["close"].shift(1))


def _polyfit(window: int, quality: bool) -> Callable[[np.ndarray], float]:
    def fit(values: np.ndarray) -> float:
        steps = np.arange(window)
        slope = np.polyfit(steps, values, 1)[0]
        return np.sign(slope) * np.corrcoef(steps, values)[0, 1] ** 2 if quality else slope

    return fit


def _rogers_satchell(f: pd.DataFrame) -> pd.Series:
    return np.log(f.high / f.close) * np.log(f.high / f.open) + np.log(f.low / f.close) * np.log(f.low / f.open)


def _yang_zhang(f: pd.DataFrame, n: int) -> pd.Series:
    # Yang and Zhang (2000), eq. (10): V = V_O + k V_C + (1 - k) V_RS, k = 0.34 / (1.34 + (n + 1) / (n - 1)).
    overnight = np.log(f.open / f.close.shift(1))
    open_to_close = np.log(f.close / f.open)
    rs = _rogers_satchell(f).where(overnight.notna())
    k = 0.34 / (1.34 + (n + 1) / (n - 1))
    return np.sqrt(overnight.rolling(n).var() + k * open_to_close.rolling(n).var() + (1 - k) * rs.rolling(n).mean())


def _corwin_schultz(f: pd.DataFrame, n: int) -> pd.Series:
    # Corwin and Schultz (2012), eqs. (14), (18), (19); negative two-day spreads set to 0.
    beta = np.log(f.high / f.low) ** 2 + np.log(f.high.shift(1) / f.low.shift(1)) ** 2
    gamma = np.log(np.maximum(f.high, f.high.shift(1)) / np.minimum(f.low, f.low.shift(1))) ** 2
    k = 3 - 2 * np.sqrt(2)
    alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    spread = 2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))
    return spread.clip(lower=0).rolling(n).mean()


def _beta(r: pd.Series, b: pd.Series, n: int) -> pd.Series:
    return r.rolling(n).cov(b) / b.rolling(n).var()


# name, parameters, reference(frame, returns, benchmarks) on the asset's own dates
PANDAS_CASES: list[tuple[str, dict, Callable]] = [
    ("momentum", {"window": 21}, lambda f, r, b: f.close / f.close.shift(21) - 1),
    ("momentum", {"window": 252}, lambda f, r, b: f.close / f.close.shift(252) - 1),
    ("momentum_skip", {"window": 252, "skip": 21}, lambda f, r, b: f.close.shift(21) / f.close.shift(252) - 1),
    ("reversal", {"window": 5},
     lambda f, r, b: -(np.log1p(r).rolling(5).sum() - np.log1p(b["cross_mean"]).rolling(5).sum())),
    ("risk_adjusted_momentum", {"window": 63},
     lambda f, r, b: _log_returns(f).rolling(63).mean() / _log_returns(f).rolling(63).std() * np.sqrt(63)),
    ("high_proximity", {"window": 252}, lambda f, r, b: f.close / f.close.rolling(252).max()),
    ("low_proximity", {"window": 63}, lambda f, r, b: f.close / f.close.rolling(63).min()),
    ("trend_slope", {"window": 63}, lambda f, r, b: np.log(f.close).rolling(63).apply(_polyfit(63, False), raw=True)),
    ("trend_quality", {"window": 21}, lambda f, r, b: np.log(f.close).rolling(21).apply(_polyfit(21, True), raw=True)),
    ("positive_fraction", {"window": 63}, lambda f, r, b: (r > 0).astype(float).where(r.notna()).rolling(63).mean()),
    ("market_adjusted_momentum", {"window": 126},
     lambda f, r, b: 126 * (r.rolling(126).mean() - _beta(r, b["market"], 126) * b["market"].rolling(126).mean())),
    ("momentum_acceleration", {"window": 126},
     lambda f, r, b: np.log(f.close / f.close.shift(63)) - np.log(f.close.shift(63) / f.close.shift(126))),
    ("volatility", {"window": 21}, lambda f, r, b: _log_returns(f).rolling(21).std()),
    ("parkinson", {"window": 21}, lambda f, r, b: np.sqrt((np.log(f.high / f.low) ** 2).rolling(21).mean() / (4 * np.log(2)))),
    ("garman_klass", {"window": 63}, lambda f, r, b: np.sqrt(
        (0.5 * np.log(f.high / f.low) ** 2 - (2 * np.log(2) - 1) * np.log(f.close / f.open) ** 2).rolling(63).mean())),
    ("rogers_satchell", {"window": 21}, lambda f, r, b: np.sqrt(_rogers_satchell(f).rolling(21).mean())),
    ("yang_zhang", {"window": 21}, lambda f, r, b: _yang_zhang(f, 21)),
    ("yang_zhang", {"window": 252}, lambda f, r, b: _yang_zhang(f, 252)),
    ("ewma_volatility", {"span": 42}, lambda f, r, b: np.sqrt(_ema(_log_returns(f) ** 2, span=42))),
    ("downside_volatility", {"window": 63}, lambda f, r, b: np.sqrt((_log_returns(f).clip(upper=0) ** 2).rolling(63).mean())),
    ("upside_volatility", {"window": 63}, lambda f, r, b: np.sqrt((_log_returns(f).clip(lower=0) ** 2).rolling(63).mean())),
    ("volatility_ratio", {"short": 10, "long": 126},
     lambda f, r, b: _log_returns(f).rolling(10).std() / _log_returns(f).rolling(126).std()),
    ("amihud", {"window": 21}, lambda f, r, b: (r.abs() / (f.close * f.volume)).rolling(21).mean() * 1e6),
    ("turnover", {"window": 5, "baseline": 252},
     lambda f, r, b: (f.close * f.volume).rolling(5).mean() / (f.close * f.volume).rolling(252).mean()),
    ("dollar_volume", {"window": 63}, lambda f, r, b: np.log((f.close * f.volume).rolling(63).mean())),
    ("volume_zscore", {"window": 21}, lambda f, r, b: (f.volume - f.volume.rolling(21).mean()) / f.volume.rolling(21).std()),
    ("log_volume_zscore", {"window": 63},
     lambda f, r, b: (np.log(f.volume) - np.log(f.volume).rolling(63).mean()) / np.log(f.volume).rolling(63).std()),
    ("roll_spread", {"window": 63}, lambda f, r, b: 2 * np.sqrt((-r.rolling(63).cov(r.shift(1))).clip(lower=0))),
    ("corwin_schultz", {"window": 21}, lambda f, r, b: _corwin_schultz(f, 21)),
    ("zero_return_fraction", {"window": 252}, lambda f, r, b: (r == 0).astype(float).where(r.notna()).rolling(252).mean()),
    ("volume_variation", {"window": 63}, lambda f, r, b: f.volume.rolling(63).std() / f.volume.rolling(63).mean()),
    ("volume_return_correlation", {"window": 63}, lambda f, r, b: r.abs().rolling(63).corr(np.log(f.volume))),
    ("skewness", {"window": 63}, lambda f, r, b: r.rolling(63).skew()),
    ("skewness", {"window": 252}, lambda f, r, b: r.rolling(252).skew()),
    ("kurtosis", {"window": 63}, lambda f, r, b: r.rolling(63).kurt()),
    ("kurtosis", {"window": 252}, lambda f, r, b: r.rolling(252).kurt()),
    ("return_autocorrelation", {"window": 63}, lambda f, r, b: r.rolling(63).corr(r.shift(1))),
    ("beta", {"window": 63, "benchmark": "market"}, lambda f, r, b: _beta(r, b["market"], 63)),
    ("beta", {"window": 252, "benchmark": "cross_mean"}, lambda f, r, b: _beta(r, b["cross_mean"], 252)),
    ("correlation", {"window": 126, "benchmark": "market"}, lambda f, r, b: r.rolling(126).corr(b["market"])),
    ("correlation", {"window": 63, "benchmark": "cross_mean"}, lambda f, r, b: r.rolling(63).corr(b["cross_mean"])),
    ("alpha", {"window": 126, "benchmark": "market"},
     lambda f, r, b: r.rolling(126).mean() - _beta(r, b["market"], 126) * b["market"].rolling(126).mean()),
    ("relative_strength", {"window": 126, "benchmark": "cross_mean"},
     lambda f, r, b: np.log1p(r).rolling(126).sum() - np.log1p(b["cross_mean"]).rolling(126).sum()),
    ("cmo", {"window": 14}, lambda f, r, b: 100 * (f.close.diff().clip(lower=0).rolling(14).sum()
                                                  - (-f.close.diff()).clip(lower=0).rolling(14).sum())
                                          / f.close.diff().abs().rolling(14).sum()),
    ("close_location", {"window": 10},
     lambda f, r, b: (((f.close - f.low) - (f.high - f.close)) / (f.high - f.low)).fillna(0).rolling(10).mean()),
    ("obv_oscillator", {"window": 21},
     lambda f, r, b: (np.sign(f.close.diff()) * f.volume).rolling(21).sum()
     / f.volume.where(f.close.diff().notna()).rolling(21).sum()),
    ("sma_crossover", {"fast": 10, "slow": 50}, lambda f, r, b: f.close.rolling(10).mean() / f.close.rolling(50).mean() - 1),
    ("price_to_sma", {"window": 200}, lambda f, r, b: f.close / f.close.rolling(200).mean() - 1),
    ("price_to_ema", {"window": 50}, lambda f, r, b: f.close / _ema(f.close, span=50) - 1),
    ("ema_crossover", {"fast": 5, "slow": 100}, lambda f, r, b: _ema(f.close, span=5) / _ema(f.close, span=100) - 1),
    ("dema_distance", {"window": 20},
     lambda f, r, b: f.close / (2 * _ema(f.close, span=20) - _ema(_ema(f.close, span=20), span=20)) - 1),
    ("tema_distance", {"window": 10}, lambda f, r, b: f.close / (
        3 * _ema(f.close, span=10) - 3 * _ema(_ema(f.close, span=10), span=10)
        + _ema(_ema(_ema(f.close, span=10), span=10), span=10)) - 1),
    ("bull_power", {"window": 13}, lambda f, r, b: f.high / _ema(f.close, span=13) - 1),
    ("bear_power", {"window": 26}, lambda f, r, b: f.low / _ema(f.close, span=26) - 1),
    ("rsi", {"window": 14}, lambda f, r, b: 100 * _ema(f.close.diff().clip(lower=0), alpha=1 / 14)
     / (_ema(f.close.diff().clip(lower=0), alpha=1 / 14) + _ema((-f.close.diff()).clip(lower=0), alpha=1 / 14))),
    ("atr", {"window": 14}, lambda f, r, b: _ema(pd.concat([f.high, f.close.shift(1)], axis=1).max(axis=1, skipna=False)
                                                 - pd.concat([f.low, f.close.shift(1)], axis=1).min(axis=1, skipna=False),
                                                 alpha=1 / 14)),
    ("macd_signal", {"fast": 12, "slow": 26, "signal": 9},
     lambda f, r, b: _ema(_ema(f.close, span=12) - _ema(f.close, span=26), span=9)),
    ("obv", {}, lambda f, r, b: (np.sign(f.close.diff()) * f.volume).iloc[1:].cumsum().reindex(f.index)),
]


@pytest.mark.parametrize("asset", ASSETS)
@pytest.mark.parametrize(("name", "parameters", "reference"), PANDAS_CASES,
                         ids=[f"{case[0]}-{'-'.join(map(str, case[1].values()))}" for case in PANDAS_CASES])
def test_against_pandas(stocks: dict, asset: str, name: str, parameters: dict, reference: Callable) -> None:
    frame = stocks["frames"][asset]
    returns = frame["close"].pct_change(fill_method=None)
    benchmarks = {key: stocks[key].reindex(frame.index) for key in ("market", "cross_mean")}
    expected = reference(frame, returns, benchmarks)
    _assert_matches(_ours(stocks, asset, name, **parameters), expected, rtol=1e-8, label=f"{asset} {name}{parameters}")


def test_beta_and_correlation_of_the_market_with_itself(stocks: dict) -> None:
    present = slice(63, None)
    for name, value in (("beta", 1.0), ("correlation", 1.0), ("idiosyncratic_volatility", 0.0), ("alpha", 0.0)):
        ours = _ours(stocks, "SPY", name, window=63, benchmark="market").iloc[present]
        np.testing.assert_allclose(ours, value, atol=1e-10, err_msg=name)


def test_idiosyncratic_volatility_and_downside_beta_against_least_squares(stocks: dict) -> None:
    frame = stocks["frames"]["AAPL"]
    r = frame["close"].pct_change(fill_method=None).to_numpy()
    m = stocks["market"].reindex(frame.index).to_numpy()
    idiosyncratic = _ours(stocks, "AAPL", "idiosyncratic_volatility", window=63, benchmark="market").to_numpy()
    downside = _ours(stocks, "AAPL", "downside_beta", window=126, benchmark="market").to_numpy()
    checked = 0
    for t in range(len(r)):
        rows = slice(t - 125, t + 1)
        if t < 125 or np.isnan(r[rows]).any() or np.isnan(m[rows]).any():
            assert np.isnan(downside[t])
            continue
        if t % 7:  # every seventh window keeps the loop short
            continue
        down = m[rows] < 0
        np.testing.assert_allclose(downside[t], np.polyfit(m[rows][down], r[rows][down], 1)[0], rtol=1e-8)
        last = slice(t - 62, t + 1)
        slope, intercept = np.polyfit(m[last], r[last], 1)
        residuals = r[last] - (intercept + slope * m[last])
        np.testing.assert_allclose(idiosyncratic[t], np.sqrt(residuals @ residuals / (63 - 2)), rtol=1e-8)
        checked += 1
    assert checked > 200


# name, parameters, ta expression on the asset's frame, first compared position, last (None = end)
TA_CASES: list[tuple[str, dict, Callable, int, int | None]] = [
    # Same definition and warm-up as ta: every bar.
    ("stochastic_k", {"window": 14}, lambda f: ta.momentum.StochasticOscillator(f.high, f.low, f.close, 14, 3).stoch(), 0, None),
    ("stochastic_d", {"window": 14, "smooth": 3},
     lambda f: ta.momentum.StochasticOscillator(f.high, f.low, f.close, 14, 3).stoch_signal(), 0, None),
    ("williams_r", {"window": 14}, lambda f: ta.momentum.WilliamsRIndicator(f.high, f.low, f.close, 14).williams_r(), 0, None),
    ("cci", {"window": 20}, lambda f: ta.trend.CCIIndicator(f.high, f.low, f.close, 20, 0.015).cci(), 0, None),
    ("bollinger_percent_b", {"window": 20}, lambda f: ta.volatility.BollingerBands(f.close, 20, 2).bollinger_pband(), 0, None),
    ("bollinger_bandwidth", {"window": 50}, lambda f: ta.volatility.BollingerBands(f.close, 50, 2).bollinger_wband(), 0, None),
    ("donchian_width", {"window": 20}, lambda f: ta.volatility.DonchianChannel(f.high, f.low, f.close, 20).donchian_channel_wband(), 0, None),
    ("chaikin_money_flow", {"window": 20},
     lambda f: ta.volume.ChaikinMoneyFlowIndicator(f.high, f.low, f.close, f.volume, 20).chaikin_money_flow(), 0, None),
    ("vwap_distance", {"window": 14}, lambda f: f.close / ta.volume.VolumeWeightedAveragePrice(
        f.high, f.low, f.close, f.volume, 14).volume_weighted_average_price() - 1, 0, None),
    ("aroon_up", {"window": 25}, lambda f: ta.trend.AroonIndicator(f.high, f.low, 25).aroon_up(), 0, None),
    ("aroon_down", {"window": 25}, lambda f: ta.trend.AroonIndicator(f.high, f.low, 25).aroon_down(), 0, None),
    ("aroon_oscillator", {"window": 50}, lambda f: ta.trend.AroonIndicator(f.high, f.low, 50).aroon_indicator(), 0, None),
    # ta counts bar 0 in the first window with a zero flow / no buying pressure, one bar before
    # the prior bar exists; from bar `window` (`long`) on the windows are the same.
    ("mfi", {"window": 14}, lambda f: ta.volume.MFIIndicator(f.high, f.low, f.close, f.volume, 14).money_flow_index(), 14, None),
    ("ultimate_oscillator", {"short": 7, "medium": 14, "long": 28},
     lambda f: ta.momentum.UltimateOscillator(f.high, f.low, f.close, 7, 14, 28).ultimate_oscillator(), 0, None),
    ("vortex", {"window": 14}, lambda f: ta.trend.VortexIndicator(f.high, f.low, f.close, 14).vortex_indicator_diff(), 0, None),
    # ta starts KAMA on the close of bar window - 1, as the library does; its first ratio is garbage (np.roll wraps).
    ("kama_distance", {"window": 10}, lambda f: f.close / ta.momentum.KAMAIndicator(f.close, 10, 2, 30).kama() - 1, 10, None),
    # ta's rolling high starts with fewer than `window` closes; from bar 2 window - 2 both use full windows.
    ("ulcer_index", {"window": 14}, lambda f: ta.volatility.UlcerIndex(f.close, 14).ulcer_index(), 26, None),
    # ta's Wilder sums are seeded like the library's, but it leaves +-DI at 0 on bar `window`
    # and on the last bar (its loop stops one short): compare in between.
    ("plus_di", {"window": 14}, lambda f: ta.trend.ADXIndicator(f.high, f.low, f.close, 14).adx_pos(), 15, -1),
    ("minus_di", {"window": 14}, lambda f: ta.trend.ADXIndicator(f.high, f.low, f.close, 14).adx_neg(), 15, -1),
    ("adx", {"window": 14}, lambda f: ta.trend.ADXIndicator(f.high, f.low, f.close, 14).adx(), 27, -1),
    # Recursive averages seeded differently (ta: first value, or a first true range of
    # high - low; library: simple mean of the first n). The gap shrinks by 1 - alpha per bar:
    # compared from 40 windows on, where it is below 1e-17 of the value.
    ("rsi", {"window": 14}, lambda f: ta.momentum.RSIIndicator(f.close, 14).rsi(), 560, None),
    ("rsi", {"window": 2}, lambda f: ta.momentum.RSIIndicator(f.close, 2).rsi(), 80, None),
    ("stochastic_rsi", {"window": 14}, lambda f: ta.momentum.StochRSIIndicator(f.close, 14, 3, 3).stochrsi(), 560, None),
    ("atr", {"window": 14}, lambda f: ta.volatility.AverageTrueRange(f.high, f.low, f.close, 14).average_true_range(), 560, None),
    ("natr", {"window": 20},
     lambda f: 100 * ta.volatility.AverageTrueRange(f.high, f.low, f.close, 20).average_true_range() / f.close, 800, None),
    ("macd", {"fast": 12, "slow": 26}, lambda f: ta.trend.MACD(f.close, 26, 12, 9).macd(), 1040, None),
    ("macd_signal", {"fast": 12, "slow": 26, "signal": 9}, lambda f: ta.trend.MACD(f.close, 26, 12, 9).macd_signal(), 1040, None),
    ("macd_histogram", {"fast": 12, "slow": 26, "signal": 9}, lambda f: ta.trend.MACD(f.close, 26, 12, 9).macd_diff(), 1040, None),
    ("ppo", {"fast": 12, "slow": 26}, lambda f: ta.momentum.PercentagePriceOscillator(f.close, 26, 12, 9).ppo(), 1040, None),
    ("ppo_signal", {"fast": 12, "slow": 26, "signal": 9},
     lambda f: ta.momentum.PercentagePriceOscillator(f.close, 26, 12, 9).ppo_signal(), 1040, None),
    ("ppo_histogram", {"fast": 12, "slow": 26, "signal": 9},
     lambda f: ta.momentum.PercentagePriceOscillator(f.close, 26, 12, 9).ppo_hist(), 1040, None),
    ("pvo", {"fast": 12, "slow": 26}, lambda f: ta.momentum.PercentageVolumeOscillator(f.volume, 26, 12, 9).pvo(), 1040, None),
    ("ema_crossover", {"fast": 20, "slow": 50},
     lambda f: ta.trend.EMAIndicator(f.close, 20).ema_indicator() / ta.trend.EMAIndicator(f.close, 50).ema_indicator() - 1,
     2000, None),
    ("trix", {"window": 15}, lambda f: ta.trend.TRIXIndicator(f.close, 15).trix(), 1200, None),
    ("tsi", {"slow": 25, "fast": 13}, lambda f: ta.momentum.TSIIndicator(f.close, 25, 13).tsi(), 1000, None),
    ("mass_index", {"slow": 25}, lambda f: ta.trend.MassIndex(f.high, f.low, 9, 25).mass_index(), 400, None),
    ("keltner_percent_b", {"window": 20, "atr_window": 10}, lambda f: ta.volatility.KeltnerChannel(
        f.high, f.low, f.close, 20, 10, original_version=False).keltner_channel_pband(), 800, None),
]


@pytest.mark.parametrize("asset", ASSETS)
@pytest.mark.parametrize(("name", "parameters", "indicator", "start", "stop"), TA_CASES,
                         ids=[f"{case[0]}-{'-'.join(map(str, case[1].values()))}" for case in TA_CASES])
def test_against_ta(stocks: dict, asset: str, name: str, parameters: dict, indicator: Callable, start: int,
                    stop: int | None) -> None:
    frame = stocks["frames"][asset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ta divides by zero in its own warm-up
        expected = indicator(frame).astype("float64")
    expected.index = frame.index
    ours = _ours(stocks, asset, name, **parameters)
    _assert_matches(ours, expected, start=start, stop=stop, rtol=1e-8, label=f"{asset} {name}{parameters} vs ta")
    # From its first value on, the library has a value on every bar (this data has no gaps);
    # where that first value falls is checked against each definition in the unit tests.
    values = ours.to_numpy()
    assert np.isfinite(values[np.argmax(np.isfinite(values)):]).all()


def test_obv_moves_as_ta_s(stocks: dict) -> None:
    # ta starts OBV with the first bar's volume and adds the volume on an unchanged close;
    # the library starts at the first change and adds nothing then. Every up or down bar
    # moves both by the same signed volume.
    for asset in ASSETS:
        frame = stocks["frames"][asset]
        ours = _ours(stocks, asset, "obv")
        theirs = pd.Series(ta.volume.OnBalanceVolumeIndicator(frame.close, frame.volume).on_balance_volume().to_numpy(),
                           index=frame.index)
        moved = (frame.close.diff() != 0) & frame.close.diff().notna()
        moved.iloc[1] = False  # the library's first value is the first move itself
        np.testing.assert_allclose(ours.diff()[moved], theirs.diff()[moved], rtol=1e-12)
        assert np.isnan(ours.iloc[0]) and ours.iloc[1:].notna().all()


@pytest.mark.parametrize("series", ["vix", "rates", "inflation"])
@pytest.mark.parametrize("window", [63, 252])
def test_macro_sensitivity_against_pandas(stocks: dict, series: str, window: int) -> None:
    times = stocks["times"]
    level = stocks["external"][series].dropna().sort_index().reindex(times, method="ffill")
    change = level.diff()
    for asset in ASSETS:
        frame = stocks["frames"][asset]
        returns = frame["close"].pct_change(fill_method=None)
        moves = change.reindex(frame.index)
        expected_beta = returns.rolling(window).cov(moves) / moves.rolling(window).var()
        # pandas leaves tiny nonzero variances where a monthly series did not move in the
        # window; the library reports NaN there ("does not vary"), so drop those windows.
        flat = moves.rolling(window).apply(lambda x: np.all(x == 0), raw=True) == 1
        expected_beta[flat] = np.nan
        expected_correlation = returns.rolling(window).corr(moves).where(~flat)
        label = f"{asset} {series} {window}"
        ours_beta = _ours(stocks, asset, "macro_beta", window=window, series=series)
        _assert_matches(ours_beta, expected_beta, rtol=1e-7, label=label)
        _assert_matches(_ours(stocks, asset, "macro_correlation", window=window, series=series), expected_correlation,
                        rtol=1e-7, label=label)


# --------------------------------------------------------------------------------------
# GARCH(1,1) against arch
# --------------------------------------------------------------------------------------


def _arch_fit(returns: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")


@pytest.mark.parametrize("asset", ASSETS)
def test_garch_against_arch(stocks: dict, asset: str) -> None:
    frame = stocks["frames"][asset]
    returns = 100 * frame["close"].pct_change(fill_method=None).to_numpy()[1:]  # percent, as fitted

    whole = _arch_fit(returns)
    expected = np.append(whole.conditional_volatility[1:], np.sqrt(whole.forecast(horizon=1).variance.to_numpy()[-1, 0]))
    ours = _ours(stocks, asset, "garch_volatility", fit_observations=None).to_numpy()
    assert np.isnan(ours[0])
    np.testing.assert_allclose(ours[1:], expected / 100, rtol=1e-7)

    # Out of sample: fitted on the first 504 returns, the same parameters filter the rest.
    early = _arch_fit(returns[:504])
    fixed = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(early.params)
    ours = _ours(stocks, asset, "garch_volatility", fit_observations=504).to_numpy()
    assert np.isnan(ours[:504]).all()  # row 504 holds the 504th return, the last of the fit
    np.testing.assert_allclose(ours[504:-1], fixed.conditional_volatility[504:] / 100, rtol=1e-7)


# --------------------------------------------------------------------------------------
# Missing assets on real data: 20 tickers, NaN before each listing
# --------------------------------------------------------------------------------------

CLOSE_CASES: list[tuple[str, dict, Callable]] = [
    ("momentum", {"window": 63}, lambda c: c / c.shift(63) - 1),
    ("volatility", {"window": 21}, lambda c: np.log(c / c.shift(1)).rolling(21).std()),
    ("rsi", {"window": 14}, lambda c: 100 * _ema(c.diff().clip(lower=0), alpha=1 / 14)
     / (_ema(c.diff().clip(lower=0), alpha=1 / 14) + _ema((-c.diff()).clip(lower=0), alpha=1 / 14))),
    ("ema_crossover", {"fast": 10, "slow": 50}, lambda c: _ema(c, span=10) / _ema(c, span=50) - 1),
    ("bollinger_percent_b", {"window": 20},
     lambda c: (c - c.rolling(20).mean() + 2 * c.rolling(20).std(ddof=0)) / (4 * c.rolling(20).std(ddof=0))),
    ("high_proximity", {"window": 252}, lambda c: c / c.rolling(252).max()),
    ("trend_slope", {"window": 21}, lambda c: np.log(c).rolling(21).apply(_polyfit(21, False), raw=True)),
]


@pytest.fixture(scope="module")
def listed_closes() -> pd.DataFrame:
    closes = pd.read_csv(DAILY / "pyportfolioopt" / "tests-stock_prices.csv.gz", index_col="date", parse_dates=True)
    assert closes.iloc[0].isna().sum() >= 5  # several tickers listed later (FB, BABA, GM, MA, ...)
    return closes.astype("float64")


@pytest.mark.parametrize(("name", "parameters", "reference"), CLOSE_CASES, ids=[case[0] for case in CLOSE_CASES])
def test_late_listings_warm_up_from_their_first_bar(listed_closes: pd.DataFrame, name: str, parameters: dict,
                                                    reference: Callable) -> None:
    closes = listed_closes
    out = get_factor(name).function({"close": closes.to_numpy()}, **parameters)
    for column, ticker in enumerate(closes.columns):
        own = closes[ticker].dropna()
        ours = pd.Series(out[:, column], index=closes.index)
        assert ours.loc[: own.index[0]].iloc[:-1].isna().all(), ticker  # nothing before the listing
        _assert_matches(ours.loc[own.index[0]:], reference(own), rtol=1e-8, label=f"{ticker} {name}")
    # ta's RSI on each listed history, from 40 windows after the listing (its seed differs).
    rsi = get_factor("rsi").function({"close": closes.to_numpy()}, window=14)
    for column, ticker in enumerate(closes.columns):
        own = closes[ticker].dropna()
        theirs = ta.momentum.RSIIndicator(own, 14).rsi()
        _assert_matches(pd.Series(rsi[:, column], index=closes.index).loc[own.index[0]:], theirs, start=560,
                        rtol=1e-8, label=f"{ticker} rsi vs ta")


# --------------------------------------------------------------------------------------
# The sample catalog
# --------------------------------------------------------------------------------------


def test_sample_catalog_panel_against_pandas(catalog_root) -> None:
    from quantdesk.catalog import bars_frame, open_catalog

    universe = ["AAPL.XNAS", "IBM.XNYS", "MSFT.XNAS", "FB.XNAS"]
    loaded = load_panel(universe, catalog=catalog_root)
    assert not loaded.problems
    data = arrays(loaded.panel)
    times = pd.DatetimeIndex(loaded.panel["time"].to_numpy())
    catalog = open_catalog(catalog_root)
    spx = bars_frame(catalog, "SPX.INDEX-1-DAY-LAST-EXTERNAL")["close"]
    spx.index = spx.index.tz_convert("UTC").tz_localize(None)
    beta = get_factor("beta").function(data, window=126, benchmark="market")
    parkinson = get_factor("parkinson").function(data, window=21)
    for column, asset in enumerate(universe):
        frame = bars_frame(catalog, f"{asset}-1-DAY-LAST-EXTERNAL")
        frame.index = frame.index.tz_convert("UTC").tz_localize(None)
        returns = frame["close"].pct_change(fill_method=None)
        market = spx.pct_change(fill_method=None).reindex(frame.index)
        assert set(frame.index) <= set(spx.index)  # the stocks trade on the index's dates
        ours_beta = pd.Series(beta[:, column], index=times).reindex(frame.index)
        ours_parkinson = pd.Series(parkinson[:, column], index=times).reindex(frame.index)
        _assert_matches(ours_beta, _beta(returns, market, 126), rtol=1e-8, label=f"{asset} beta")
        expected = np.sqrt((np.log(frame["high"] / frame["low"]) ** 2).rolling(21).mean() / (4 * np.log(2)))
        _assert_matches(ours_parkinson, expected, rtol=1e-8, label=f"{asset} parkinson")
        # Dates of the panel where this asset has no bar (FB before its 2012 listing) are NaN.
        absent = ~times.isin(frame.index)
        assert np.isnan(beta[absent, column]).all() and np.isnan(parkinson[absent, column]).all()
    assert np.isnan(beta[:, universe.index("FB.XNAS")]).mean() > 0.5  # listed in 2012, history from 2000
