"""Breach prediction: labels and features by hand without look-ahead, a time-ordered split, a real-price replay."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.risk import (
    BreachDataset, BreachModel, LimitConfig, breach_dataset, breach_features, breach_labels, replay_history, time_split,
    train_breach_model,
)  # fmt: skip

PRICES = Path(__file__).resolve().parents[3] / "shared" / "data" / "daily" / "pyportfolioopt" / "tests-stock_prices.csv.gz"
# the ten stocks of the file that trade over its whole span (1990-2018)
ASSETS = ["AAPL", "GE", "AMD", "WMT", "BAC", "T", "XOM", "BBY", "PFE", "JPM"]
CAPITAL = 1_000_000.0
LIMITS = [
    LimitConfig(limit_id="daily-loss", type="daily_loss", hard=25_000),
    LimitConfig(limit_id="drawdown", type="drawdown", hard=0.10),
    LimitConfig(limit_id="var", type="var", hard=45_000),
]

TIMES = pd.date_range("2024-01-01", periods=7, freq="D")
# limit a breaches on days 2 and 5; limit b never
TINY = pd.DataFrame({"a": [0.2, 0.5, 1.1, 0.3, 0.9, 1.0, 0.4], "b": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]}, index=TIMES)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return pd.read_csv(PRICES, parse_dates=["date"], index_col="date")


@pytest.fixture(scope="module")
def replay(prices: pd.DataFrame):
    return replay_history(prices, {asset: 0.1 for asset in ASSETS}, LIMITS, capital=CAPITAL)


@pytest.fixture(scope="module")
def dataset(replay):
    return breach_dataset(replay.utilization, replay.volatility, replay.regime)


@pytest.fixture(scope="module")
def trained(dataset):
    """The model fitted on 1991-2010 and its figures on 2010-2018, at an alert threshold of 0.05."""
    return train_breach_model(dataset, test_fraction=0.3, threshold=0.05)


@pytest.mark.parametrize(("horizon", "expected_a"), [
    (1, [0, 1, 0, 0, 1, 0, None]),  # day t asks: is day t + 1 at or above 1?
    (2, [1, 1, 0, 1, 1, None, None]),  # any of t + 1, t + 2
])  # fmt: skip
def test_labels_by_hand(horizon: int, expected_a: list) -> None:
    labels = breach_labels(TINY, horizon)
    expected = pd.Series(expected_a, index=TIMES, dtype="float64")
    pd.testing.assert_series_equal(labels["a"], expected, check_names=False)
    assert labels["b"].iloc[:-horizon].eq(0).all() and labels["b"].iloc[-horizon:].isna().all()


def test_labels_use_only_the_next_horizon_and_features_only_the_past() -> None:
    horizon, t = 2, 2
    changed = TINY.copy()
    changed.iloc[t, 0] = 0.0  # the present: not part of the label at t
    changed.iloc[t + horizon + 1:, 0] = 5.0  # beyond the horizon
    assert breach_labels(changed, horizon)["a"].iloc[t] == breach_labels(TINY, horizon)["a"].iloc[t]
    future = TINY.copy()
    future.iloc[t + 1:] = 9.0
    now = (TIMES[t], "a")
    seen = breach_features(future, trend_window=2).loc[now]
    pd.testing.assert_series_equal(seen, breach_features(TINY, trend_window=2).loc[now])


def test_features_by_hand() -> None:
    volatility = pd.Series(np.linspace(0.01, 0.02, 7), index=TIMES)
    regime = pd.Series(["low", "low", "high", "normal", "high", None, "low"], index=TIMES)
    features = breach_features(TINY, volatility, regime, trend_window=2, since_cap=3)
    a = features.xs("a", level="limit_id")
    assert list(features.columns) == ["utilization", "trend", "since_breach", "volatility",
                                      "regime_low", "regime_normal", "regime_high"]
    np.testing.assert_allclose(a["trend"].iloc[2:], [1.1 - 0.2, 0.3 - 0.5, 0.9 - 1.1, 1.0 - 0.3, 0.4 - 0.9])
    assert a["trend"].iloc[:2].isna().all()
    np.testing.assert_array_equal(a["since_breach"], [3, 3, 0, 1, 2, 0, 1])  # capped at 3 before the first breach
    np.testing.assert_array_equal(features.xs("b", level="limit_id")["since_breach"], [3] * 7)
    np.testing.assert_array_equal(a["regime_high"].iloc[:5], [0, 0, 1, 0, 1])
    assert a.loc[TIMES[5], ["regime_low", "regime_normal", "regime_high"]].isna().all()
    np.testing.assert_allclose(a["volatility"], volatility)


def test_dataset_drops_unknown_and_already_breached_rows() -> None:
    dataset = breach_dataset(TINY, horizon=1, trend_window=2)
    # rows with a trend (days 2-5; day 6 has no label) whose limit is not at or above 1 now
    kept = [(TIMES[3], "a"), (TIMES[3], "b"), (TIMES[4], "a"), (TIMES[4], "b"), (TIMES[2], "b"), (TIMES[5], "b")]
    assert sorted(dataset.features.index) == sorted(kept)
    assert dataset.labels.loc[(TIMES[4], "a")] == 1 and dataset.labels.loc[(TIMES[3], "a")] == 0
    assert len(breach_dataset(TINY, horizon=1, trend_window=2, include_breached=True).labels) == 8


def test_split_is_time_ordered_with_a_gap_of_the_horizon(dataset) -> None:
    train, test = time_split(dataset, test_fraction=0.3)
    times = dataset.times
    first_test = round(len(times) * 0.7)
    assert train.times.max() < test.times.min()
    assert test.times[0] == times[first_test] and train.times[-1] == times[first_test - 1 - dataset.horizon]
    assert (train.features.index.get_level_values("time").is_monotonic_increasing
            and test.features.index.get_level_values("time").is_monotonic_increasing)


def test_replay_measures_by_hand(prices: pd.DataFrame, replay) -> None:
    day = pd.Timestamp("2008-10-15")  # a big loss day in the crisis
    returns = prices[ASSETS].pct_change().loc[:day].dropna()
    profit = CAPITAL * returns.mean(axis=1)
    assert replay.utilization.loc[day, "daily-loss"] == pytest.approx(max(-profit.iloc[-1], 0) / 25_000)
    # 99% historical VaR over 250 days: the third-worst P&L of the window ending that day
    assert replay.utilization.loc[day, "var"] == pytest.approx(-np.sort(profit.iloc[-250:].to_numpy())[2] / 45_000)
    this_year = profit.loc[str(day.year)]
    equity = CAPITAL + this_year.cumsum()
    peak = max(equity.max(), CAPITAL)
    assert replay.utilization.loc[day, "drawdown"] == pytest.approx((1 - equity.iloc[-1] / peak) / 0.10)
    assert set(replay.regime.dropna()) <= {"low", "normal", "high"}


def test_model_on_replay_history_beats_the_base_rate(dataset, trained) -> None:
    model, evaluation = trained
    # out of sample (2010-2018): breaches the next day are rare; alerts are several times likelier to be right
    assert evaluation.breaches >= 30 and evaluation.base_rate < 0.03
    assert evaluation.roc_auc > 0.85
    assert evaluation.precision > 5 * evaluation.base_rate
    assert evaluation.recall > 0.3
    # the class weights are divided out again: average predicted probability near the training base rate
    train, _ = time_split(dataset, 0.3)
    assert model.predict(train.features).mean() == pytest.approx(train.labels.mean(), rel=0.25)


def test_predict_per_limit_and_alerts(trained, replay) -> None:
    model, _ = trained
    features = breach_features(replay.utilization, replay.volatility, replay.regime)
    day = pd.Timestamp("2008-10-09")
    latest = features.xs(day, level="time")  # indexed by limit_id alone
    probability = model.predict(latest)
    assert list(probability.index) == ["daily-loss", "drawdown", "var"]
    assert ((probability > 0) & (probability < 1)).all()
    alerts = model.alerts(latest, threshold=0.05)
    assert list(alerts.index) == list(probability[probability >= 0.05].sort_values(ascending=False).index)
    assert alerts["utilization"].tolist() == latest.loc[alerts.index, "utilization"].tolist()


def test_save_and_load_round_trip(dataset, trained, tmp_path: Path) -> None:
    model, _ = trained
    path = model.save(tmp_path / "models" / "breach.pkl")
    assert [p.name for p in path.parent.iterdir()] == ["breach.pkl"]  # no temporary file left behind
    loaded = BreachModel.load(path)
    rows = dataset.features.iloc[-30:]
    pd.testing.assert_series_equal(loaded.predict(rows), model.predict(rows))
    (tmp_path / "other.pkl").write_bytes(__import__("pickle").dumps({"not": "a model"}))
    with pytest.raises(QuantDeskError, match="holds a dict, not a BreachModel"):
        BreachModel.load(tmp_path / "other.pkl")
    with pytest.raises(QuantDeskError, match="does not exist"):
        BreachModel.load(tmp_path / "missing.pkl")


def test_gradient_boosting_fits_and_ranks(dataset) -> None:
    recent = dataset.between(dataset.times[-2500:])
    _, evaluation = train_breach_model(recent, kind="gradient_boosting")
    assert evaluation.roc_auc > 0.75


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5, -0.1])
def test_threshold_outside_the_open_unit_interval_is_named(threshold: float) -> None:
    with pytest.raises(QuantDeskError, match=f"threshold={threshold}"):
        BreachModel(threshold=threshold)


def test_bad_input_is_named(dataset, trained, prices: pd.DataFrame) -> None:
    with pytest.raises(QuantDeskError, match="utilization history is empty"):
        breach_labels(pd.DataFrame())
    with pytest.raises(QuantDeskError, match="utilization history is empty"):
        breach_dataset(pd.DataFrame(columns=["a"]))
    with pytest.raises(QuantDeskError, match="horizon=0"):
        breach_labels(TINY, 0)
    model, _ = trained
    stranger = dataset.features.iloc[:1].rename(index={"daily-loss": "gross", "drawdown": "gross", "var": "gross"})
    with pytest.raises(QuantDeskError, match=r"Limits \['gross'\] are unknown to the breach model"):
        model.predict(stranger)
    with pytest.raises(QuantDeskError, match="threshold=2"):
        model.alerts(dataset.features.iloc[:3], threshold=2)
    with pytest.raises(QuantDeskError, match="not fitted"):
        BreachModel().predict(dataset.features.iloc[:3])
    with pytest.raises(QuantDeskError, match="Regime labels \\['stressed'\\]"):
        breach_features(TINY, regime=pd.Series("stressed", index=TIMES))
    with pytest.raises(QuantDeskError, match="test_fraction=1.2"):
        time_split(dataset, 1.2)
    with pytest.raises(QuantDeskError, match="'gross' is of type 'gross_exposure'"):
        replay_history(prices, {"AAPL": 1.0}, [LimitConfig(limit_id="gross", type="gross_exposure", hard=1.0)])
    with pytest.raises(QuantDeskError, match=r"Assets \['TSLA'\] are not in the prices"):
        replay_history(prices, {"TSLA": 1.0}, LIMITS)
    with pytest.raises(QuantDeskError, match="weights is empty"):
        replay_history(prices, {}, LIMITS)
    with pytest.raises(QuantDeskError, match="repeat"):
        replay_history(prices, {"AAPL": 1.0}, [LIMITS[0], LIMITS[0]])
    with pytest.raises(QuantDeskError, match="No limits to replay"):
        replay_history(prices, {"AAPL": 1.0}, [])
    no_breach = breach_dataset(TINY[["b"]], trend_window=2)
    with pytest.raises(QuantDeskError, match="hold 0 breaches"):
        BreachModel().fit(no_breach)
    assert math.isfinite(model.evaluate(dataset.between(dataset.times[-500:])).roc_auc)


class FixedModel(BreachModel):
    """A model whose probabilities are given, to check the evaluation's arithmetic by hand."""

    def __init__(self, probabilities: list[float], threshold: float) -> None:
        super().__init__(threshold=threshold)
        self.probabilities = probabilities

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return pd.Series(self.probabilities, index=features.index)


def test_evaluation_by_hand() -> None:
    index = pd.MultiIndex.from_product([TIMES[:6], ["a"]], names=["time", "limit_id"])
    features = pd.DataFrame({"utilization": 0.5}, index=index)
    labels = pd.Series([1, 0, 1, 0, 0, 1], index=index)
    probabilities = [0.9, 0.3, 0.3, 0.1, 0.05, 0.6]
    evaluation = FixedModel(probabilities, threshold=0.3).evaluate(BreachDataset(features, labels, 1))
    # alerts at >= 0.3: rows 0, 1, 2, 5 -> 3 of 4 right, 3 of 3 breaches found
    assert (evaluation.alerts, evaluation.precision, evaluation.recall) == (4, 0.75, 1.0)
    # AUC: of the 9 (breach, calm) pairs the breach scores higher in 8, ties (0.3 vs 0.3) count a half
    assert evaluation.roc_auc == pytest.approx(8.5 / 9)
    assert evaluation.base_rate == 0.5 and evaluation.breaches == 3 and evaluation.observations == 6
