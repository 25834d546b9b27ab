"""Breach prediction: the probability that each limit's utilization reaches its hard level within the next intervals.

The data are a utilization history (time x limit, value / hard level, 1 = at the block
level) beside the book's volatility forecast and regime label per time. For each (time,
limit) :func:`breach_features` describes what is known at the close of ``t``: the
utilization, its change over the last ``trend_window`` intervals, the volatility
forecast, the regime (one column per label) and the intervals since the last breach.
:func:`breach_labels` says whether utilization reaches 1 at any of ``t + 1 .. t + horizon``.
Features use data up to ``t`` only and labels data after it only, so nothing looks ahead.

:func:`replay_history` produces such a history from prices: a fixed-weight book replayed
day by day, its daily loss, drawdown and VaR measured against the given limits.
:class:`BreachModel` fits a class-weighted scikit-learn classifier on the earlier part of
the history and is judged on the later part (:func:`train_breach_model`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantdesk.config.risk import LimitConfig
from quantdesk.errors import QuantDeskError
from quantdesk.factors.regimes import VOLATILITY_LABELS, garch_volatility, volatility_regime
from quantdesk.risk.var_backtest import rolling_var
from quantdesk.storage import write_atomically

REPLAY_TYPES = ("daily_loss", "drawdown", "var")
MODEL_KINDS = ("logistic", "gradient_boosting")
INDEX_NAMES = ["time", "limit_id"]


@dataclass(frozen=True)
class ReplayHistory:
    """What a replayed book went through, per trading day.

    Attributes
    ----------
    utilization : pandas.DataFrame
        Time x limit id: the measure at the day's close over the limit's hard level.
    volatility : pandas.Series
        GARCH(1,1) forecast of the next day's return volatility, fitted on returns up to the day.
    regime : pandas.Series
        Volatility regime label of the day (``low`` / ``normal`` / ``high``).
    returns : pandas.Series
        The book's daily return.
    """

    utilization: pd.DataFrame
    volatility: pd.Series
    regime: pd.Series
    returns: pd.Series


@dataclass(frozen=True)
class BreachDataset:
    """Features and labels per (time, limit), in time order.

    Attributes
    ----------
    features : pandas.DataFrame
        Indexed by ``(time, limit_id)``; see :func:`breach_features` for the columns.
    labels : pandas.Series
        1 when the limit breaches within ``horizon`` intervals after the row's time, else 0.
    horizon : int
        Intervals the labels look ahead.
    """

    features: pd.DataFrame
    labels: pd.Series
    horizon: int

    @property
    def times(self) -> pd.Index:
        """Return the distinct times, in order."""
        return self.features.index.get_level_values("time").unique()

    def between(self, times: pd.Index) -> BreachDataset:
        """Return the rows whose time is in ``times``."""
        keep = self.features.index.get_level_values("time").isin(times)
        return BreachDataset(self.features[keep], self.labels[keep], self.horizon)


@dataclass(frozen=True)
class BreachEvaluation:
    """Out-of-sample quality of a breach model at its alert threshold.

    Attributes
    ----------
    precision : float
        Share of alerts followed by a breach (NaN when there is no alert).
    recall : float
        Share of breaches that were alerted.
    roc_auc : float
        Area under the ROC curve of the probabilities (0.5 = no skill).
    base_rate : float
        Share of rows followed by a breach: the precision of alerting at random.
    threshold : float
    observations, breaches, alerts : int
    """

    precision: float
    recall: float
    roc_auc: float
    base_rate: float
    threshold: float
    observations: int
    breaches: int
    alerts: int


def replay_history(
    prices: pd.DataFrame,
    weights: Mapping[str, float],
    limits: Iterable[LimitConfig],
    capital: float = 1_000_000.0,
    var_window: int = 250,
    var_confidence: float = 0.99,
) -> ReplayHistory:
    """Replay a fixed-weight book through ``prices`` and measure its limits' utilization each day.

    The book holds ``capital`` spread by ``weights`` (rebalanced every day, profit and loss
    paid out rather than reinvested, as a desk with a fixed allocation runs), so its daily
    P&L is ``capital * sum(weights * asset returns)``. Measured at each close:

    * ``daily_loss``: the day's loss (0 on a winning day);
    * ``drawdown``: the fall of equity (``capital`` plus the calendar year's P&L, as the
      allocation is renewed each year) from its peak of the year, as a share of the peak;
    * ``var``: historical VaR of the next day (the ``var_window`` P&L days up to the close, see
      :func:`quantdesk.risk.var_backtest.rolling_var`).

    Volatility is the causal GARCH(1,1) forecast of
    :func:`quantdesk.factors.regimes.garch_volatility` and the regime
    :func:`quantdesk.factors.regimes.volatility_regime`, both of the book's returns.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, one column per asset, indexed by date.
    weights : mapping of str to float
        Asset -> weight (share of ``capital``; negative for a short).
    limits : iterable of LimitConfig
        Global ``daily_loss``, ``drawdown`` or ``var`` limits with a hard level.
    capital : float
        Gross amount the weights apply to.
    var_window : int
        Days of P&L behind each VaR.
    var_confidence : float
        Confidence of the VaR.

    Returns
    -------
    ReplayHistory
        Starting on the first day every limit can be measured (after ``var_window`` days).

    Raises
    ------
    QuantDeskError
        For an asset the prices lack, an unsupported limit type, a limit without a hard
        level, no limits, or too short a price history.
    """
    limits = list(limits)
    if not limits:
        raise QuantDeskError(f"No limits to replay: give daily_loss, drawdown or var limits ({', '.join(REPLAY_TYPES)})")
    for limit in limits:
        if limit.type not in REPLAY_TYPES:
            raise QuantDeskError(f"Limit {limit.limit_id!r} is of type {limit.type!r}, which a replay of returns cannot "
                                 f"measure: use one of {', '.join(REPLAY_TYPES)}")
        if limit.hard is None or limit.hard <= 0:
            raise QuantDeskError(f"Limit {limit.limit_id!r} has hard={limit.hard}: utilization needs a positive hard level")
    ids = [limit.limit_id for limit in limits]
    if len(set(ids)) < len(ids):
        raise QuantDeskError(f"Limit ids {ids} repeat: give each replayed limit a unique id")
    if not weights:
        raise QuantDeskError("weights is empty: give the book's assets and their weights, e.g. {'AAPL': 0.5, 'XOM': 0.5}")
    missing = [asset for asset in weights if asset not in prices.columns]
    if missing:
        raise QuantDeskError(f"Assets {missing} are not in the prices: choose among {', '.join(map(str, prices.columns))}")
    if not (math.isfinite(capital) and capital > 0):
        raise QuantDeskError(f"capital={capital} must be a positive amount")
    weight = pd.Series(weights, dtype="float64")
    asset_returns = prices[weight.index].pct_change(fill_method=None).iloc[1:].dropna()
    if len(asset_returns) <= var_window:
        raise QuantDeskError(f"only {len(asset_returns)} days of returns where every asset trades: the replay needs "
                             f"more than var_window={var_window}; give a longer price history")
    returns = (asset_returns @ weight).rename("returns")
    profit = capital * returns
    # the allocation starts each calendar year at ``capital``: equity is capital plus the year's P&L
    year = profit.index.year
    equity = capital + profit.groupby(year).cumsum()
    drawdown = 1.0 - equity / equity.groupby(year).cummax().clip(lower=capital)
    # rolling_var's VaR for day t + 1 uses the window up to t: it is what is known at t's close
    value_at_risk = rolling_var(profit, var_window, var_confidence)["value_at_risk"].shift(-1)
    measures = {"daily_loss": (-profit).clip(lower=0.0), "drawdown": drawdown, "var": value_at_risk}
    utilization = pd.DataFrame({limit.limit_id: measures[limit.type] / limit.hard for limit in limits})
    utilization = utilization.loc[value_at_risk.index[0]:value_at_risk.index[-2]]
    utilization.columns.name = "limit_id"
    volatility = garch_volatility(returns)["forecast"].rename("volatility")
    regime = volatility_regime(returns)
    return ReplayHistory(utilization, volatility.reindex(utilization.index), regime.reindex(utilization.index), returns)


def breach_labels(utilization: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """Return 1.0 where utilization reaches 1 within ``t + 1 .. t + horizon``, else 0.0; NaN where that is unknown.

    Parameters
    ----------
    utilization : pandas.DataFrame
        Time x limit id, value over hard level.
    horizon : int
        Intervals ahead, at least 1.

    Returns
    -------
    pandas.DataFrame
        Same shape; the last ``horizon`` rows (and windows with a missing value) are NaN.
    """
    horizon = _check_horizon(horizon)
    _check_history(utilization)
    breached = (utilization >= 1.0).astype("float64").where(utilization.notna())
    # the maximum over the next ``horizon`` rows: a rolling maximum on the reversed series, shifted one row on
    ahead = breached.iloc[::-1].rolling(horizon, min_periods=horizon).max().iloc[::-1].shift(-1)
    return ahead


def breach_features(
    utilization: pd.DataFrame,
    volatility: pd.Series | None = None,
    regime: pd.Series | None = None,
    trend_window: int = 5,
    regime_labels: Sequence[str] = VOLATILITY_LABELS,
    since_cap: int = 250,
) -> pd.DataFrame:
    """Return the features of every (time, limit) from data up to that time.

    Parameters
    ----------
    utilization : pandas.DataFrame
        Time x limit id, value over hard level.
    volatility : pandas.Series, optional
        Volatility forecast per time (e.g. GARCH one day ahead); the column is left out when None.
    regime : pandas.Series, optional
        Regime label per time; one 0/1 column per label of ``regime_labels``; left out when None.
    trend_window : int
        Intervals over which the utilization's change is measured.
    regime_labels : sequence of str
        The labels ``regime`` may hold (default those of
        :func:`quantdesk.factors.regimes.volatility_regime`).
    since_cap : int
        Intervals since the last breach are capped here, and set to it before the first one.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(time, limit_id)``, columns ``utilization``, ``trend``, ``since_breach``,
        ``volatility`` and ``regime_<label>``; rows with a missing input hold NaN.

    Raises
    ------
    QuantDeskError
        For an empty history, a regime label outside ``regime_labels`` or bad windows.
    """
    _check_history(utilization)
    if trend_window < 1 or since_cap < 1:
        raise QuantDeskError(f"trend_window={trend_window} and since_cap={since_cap} must be at least 1 interval")
    columns: dict[str, pd.DataFrame] = {
        "utilization": utilization,
        "trend": utilization - utilization.shift(trend_window),
        "since_breach": utilization.apply(lambda column: _since_breach(column.to_numpy(), since_cap)),
    }
    if volatility is not None:
        aligned = pd.Series(volatility, dtype="float64").reindex(utilization.index)
        columns["volatility"] = pd.DataFrame({limit: aligned for limit in utilization.columns})
    if regime is not None:
        aligned = pd.Series(regime).reindex(utilization.index)
        labels = aligned.dropna().astype(str)
        unknown = sorted(set(labels) - set(regime_labels))
        if unknown:
            raise QuantDeskError(f"Regime labels {unknown} are not among regime_labels {list(regime_labels)}: "
                                 "pass the labels the regime series uses")
        for label in regime_labels:
            flag = (aligned.astype(object) == label).astype("float64").where(aligned.notna())
            columns[f"regime_{label}"] = pd.DataFrame({limit: flag for limit in utilization.columns})
    frame = pd.concat({name: table.stack(future_stack=True) for name, table in columns.items()}, axis=1)
    frame.index.names = INDEX_NAMES
    return frame


def breach_dataset(
    utilization: pd.DataFrame,
    volatility: pd.Series | None = None,
    regime: pd.Series | None = None,
    horizon: int = 1,
    trend_window: int = 5,
    include_breached: bool = False,
    **options: Any,
) -> BreachDataset:
    """Pair the features of :func:`breach_features` with the labels of :func:`breach_labels`.

    Rows with a missing feature or an unknown label are dropped. Rows whose limit is
    already breached at ``t`` are dropped too unless ``include_breached``: the monitor acts
    on those, and they would let a model score well by repeating the present.

    Parameters
    ----------
    utilization, volatility, regime, trend_window, **options
        As :func:`breach_features`.
    horizon : int
        As :func:`breach_labels`.
    include_breached : bool
        Keep rows already at or above the hard level.

    Raises
    ------
    QuantDeskError
        For an empty history, or when no row is left.
    """
    features = breach_features(utilization, volatility, regime, trend_window, **options)
    labels = breach_labels(utilization, horizon).stack(future_stack=True).reindex(features.index)
    keep = features.notna().all(axis=1) & labels.notna()
    if not include_breached:
        keep &= features["utilization"] < 1.0
    if not keep.any():
        raise QuantDeskError(f"No usable row in a history of {len(utilization)} intervals: it needs more than "
                             f"trend_window + horizon = {trend_window + horizon} intervals with every input present")
    return BreachDataset(features[keep], labels[keep].astype("int64").rename("breach"), horizon)


def time_split(dataset: BreachDataset, test_fraction: float = 0.3) -> tuple[BreachDataset, BreachDataset]:
    """Split ``dataset`` into an earlier training part and a later test part, never shuffled.

    The last ``horizon`` training times are left out: their labels look into the test period.

    Raises
    ------
    QuantDeskError
        When ``test_fraction`` is outside (0, 1) or either part would be empty.
    """
    if not 0.0 < test_fraction < 1.0:
        raise QuantDeskError(f"test_fraction={test_fraction} must be between 0 and 1, e.g. 0.3")
    times = dataset.times
    first_test = int(round(len(times) * (1.0 - test_fraction)))
    train_times = times[:max(first_test - dataset.horizon, 0)]
    test_times = times[first_test:]
    if len(train_times) == 0 or len(test_times) == 0:
        raise QuantDeskError(f"{len(times)} times cannot be split with test_fraction={test_fraction} and "
                             f"horizon={dataset.horizon}: give a longer history")
    return dataset.between(train_times), dataset.between(test_times)


class BreachModel:
    """A class-weighted classifier of ``breach within the horizon`` per (time, limit).

    Breaches are rare, so the classifier weighs each class by the inverse of its frequency
    (scikit-learn's ``class_weight="balanced"``), which finds them better but inflates the
    odds it outputs by ``negatives / positives`` of the training data. :meth:`predict`
    divides that factor out again, so its outputs estimate the real probability of a breach.

    Parameters
    ----------
    kind : {"logistic", "gradient_boosting"}
        Standardized logistic regression, or histogram gradient boosting.
    threshold : float
        Probability at or above which :meth:`alerts` raises an alert, in (0, 1). Breaches
        are rare (about 1 row in 100 on a daily replay), so useful thresholds sit a few
        times above the base rate rather than near 0.5.
    random_state : int
        Seed of the gradient boosting.
    """

    def __init__(self, kind: Literal["logistic", "gradient_boosting"] = "logistic", threshold: float = 0.05,
                 random_state: int = 0) -> None:
        if kind not in MODEL_KINDS:
            raise QuantDeskError(f"Model kind {kind!r} is not known: use one of {', '.join(MODEL_KINDS)}")
        self.kind = kind
        self.threshold = _check_threshold(threshold)
        self.random_state = random_state
        self.columns: list[str] = []
        self.limit_ids: list[str] = []
        self.horizon: int | None = None
        self._odds_factor = 1.0
        self._estimator: Any = None

    def fit(self, dataset: BreachDataset) -> BreachModel:
        """Fit on ``dataset`` (its limits become the ones the model knows); return self.

        Raises
        ------
        QuantDeskError
            When the data hold no breach, or nothing but breaches.
        """
        positives = int(dataset.labels.sum())
        negatives = len(dataset.labels) - positives
        if positives == 0 or negatives == 0:
            raise QuantDeskError(f"The training data hold {positives} breaches in {len(dataset.labels)} rows: a model "
                                 "needs both outcomes; give a longer history or lower the hard levels")
        self.columns = list(dataset.features.columns)
        self.limit_ids = sorted(dataset.features.index.get_level_values("limit_id").unique())
        self.horizon = dataset.horizon
        self._odds_factor = positives / negatives
        self._estimator = self._build()
        self._estimator.fit(self._matrix(dataset.features), dataset.labels.to_numpy())
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Return the probability of a breach within the horizon for each row of ``features``.

        Parameters
        ----------
        features : pandas.DataFrame
            Rows of :func:`breach_features` (e.g. those of the latest time), indexed by
            ``limit_id`` or by ``(time, limit_id)``.

        Returns
        -------
        pandas.Series
            On the index of ``features``.

        Raises
        ------
        QuantDeskError
            When the model is not fitted, a limit id is unknown to it, a feature column is
            missing or a value is missing.
        """
        if self._estimator is None:
            raise QuantDeskError("The breach model is not fitted: call fit() or BreachModel.load(path) first")
        if len(features) == 0:
            raise QuantDeskError("No features to predict from: pass rows of breach_features()")
        missing = [column for column in self.columns if column not in features.columns]
        if missing:
            raise QuantDeskError(f"Features lack columns {missing}: build them with breach_features() as for training")
        unknown = sorted(set(_limit_ids(features)) - set(self.limit_ids))
        if unknown:
            raise QuantDeskError(f"Limits {unknown} are unknown to the breach model, trained on {self.limit_ids}: "
                                 "retrain it with their history")
        gaps = features[self.columns].isna().any(axis=1)
        if gaps.any():
            raise QuantDeskError(f"Features of {list(features.index[gaps][:3])} have missing values: "
                                 "predict once the history covers the trend window and the volatility forecast")
        weighted = self._estimator.predict_proba(self._matrix(features))[:, 1]
        odds = weighted / np.maximum(1.0 - weighted, 1e-12) * self._odds_factor
        return pd.Series(odds / (1.0 + odds), index=features.index, name="probability")

    def alerts(self, features: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
        """Return the rows whose breach probability is at or above ``threshold`` (default the model's), highest first."""
        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        probability = self.predict(features)
        flagged = probability[probability >= threshold].sort_values(ascending=False)
        table = flagged.to_frame()
        table["utilization"] = features.loc[flagged.index, "utilization"]
        return table

    def evaluate(self, dataset: BreachDataset, threshold: float | None = None) -> BreachEvaluation:
        """Return precision, recall and ROC AUC of the model on ``dataset`` (held-out data) and its base rate."""
        from sklearn.metrics import precision_score, recall_score, roc_auc_score

        threshold = self.threshold if threshold is None else _check_threshold(threshold)
        probability = self.predict(dataset.features).to_numpy()
        truth = dataset.labels.to_numpy()
        alerted = probability >= threshold
        both = len(np.unique(truth)) == 2
        return BreachEvaluation(
            precision=float(precision_score(truth, alerted, zero_division=np.nan)),
            recall=float(recall_score(truth, alerted, zero_division=np.nan)),
            roc_auc=float(roc_auc_score(truth, probability)) if both else math.nan,
            base_rate=float(truth.mean()),
            threshold=threshold,
            observations=int(truth.size),
            breaches=int(truth.sum()),
            alerts=int(alerted.sum()),
        )

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` atomically (a reader sees the old file or the new one); return the path."""
        if self._estimator is None:
            raise QuantDeskError("The breach model is not fitted: call fit() before save()")
        return write_atomically(Path(path), pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @classmethod
    def load(cls, path: str | Path) -> BreachModel:
        """Read a model :meth:`save` wrote. Load only files you trust: the format is a pickle.

        Raises
        ------
        QuantDeskError
            When the file does not exist or holds something else.
        """
        path = Path(path)
        if not path.is_file():
            raise QuantDeskError(f"Breach model file {str(path)!r} does not exist: train one and save() it there")
        try:
            with path.open("rb") as stream:
                model = pickle.load(stream)
        except Exception as error:
            raise QuantDeskError(f"Breach model file {str(path)!r} cannot be read ({error}): save the model again") from None
        if not isinstance(model, cls):
            raise QuantDeskError(f"{str(path)!r} holds a {type(model).__name__}, not a BreachModel: check the path")
        return model

    def _build(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.kind == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000))
        return HistGradientBoostingClassifier(class_weight="balanced", max_depth=3, learning_rate=0.05,
                                              max_iter=200, random_state=self.random_state)

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        """Return, per known limit, a 0/1 column and the features on that limit's rows (zero elsewhere).

        Each limit thus gets its own baseline and its own slopes in one estimator: a daily
        loss near its limit says little about tomorrow's, while a VaR near its limit stays
        there, so one shared slope would blur both.
        """
        values = features[self.columns].to_numpy(dtype="float64")
        ids = np.asarray(_limit_ids(features))
        blocks = []
        for limit_id in self.limit_ids:
            flag = (ids == limit_id).astype("float64")[:, None]
            blocks += [flag, values * flag]
        return np.hstack(blocks)


def train_breach_model(
    dataset: BreachDataset,
    test_fraction: float = 0.3,
    kind: Literal["logistic", "gradient_boosting"] = "logistic",
    threshold: float = 0.05,
) -> tuple[BreachModel, BreachEvaluation]:
    """Fit a :class:`BreachModel` on the earlier part of ``dataset`` and evaluate it on the later part.

    Parameters
    ----------
    dataset : BreachDataset
        From :func:`breach_dataset`.
    test_fraction : float
        Share of the latest times held out (see :func:`time_split`).
    kind, threshold
        As :class:`BreachModel`.

    Returns
    -------
    tuple of BreachModel and BreachEvaluation
        The model fitted on the training part, and its out-of-sample figures.
    """
    train, test = time_split(dataset, test_fraction)
    model = BreachModel(kind, threshold).fit(train)
    return model, model.evaluate(test)


def _since_breach(values: np.ndarray, cap: int) -> np.ndarray:
    """Return intervals since the latest ``value >= 1`` at or before each position, capped at ``cap``."""
    out = np.empty(values.size)
    since = cap
    for position, value in enumerate(values):
        since = 0 if value >= 1.0 else min(since + 1, cap)
        out[position] = since
    return out


def _limit_ids(features: pd.DataFrame) -> list[str]:
    index = features.index
    if "limit_id" in (index.names or []):
        return list(index.get_level_values("limit_id"))
    raise QuantDeskError("Features need a 'limit_id' index level: pass rows of breach_features()")


def _check_threshold(threshold: float) -> float:
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise QuantDeskError(f"threshold={threshold!r} must be a probability strictly between 0 and 1, e.g. 0.05")
    return float(threshold)


def _check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise QuantDeskError(f"horizon={horizon!r} must be a whole number of intervals, at least 1")
    return int(horizon)


def _check_history(utilization: pd.DataFrame) -> None:
    if not isinstance(utilization, pd.DataFrame) or utilization.empty:
        raise QuantDeskError("The utilization history is empty: give a time x limit DataFrame of value / hard level "
                             "(replay_history() builds one)")
