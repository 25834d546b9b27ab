"""The risk monitor's forward look: the book's volatility and regime, dynamic limits, and breach probabilities.

:class:`RiskForecaster` replays the current book (its weights, at its gross exposure) over
daily catalog prices with :func:`quantdesk.risk.breach.replay_history`. That gives the book's
GARCH volatility forecast and regime label for today, which :class:`DynamicLimits` scales
the dynamic limits by (audited), and a utilization history of the loss limits (daily loss,
drawdown, VaR) that a :class:`BreachModel` is trained on the first time (time-ordered,
judged out of sample: :attr:`RiskForecaster.evaluation`).

:meth:`RiskForecaster.refresh` is the heavy part (a replay, a GARCH fit, at first a model
fit: a second or two): run it off the trading loop, e.g. once a day or a minute.
:meth:`RiskForecaster.probabilities` is cheap and is called by the monitor every cycle with
the live utilizations appended to the replayed history, so the trend and time since the
last breach see today's values.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pandas as pd

from quantdesk.errors import QuantDeskError
from quantdesk.risk.breach import (
    REPLAY_TYPES, BreachEvaluation, BreachModel, ReplayHistory, breach_dataset, breach_features, replay_history,
    train_breach_model,
)  # fmt: skip
from quantdesk.risk.dynamic import DynamicLimits, LimitAdjustment
from quantdesk.risk.limits import LimitBook

TREND_WINDOW = 5


@dataclass(frozen=True)
class Outlook:
    """What the latest refresh found: today's volatility forecast and regime, and the limit changes it made."""

    volatility: float | None
    regime: str | None
    adjustments: tuple[LimitAdjustment, ...]
    weights: dict[str, float]


class RiskForecaster:
    """Replay the book over daily prices for its volatility, regime, dynamic limits and breach probabilities.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, one column per instrument id, indexed by date.
    book : LimitBook
        The limits: its global daily loss, drawdown and VaR limits with a hard level are the ones predicted.
    dynamic : DynamicLimits, optional
        Rules to scale limits by the forecast; limits stay as set when None.
    model : BreachModel, optional
        A fitted model; when None one is trained on the first refresh's replay.
    threshold : float
        Probability at which a breach alert is raised (used when training a model).
    horizon : int
        Days ahead a breach is predicted for (used when training a model).
    """

    def __init__(self, prices: pd.DataFrame, book: LimitBook, dynamic: DynamicLimits | None = None,
                 model: BreachModel | None = None, threshold: float = 0.05, horizon: int = 1) -> None:
        if prices.empty:
            raise QuantDeskError("No daily prices to replay the book over: give closes of the traded instruments")
        self.prices = prices.sort_index()
        self.book = book
        self.dynamic = dynamic
        self.model = model
        self.threshold = threshold
        self.horizon = horizon
        self.evaluation: BreachEvaluation | None = None
        self.outlook: Outlook | None = None
        self._history: ReplayHistory | None = None
        self._lock = threading.Lock()

    def predicted_limits(self) -> list:
        """Return the book's limits a replay can measure (global daily loss, drawdown, VaR with a hard level)."""
        return [limit for limit in self.book.limits
                if limit.type in REPLAY_TYPES and limit.scope == "global" and limit.hard]

    @property
    def history(self) -> ReplayHistory | None:
        """Return the latest replay of the book (None before the first refresh)."""
        return self._history

    @property
    def as_of(self) -> pd.Timestamp | None:
        """Return the last day of the replayed history (None before the first refresh)."""
        history = self._history
        return None if history is None else history.utilization.index[-1]

    def refresh(self, exposures: pd.Series | None = None, equity: float | None = None,
                actor: str = "dynamic-limits") -> Outlook:
        """Replay the book: ``exposures`` (instrument -> market value) of an account worth ``equity``.

        Weights are exposures over equity, so drawdowns are shares of the account, as the
        drawdown limit measures them. A flat book (or None) is replayed as an equal-weight book
        of every instrument of the prices, fully invested. Adjusts the dynamic limits to today's
        forecast and, the first time, trains the breach model. Thread-safe against :meth:`probabilities`.
        """
        from quantdesk.factors.regimes import garch_volatility, volatility_regime

        weights, capital = self._weights(exposures, equity)
        limits = self.predicted_limits()
        history = replay_history(self.prices, weights, limits, capital=capital) if limits else None
        # Today's outlook from every return up to the last close (the replay's measures stop a day earlier,
        # where the next day's VaR is still known).
        returns = (self.prices[list(weights)].pct_change(fill_method=None).iloc[1:].dropna()
                   @ pd.Series(weights)).rename("returns")
        today_volatility = _last(garch_volatility(returns)["forecast"])
        today_regime = _last(volatility_regime(returns))
        adjustments: list[LimitAdjustment] = []
        if self.dynamic is not None:
            adjustments = self.dynamic.adjust(self.book, volatility=today_volatility, regime=today_regime, actor=actor)
        if history is not None and self.model is None:
            dataset = breach_dataset(history.utilization, history.volatility, history.regime, horizon=self.horizon,
                                     trend_window=TREND_WINDOW)
            self.model, self.evaluation = train_breach_model(dataset, threshold=self.threshold)
        with self._lock:
            self._history = history
            self.outlook = Outlook(today_volatility, today_regime, tuple(adjustments), weights)
        return self.outlook

    def probabilities(self, utilization: dict[str, float] | None = None) -> pd.Series:
        """Return each predicted limit's probability of a breach within the model's horizon.

        With ``utilization`` (limit id -> the monitor's live value over the hard level) the
        prediction is for today, the live values appended to the replayed history (so the trend
        and the time since the last breach see them); without, it is as of the replay's last day.
        Empty before the first :meth:`refresh`, or when no limit can be predicted.
        """
        with self._lock:
            history, model = self._history, self.model
        if history is None or model is None:
            return pd.Series(dtype="float64", name="probability")
        known = [limit_id for limit_id in model.limit_ids if limit_id in history.utilization.columns]
        frame, volatility, regime = history.utilization[known], history.volatility, history.regime
        as_of = frame.index[-1]
        if utilization is not None:
            as_of = max(pd.Timestamp.now(tz=frame.index.tz).normalize(), as_of + pd.Timedelta(days=1))
            live = pd.DataFrame([{limit_id: utilization.get(limit_id) for limit_id in known}], index=[as_of],
                                columns=known, dtype="float64")
            # A limit the monitor does not measure (VaR without scenarios) keeps its last replayed value.
            frame = pd.concat([frame, live]).ffill()
            volatility = pd.concat([volatility, pd.Series([volatility.iloc[-1]], index=[as_of])])
            regime = pd.concat([regime, pd.Series([regime.iloc[-1]], index=[as_of])])
        features = breach_features(frame.tail(TREND_WINDOW + 260), volatility, regime, trend_window=TREND_WINDOW)
        latest = features.xs(as_of, level="time")
        return model.predict(latest[model.columns]).rename("probability")

    def _weights(self, exposures: pd.Series | None, equity: float | None) -> tuple[dict[str, float], float]:
        held = pd.Series(dtype="float64") if exposures is None else exposures[exposures.index.isin(self.prices.columns)]
        held = held[held != 0]
        gross = float(held.abs().sum())
        capital = float(equity) if equity is not None and equity > 0 else (gross or 1_000_000.0)
        if gross == 0:  # flat: forecast for an equal-weight book of what the node trades
            columns = list(self.prices.columns)
            return {column: 1.0 / len(columns) for column in columns}, capital
        return {str(name): float(value) / capital for name, value in held.items()}, capital


def _last(series: pd.Series) -> float | str | None:
    values = series.dropna()
    if values.empty:
        return None
    value = values.iloc[-1]
    return value if isinstance(value, str) else float(value)
