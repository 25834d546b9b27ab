"""The built-in factor library's contract, on synthetic panels and hand computations.

Every registered variant is checked for: purity (inputs unchanged), causality (changing the
data from bar t on leaves every value before t unchanged), warm-up (NaN exactly until the
window holds enough observations, finite from there on clean data, against a table written
here from each factor's definition), missing assets (an all-NaN column gives an all-NaN
column and leaves the others as they are; a late listing warms up from its first bar) and
errors a user can cause. Numbers against independent references on real data are in
``tests/integration/test_factor_references.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.factors import kernels
from quantdesk.factors.panel import INPUTS, SERIES, arrays, assemble, synthetic_panel
from quantdesk.factors.registry import Variant, get_factor, registry

DAYS = 700
ASSETS = 4
MACRO_SERIES = ("rates", "inflation", "vix")
FACTOR_NAMES = sorted(registry())


def _panel_data(seed: int) -> dict[str, np.ndarray]:
    """Return a synthetic panel's arrays with simulated rates, inflation and VIX levels."""
    data = arrays(synthetic_panel(ASSETS, DAYS, seed=seed))
    rng = np.random.default_rng(seed + 100)
    data["rates"] = 2.0 + np.cumsum(rng.normal(0.0, 0.03, DAYS))
    # A monthly print carried forward, as the panel carries one.
    data["inflation"] = 250.0 + np.repeat(np.cumsum(rng.normal(0.2, 0.2, DAYS // 21 + 1)), 21)[:DAYS]
    data["vix"] = 15.0 * np.exp(0.3 * np.cumsum(rng.normal(0.0, 0.05, DAYS)))
    return data


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return _panel_data(seed=11)


@pytest.fixture(scope="module")
def other_data() -> dict[str, np.ndarray]:
    out = _panel_data(seed=12)
    out["returns"][::7] = 0.0  # some flat days, so zero_return_fraction sees the change too
    return out


def _variants(name: str) -> list[Variant]:
    return get_factor(name).variants()


def _same(first: np.ndarray, second: np.ndarray) -> bool:
    """Return whether two arrays hold the same numbers and NaN in the same places."""
    return first.shape == second.shape and np.array_equal(first, second, equal_nan=True)


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


def test_registry_holds_the_families_at_the_planned_scale() -> None:
    counts = Counter()
    for entry in registry().values():
        counts[entry.family] += len(entry.variants())
    assert set(counts) == {"momentum", "volatility", "liquidity", "technical", "cross_asset", "macro"}
    assert counts["technical"] >= 200
    assert 740 <= sum(counts.values()) <= 780  # the scale target: about 760 variants
    assert len({variant.label for entry in registry().values() for variant in entry.variants()}) == sum(counts.values())


def test_every_factor_documents_itself_and_declares_known_inputs() -> None:
    for entry in registry().values():
        assert entry.doc.startswith("Return "), entry.name  # numpydoc, imperative mood
        assert set(entry.inputs) <= set(INPUTS) | set(SERIES), entry.name
        assert set(entry.grid) <= set(entry.parameter_names()), entry.name


def test_unknown_factor_name_names_close_matches() -> None:
    with pytest.raises(QuantDeskError, match=r"Unknown factor 'rsii'.*did you mean .*rsi"):
        get_factor("rsii")
    with pytest.raises(QuantDeskError, match="garch_volatility"):
        get_factor("garch_volatilty")


# --------------------------------------------------------------------------------------
# Purity and causality
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FACTOR_NAMES)
def test_factor_is_pure_and_causal(name: str, data: dict, other_data: dict) -> None:
    copies = {key: value.copy() for key, value in data.items()}
    for variant in _variants(name):
        out = variant.compute(data)
        for key, value in data.items():
            assert _same(value, copies[key]), f"{variant.label} changed its input {key!r}"
        assert out.dtype == np.float64 and out.shape == (DAYS, ASSETS)
        assert not np.shares_memory(out, data["close"]) and not np.shares_memory(out, data["returns"])
        for cut in (300, 600):
            # Another market from bar `cut` on (a different simulated panel and series).
            changed = {key: np.concatenate([value[:cut], other_data[key][cut:]]) for key, value in data.items()}
            later = variant.compute(changed)
            assert _same(later[:cut], out[:cut]), f"{variant.label}: data from bar {cut} on changed earlier values"
            assert not _same(later, out), f"{variant.label}: the change at bar {cut} was not seen at all"


# --------------------------------------------------------------------------------------
# Warm-up: the first value of each factor, worked out from its definition
# --------------------------------------------------------------------------------------
# Row 0 has a close but no return (returns, log returns, changes and true ranges start on
# row 1). A window of n levels is full on row n - 1, a window of n changes on row n; an EMA
# or Wilder average over n inputs gives its first value on its n-th input.

WARM_UP: dict[str, Callable[..., int]] = {
    # momentum
    "momentum": lambda window: window,
    "momentum_skip": lambda window, skip: window,
    "reversal": lambda window: window,
    "risk_adjusted_momentum": lambda window: window,
    "high_proximity": lambda window: window - 1,
    "low_proximity": lambda window: window - 1,
    "trend_slope": lambda window: window - 1,
    "trend_quality": lambda window: window - 1,
    "positive_fraction": lambda window: window,
    "market_adjusted_momentum": lambda window: window,
    "momentum_acceleration": lambda window: 2 * (window // 2),
    # volatility
    "volatility": lambda window: window,
    "parkinson": lambda window: window - 1,
    "garman_klass": lambda window: window - 1,
    "rogers_satchell": lambda window: window - 1,
    "yang_zhang": lambda window: window,  # the overnight return needs the prior close
    "ewma_volatility": lambda span: span,
    "downside_volatility": lambda window: window,
    "upside_volatility": lambda window: window,
    "volatility_ratio": lambda short, long: long,
    "garch_volatility": lambda fit_observations: fit_observations,  # the last return of the fitting sample
    # liquidity
    "amihud": lambda window: window,
    "turnover": lambda window, baseline: baseline - 1,
    "dollar_volume": lambda window: window - 1,
    "volume_zscore": lambda window: window - 1,
    "log_volume_zscore": lambda window: window - 1,
    "roll_spread": lambda window: window + 1,  # pairs (r_t, r_{t-1}) start on row 2
    "corwin_schultz": lambda window: window,
    "zero_return_fraction": lambda window: window,
    "volume_variation": lambda window: window - 1,
    "volume_return_correlation": lambda window: window,
    # cross-asset and macro
    "beta": lambda window, benchmark: window,
    "correlation": lambda window, benchmark: window,
    "idiosyncratic_volatility": lambda window, benchmark: window,
    "alpha": lambda window, benchmark: window,
    "downside_beta": lambda window, benchmark: window,
    "relative_strength": lambda window, benchmark: window,
    "macro_beta": lambda window, series: window,
    "macro_correlation": lambda window, series: window,
    # technical
    "rsi": lambda window: window,
    "stochastic_rsi": lambda window: 2 * window - 1,
    "stochastic_k": lambda window: window - 1,
    "stochastic_d": lambda window, smooth: window + smooth - 2,
    "williams_r": lambda window: window - 1,
    "cci": lambda window: window - 1,
    "mfi": lambda window: window,
    "cmo": lambda window: window,
    "ultimate_oscillator": lambda short, medium, long: long,
    "tsi": lambda slow, fast: slow + fast - 1,
    "macd": lambda fast, slow: slow - 1,
    "macd_signal": lambda fast, slow, signal: slow + signal - 2,
    "macd_histogram": lambda fast, slow, signal: slow + signal - 2,
    "ppo": lambda fast, slow: slow - 1,
    "ppo_signal": lambda fast, slow, signal: slow + signal - 2,
    "ppo_histogram": lambda fast, slow, signal: slow + signal - 2,
    "pvo": lambda fast, slow: slow - 1,
    "ema_crossover": lambda fast, slow: slow - 1,
    "sma_crossover": lambda fast, slow: slow - 1,
    "price_to_sma": lambda window: window - 1,
    "price_to_ema": lambda window: window - 1,
    "dema_distance": lambda window: 2 * (window - 1),
    "tema_distance": lambda window: 3 * (window - 1),
    "kama_distance": lambda window: window,
    "trix": lambda window: 3 * (window - 1) + 1,
    "plus_di": lambda window: window,
    "minus_di": lambda window: window,
    "adx": lambda window: 2 * window - 1,
    "aroon_up": lambda window: window,
    "aroon_down": lambda window: window,
    "aroon_oscillator": lambda window: window,
    "vortex": lambda window: window,
    "bollinger_percent_b": lambda window: window - 1,
    "bollinger_bandwidth": lambda window: window - 1,
    "keltner_percent_b": lambda window, atr_window: max(window - 1, atr_window),
    "atr": lambda window: window,
    "natr": lambda window: window,
    "donchian_width": lambda window: window - 1,
    "ulcer_index": lambda window: 2 * window - 2,
    "mass_index": lambda slow: 2 * (9 - 1) + slow - 1,
    "obv": lambda: 1,
    "obv_oscillator": lambda window: window,
    "chaikin_money_flow": lambda window: window - 1,
    "close_location": lambda window: window - 1,
    "vwap_distance": lambda window: window - 1,
    "bull_power": lambda window: window - 1,
    "bear_power": lambda window: window - 1,
    "skewness": lambda window: window,
    "kurtosis": lambda window: window,
    "return_autocorrelation": lambda window: window + 1,
}


def test_warm_up_table_covers_every_factor() -> None:
    assert set(WARM_UP) == set(FACTOR_NAMES)


@pytest.mark.parametrize("name", FACTOR_NAMES)
def test_values_start_exactly_when_the_window_is_full(name: str, data: dict) -> None:
    for variant in _variants(name):
        first = WARM_UP[name](**dict(variant.parameters))
        out = variant.compute(data)
        assert np.isnan(out[:first]).all(), f"{variant.label}: a value before row {first}"
        assert np.isfinite(out[first:]).all(), f"{variant.label}: a NaN from row {first} on, on clean data"


# --------------------------------------------------------------------------------------
# Missing assets
# --------------------------------------------------------------------------------------

LISTING = 150  # the late asset's first bar


@pytest.fixture(scope="module")
def gappy(data: dict) -> dict[str, np.ndarray]:
    """Return the panel with asset 1 listed at row LISTING and asset 2 never present."""
    out = {key: value.copy() for key, value in data.items()}
    for key in INPUTS:
        out[key][:LISTING, 1] = np.nan
        out[key][:, 2] = np.nan
    out["returns"][LISTING, 1] = np.nan  # no return on the listing day: no prior close
    return out


@pytest.mark.parametrize("name", FACTOR_NAMES)
def test_missing_asset_gives_nan_and_leaves_the_others_alone(name: str, data: dict, gappy: dict) -> None:
    healthy = [0, 3]
    only_healthy = {key: value[:, healthy] if value.ndim == 2 else value for key, value in gappy.items()}
    listed = {key: value[LISTING:, 1:2] if value.ndim == 2 else value[LISTING:] for key, value in gappy.items()}
    for variant in _variants(name):
        out = variant.compute(gappy)
        assert np.isnan(out[:, 2]).all(), f"{variant.label}: values for an asset without data"
        assert _same(out[:, healthy], variant.compute(only_healthy)), f"{variant.label}: other columns changed"
        assert np.isnan(out[:LISTING, 1]).all(), f"{variant.label}: values before the listing"
        # Listed late, the asset warms up from its first bar as if its history began there.
        np.testing.assert_allclose(out[LISTING:, 1], variant.compute(listed)[:, 0], rtol=1e-9, atol=1e-12,
                                   err_msg=variant.label)


# --------------------------------------------------------------------------------------
# The missing-value rule, by hand
# --------------------------------------------------------------------------------------


def _column(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def test_a_window_holding_a_missing_value_is_nan_until_it_leaves() -> None:
    x = _column([1, 2, 3, np.nan, 5, 6, 7, 8])
    expected = [np.nan, np.nan, 2.0, np.nan, np.nan, np.nan, 6.0, 7.0]
    np.testing.assert_array_equal(kernels.rolling_mean(x, 3)[:, 0], expected)
    highest = [np.nan, np.nan, 3, np.nan, np.nan, np.nan, 7, 8]
    np.testing.assert_array_equal(kernels.rolling_extremum(x, 3, True)[:, 0], highest)
    # pandas' rolling with its default min_periods=window is the same rule.
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)))
    frame.iloc[[5, 17, 18, 40], [0, 1, 1, 2]] = np.nan
    frame.iloc[:25, 2] = np.nan
    values = frame.to_numpy()
    np.testing.assert_allclose(kernels.rolling_mean(values, 7), frame.rolling(7).mean(), rtol=1e-12)
    np.testing.assert_allclose(kernels.rolling_variance(values, 7, 1), frame.rolling(7).var(), rtol=1e-10)
    np.testing.assert_allclose(kernels.rolling_extremum(values, 7, False), frame.rolling(7).min(), rtol=0)
    # Infinite values count as missing.
    sums = kernels.rolling_sum(_column([1, np.inf, 1, 1, 1]), 2)[:, 0]
    np.testing.assert_array_equal(sums, [np.nan, np.nan, np.nan, 2, 2])


def test_a_recursive_average_is_seeded_by_a_simple_mean_and_restarts_after_a_gap() -> None:
    x = _column([1, 2, 3, 4, np.nan, 10, 20, 30])
    expected = [np.nan, 1.5, 2.25, 3.125, np.nan, np.nan, 15.0, 22.5]
    np.testing.assert_array_equal(kernels.exponential_average(x, 0.5, 2)[:, 0], expected)
    np.testing.assert_array_equal(kernels.cumulative_sum(_column([1, 2, np.nan, 3]))[:, 0], [1, 3, np.nan, 3])


def test_the_earliest_of_equal_extremes_sets_its_age() -> None:
    x = _column([1, 3, 3, 2, 1])
    np.testing.assert_array_equal(kernels.rolling_extremum(x, 3, True)[:, 0], [np.nan, np.nan, 3, 3, 3])
    np.testing.assert_array_equal(kernels.bars_since_extremum(x, 3, True)[:, 0], [np.nan, np.nan, 1, 2, 2])
    np.testing.assert_array_equal(kernels.bars_since_extremum(x, 3, False)[:, 0], [np.nan, np.nan, 2, 0, 0])


def test_rsi_by_hand() -> None:
    # Changes +1, -0.5, +1, -0.5; Wilder averages over 2 seeded with the first two changes.
    close = _column([10.0, 11.0, 10.5, 11.5, 11.0])
    out = get_factor("rsi").function({"close": close}, window=2)[:, 0]
    gains, losses = 0.5, 0.25
    expected = [np.nan, np.nan, 100 * gains / (gains + losses)]
    for gain, loss in ((1.0, 0.0), (0.0, 0.5)):
        gains, losses = gains + 0.5 * (gain - gains), losses + 0.5 * (loss - losses)
        expected.append(100 * gains / (gains + losses))
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(expected[2:], [200 / 3, 600 / 7, 600 / 11], rtol=1e-14)


def test_garch_forecast_follows_its_recursion() -> None:
    returns = np.array([np.nan, 0.5, -1.0, np.nan, 2.0])
    mu, omega, alpha, beta, backcast = 0.1, 0.05, 0.1, 0.85, 1.2
    variance = omega + (alpha + beta) * backcast
    expected = []
    for value in returns:
        if np.isnan(value):
            expected.append(np.nan)
            continue
        variance = omega + alpha * (value - mu) ** 2 + beta * variance
        expected.append(variance)
    np.testing.assert_allclose(kernels.garch_forecast(returns, mu, omega, alpha, beta, backcast), expected, rtol=1e-15)


def test_garch_look_ahead_option(data: dict) -> None:
    garch = get_factor("garch_volatility").function
    safe = garch(data, fit_observations=504)
    in_sample = garch(data, fit_observations=None)
    assert np.isnan(safe[:504]).all() and np.isfinite(safe[504:]).all()
    assert np.isnan(in_sample[0]).all() and np.isfinite(in_sample[1:]).all()  # no return on row 0
    short = {"returns": data["returns"][:300]}
    assert np.isnan(garch(short, fit_observations=504)).all()  # too few returns to fit


# --------------------------------------------------------------------------------------
# Errors a user can cause
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("momentum", {"window": 0}, r"window=0 must be a whole number of bars >= 1"),
        ("momentum", {"window": 2.5}, r"window=2.5 must be a whole number"),
        ("momentum", {"window": True}, r"window=True must be a whole number"),
        ("momentum_skip", {"window": 21, "skip": 21}, r"skip=21 must be less than window=21"),
        ("ema_crossover", {"fast": 50, "slow": 20}, r"fast=50 must be less than slow=20"),
        ("ultimate_oscillator", {"short": 7, "medium": 28, "long": 14}, r"medium=28 must be less than long=14"),
        ("beta", {"benchmark": "spx"}, r"benchmark='spx' is not one of market, cross_mean"),
        ("macro_beta", {"series": "vix", "change": "ratio"}, r"change='ratio' is not one of"),
        ("garch_volatility", {"fit_observations": 50}, r"fit_observations=50 must be a whole number of bars >= 100"),
    ],
)
def test_bad_parameters_name_the_value(name: str, parameters: dict, message: str, data: dict) -> None:
    with pytest.raises(QuantDeskError, match=message):
        get_factor(name).function(data, **parameters)


@pytest.mark.parametrize("name", ["macro_beta", "macro_correlation"])
def test_macro_factor_without_its_series_names_it(name: str, data: dict) -> None:
    without = {key: value for key, value in data.items() if key != "vix"}
    with pytest.raises(QuantDeskError, match=r"needs the external series 'vix', which the data does not hold.*external="):
        get_factor(name).function(without, series="vix")
    with pytest.raises(QuantDeskError, match=r"'oil'"):
        get_factor(name).function(data, series="oil")


def test_missing_input_is_named(data: dict) -> None:
    with pytest.raises(QuantDeskError, match=r"Factor 'atr' needs the input 'high'"):
        get_factor("atr").function({"low": data["low"], "close": data["close"]})
    with pytest.raises(QuantDeskError, match=r"needs 'market' as one value per bar"):
        get_factor("beta").function({"returns": data["returns"], "market": data["returns"]})


# --------------------------------------------------------------------------------------
# Two panel fixes made with the library: a missing external print was carried forward as
# NaN, and the market's last level was carried past its last bar as zero returns.
# --------------------------------------------------------------------------------------


def test_external_series_carries_the_last_print_over_a_missing_one() -> None:
    times = pd.date_range("2020-01-06", periods=5, freq="B")
    frame = pd.DataFrame({column: np.linspace(10, 11, 5) for column in INPUTS[:5]}, index=times)
    # A FRED-style series: no value on the third date (a bond-market holiday), monthly-like gaps.
    dates = pd.to_datetime(["2020-01-01", "2020-01-07", "2020-01-08", "2020-01-10"])
    rates = pd.Series([1.5, 1.6, np.nan, 1.7], index=dates)
    panel = assemble({"X": frame}, external={"rates": rates})
    np.testing.assert_array_equal(panel["rates"].to_numpy(), [1.5, 1.6, 1.6, 1.6, 1.7])


def test_market_returns_stop_at_the_market_s_last_bar() -> None:
    times = pd.date_range("2020-01-06", periods=6, freq="B")
    frame = pd.DataFrame({column: np.linspace(10, 11, 6) for column in INPUTS[:5]}, index=times)
    # The market misses the second date (a holiday of its own) and ends two dates early.
    market = pd.Series([100.0, 102.0, 101.0], index=times[[0, 2, 3]])
    panel = assemble({"X": frame}, market=market)
    np.testing.assert_allclose(panel["market"].to_numpy(), [np.nan, 0.0, 0.02, 101 / 102 - 1, np.nan, np.nan])
