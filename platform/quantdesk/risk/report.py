"""What the Risk dashboard and the risk report show of a book, as plain frames.

The VaR history of a book is measured on its *hypothetical* P&L: today's exposures held
through every past day of the catalog's daily returns, the constant book on which desks
backtest a VaR model. A flat book has no P&L to test, so its history is that of a stand-in,
an index position worth the account's equity, and :attr:`BookHistory.source` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.errors import QuantDeskError
from quantdesk.risk.measures import historical_var, monte_carlo_var, parametric_var
from quantdesk.risk.monitor import MonitorSnapshot
from quantdesk.risk.var_backtest import BASEL_OBSERVATIONS, VarBacktest, backtest_var, rolling_var

if TYPE_CHECKING:
    from quantdesk.risk.breach import BreachEvaluation

FLAT_INSTRUMENT = "SPX.INDEX"  # the sample catalog's index: the stand-in for a flat book
DAILY_BARS = "1-DAY-LAST"
LIMIT_COLUMNS = ["limit_id", "type", "scope", "target", "soft", "hard", "value", "utilization", "level"]


@dataclass(frozen=True)
class BookHistory:
    """A book's exposures and the daily P&L they would have made.

    Attributes
    ----------
    exposures : pandas.Series
        Instrument id -> market value (negative when short), in the account's currency.
    returns : pandas.DataFrame
        Daily returns of those instruments (time x instrument), days where every one has a return.
    pnl : pandas.Series
        ``returns @ exposures``: the hypothetical daily P&L.
    source : str
        What was measured, for a person: the held book, or the stand-in for a flat one.
    """

    exposures: pd.Series
    returns: pd.DataFrame
    pnl: pd.Series
    source: str


def daily_closes(instrument_ids: Sequence[str], catalog: str | Path | None = None) -> pd.DataFrame:
    """Return the daily closes of ``instrument_ids`` from the catalog, one column each, in time order.

    Raises
    ------
    QuantDeskError
        Naming the instruments the catalog has no daily bars for.
    """
    from quantdesk.catalog.queries import load_bars

    return load_bars(list(instrument_ids), bar_spec=DAILY_BARS, catalog=catalog)[0].sort_index()


def daily_returns(instrument_ids: Sequence[str], catalog: str | Path | None = None) -> pd.DataFrame:
    """Return the daily close-to-close returns of ``instrument_ids`` from the catalog, one column each.

    Only days on which every instrument has a return are kept.

    Raises
    ------
    QuantDeskError
        Naming the instruments the catalog has no daily bars for.
    """
    return daily_closes(instrument_ids, catalog).pct_change(fill_method=None).dropna()


def book_history(exposures: Mapping[str, float] | pd.Series, catalog: str | Path | None = None,
                 flat_value: float = 1_000_000.0, flat_instrument: str = FLAT_INSTRUMENT,
                 returns: pd.DataFrame | None = None) -> BookHistory:
    """Return the hypothetical daily P&L of ``exposures`` (or of the flat-book stand-in) over the catalog's history.

    Parameters
    ----------
    exposures : mapping or pandas.Series
        Instrument id -> market value; zero values are dropped.
    catalog : str or Path, optional
        Catalog root (default: the configured one).
    flat_value : float
        Market value of the ``flat_instrument`` position that stands in for a flat book
        (the account's equity, typically).
    flat_instrument : str
        The stand-in instrument.
    returns : pandas.DataFrame, optional
        Daily returns of the held instruments read before (e.g. :attr:`BookHistory.returns` of
        the same instruments), so a book whose quantities move is not read from the catalog again.

    Raises
    ------
    QuantDeskError
        When a held instrument has no daily bars in the catalog.
    """
    held = pd.Series(exposures, dtype="float64")
    held = held[held != 0].sort_index()
    if held.empty:
        held = pd.Series({flat_instrument: float(flat_value)})
        source = (f"The book is flat: a {flat_value:,.0f} USD position in {flat_instrument} stands in for it, "
                  f"over the catalog's daily returns")
    else:
        source = (f"Hypothetical P&L of the current book ({', '.join(held.index)}, gross "
                  f"{held.abs().sum():,.0f} USD) over the catalog's daily returns")
    if returns is None or not set(held.index) <= set(returns.columns):
        returns = daily_returns(list(held.index), catalog)
    pnl = (returns[held.index] @ held).rename("profit_and_loss")
    return BookHistory(held, returns, pnl, source)


def var_methods(history: BookHistory, confidence: float = 0.99, horizon: int = 1, window: int | None = None,
                paths: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """Return VaR and ES of the book by the historical, parametric and Monte Carlo methods, in currency.

    Parameters
    ----------
    history : BookHistory
    confidence, horizon
        As :func:`quantdesk.risk.measures.historical_var`.
    window : int, optional
        Use only the last ``window`` days of returns (all of them when None).
    paths, seed
        Of the Monte Carlo simulation.

    Returns
    -------
    pandas.DataFrame
        Indexed by method: ``value_at_risk``, ``expected_shortfall``, ``observations``.
    """
    returns = history.returns if window is None else history.returns.iloc[-window:]
    estimates = [
        historical_var(returns, confidence, horizon, positions=history.exposures),
        parametric_var(returns, confidence, horizon, positions=history.exposures),
        monte_carlo_var(returns, confidence, horizon, positions=history.exposures, paths=paths, seed=seed),
    ]
    frame = pd.DataFrame([{"method": e.method, "value_at_risk": e.value_at_risk,
                           "expected_shortfall": e.expected_shortfall, "observations": e.observations}
                          for e in estimates])
    return frame.set_index("method")


def var_history(history: BookHistory, window: int = BASEL_OBSERVATIONS, confidence: float = 0.99,
                method: str = "historical", tested: int | None = BASEL_OBSERVATIONS) -> tuple[pd.DataFrame, VarBacktest]:
    """Return the book's one-day-ahead VaR/ES history and its Basel backtest over the last ``tested`` days.

    Returns
    -------
    tuple of pandas.DataFrame and VarBacktest
        The frame of :func:`quantdesk.risk.var_backtest.rolling_var` (``value_at_risk``,
        ``expected_shortfall``, ``profit_and_loss``, ``exception``) and the backtest of it.
    """
    frame = rolling_var(history.pnl, window, confidence, method)
    return frame, backtest_var(frame["value_at_risk"], frame["profit_and_loss"], confidence, tested)


def backtest_table(backtest: VarBacktest) -> pd.DataFrame:
    """Return the Basel backtest as a two-column table a person reads: the figure and its value."""
    light = backtest.traffic_light
    rows = [
        ("Days tested", f"{backtest.observations}"),
        ("Exceptions (loss above VaR)", f"{backtest.exceptions}"),
        ("Expected exceptions", f"{backtest.observations * (1 - light.confidence):.1f}"),
        ("Basel traffic light", light.zone),
        ("Capital multiplier", "n/a (not Basel's 99% / 250 days)" if light.multiplier is None else f"{light.multiplier:.2f}"),
        ("Kupiec (coverage) p-value", f"{backtest.kupiec.p_value:.3f}"),
        ("Christoffersen (independence) p-value", f"{backtest.independence.p_value:.3f}"),
        ("Christoffersen (conditional coverage) p-value", f"{backtest.conditional_coverage.p_value:.3f}"),
    ]
    return pd.DataFrame(rows, columns=["figure", "value"])


def limits_table(limits: Iterable[LimitConfig], statuses: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """Return every limit with its latest measured value, utilization and level.

    Parameters
    ----------
    limits : iterable of LimitConfig
        The active limits.
    statuses : iterable of mapping
        The limit statuses of a monitor snapshot (its ``limits`` in the streamed form). Limits
        that measure single orders have none: their level is ``per order``.
    """
    measured = {status["limit_id"]: status for status in statuses}
    rows = []
    for limit in limits:
        status = measured.get(limit.limit_id, {})
        rows.append({"limit_id": limit.limit_id, "type": limit.type, "scope": limit.scope, "target": limit.target,
                     "soft": limit.soft, "hard": limit.hard, "value": status.get("value"),
                     "utilization": status.get("utilization"), "level": status.get("level", "per order")})
    return pd.DataFrame(rows, columns=LIMIT_COLUMNS)


def parse_quantities(text: str) -> dict[str, float]:
    """Return ``{"AAPL.XNAS": 1000.0, "IBM.XNYS": -200.0}`` from ``"AAPL.XNAS: 1000, IBM.XNYS: -200"``; empty: a flat book.

    Raises
    ------
    QuantDeskError
        Naming an entry that is not ``INSTRUMENT: QUANTITY``.
    """
    quantities: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        instrument, colon, quantity = entry.rpartition(":")
        try:
            if not (colon and instrument.strip()):
                raise ValueError(entry)
            quantities[instrument.strip()] = quantities.get(instrument.strip(), 0.0) + float(quantity)
        except ValueError:
            raise QuantDeskError(f"Bad position {entry!r}: write INSTRUMENT: QUANTITY, e.g. 'AAPL.XNAS: 1000' "
                                 "(negative for a short), several separated by commas") from None
    return quantities


def measure_book(limits: RiskLimitsConfig, quantities: Mapping[str, float], catalog: str | Path | None = None,
                 equity: float = 1_000_000.0, confidence: float = 0.99, history_days: int = 2520) -> MonitorSnapshot:
    """Measure a book of ``quantities`` at the catalog's latest daily closes against ``limits``, as the monitor does.

    One :class:`~quantdesk.risk.monitor.RiskMonitor` cycle runs on a
    :class:`~quantdesk.risk.checks.PreTradeChecker` holding the book, with VaR/ES from the last
    ``history_days`` daily returns of the held instruments (the live node's setting); nothing
    is escalated, since no trading system is attached.

    Parameters
    ----------
    limits : RiskLimitsConfig
    quantities : mapping of str to float
        Instrument id -> signed quantity; an empty mapping is a flat book.
    catalog : str or Path, optional
    equity : float
        Account equity (leverage and the loss limits use it).
    confidence : float
        Of the VaR/ES the ``var`` and ``expected_shortfall`` limits compare with.
    history_days : int
        Daily returns behind VaR/ES.

    Returns
    -------
    MonitorSnapshot
        Stamped at the latest close.

    Raises
    ------
    QuantDeskError
        When an instrument has no daily bars, or a limit names an instrument the catalog does not hold.
    """
    from quantdesk.catalog import catalog_root, list_instruments, open_catalog
    from quantdesk.risk.checks import PreTradeChecker
    from quantdesk.risk.limits import LimitBook
    from quantdesk.risk.measures import ScenarioMatrix
    from quantdesk.risk.monitor import RiskMonitor

    known = [str(instrument.id) for instrument in list_instruments(open_catalog(catalog_root(catalog)))]
    book = LimitBook(limits, known_instruments=known)
    held = {instrument: float(quantity) for instrument, quantity in quantities.items() if quantity}
    checker = PreTradeChecker(book, equity=equity)
    # A flat book has no exposure to any return: the index's returns only let the monitor measure VaR/ES as 0.
    closes = daily_closes(list(held) or [FLAT_INSTRUMENT], catalog).dropna()
    checker.load_positions((instrument, "report", quantity, float(closes[instrument].iloc[-1]))
                           for instrument, quantity in held.items())
    scenarios = ScenarioMatrix(closes.pct_change().iloc[1:].tail(history_days))
    monitor = RiskMonitor(checker, scenarios=scenarios, confidence=confidence)
    return monitor.cycle(int(closes.index[-1].value) if held else None)


@dataclass(frozen=True)
class BreachOutlook:
    """How likely each loss limit of a book is to reach its hard level, and how well the model did out of sample.

    Attributes
    ----------
    probabilities : pandas.DataFrame
        Indexed by limit id: ``utilization`` at the latest close of the replay, ``probability``
        of reaching the hard level within ``horizon`` days, ``alert`` (probability at or above the threshold).
    evaluation : BreachEvaluation
        Precision, recall and ROC AUC on the later part of the replay the model did not see.
    as_of : pandas.Timestamp
        The latest close of the replay.
    horizon : int
        Days ahead.
    """

    probabilities: pd.DataFrame
    evaluation: BreachEvaluation
    as_of: pd.Timestamp
    horizon: int


def breach_outlook(history: BookHistory, limits: Iterable[LimitConfig], capital: float, horizon: int = 1,
                   threshold: float = 0.05, catalog: str | Path | None = None) -> BreachOutlook:
    """Estimate the chance that each daily loss, drawdown and VaR limit of a book breaches within ``horizon`` days.

    The book's weights (its exposures over ``capital``) are replayed day by day through the
    catalog's closes (:func:`quantdesk.risk.breach.replay_history`); a class-weighted logistic
    model is trained on the earlier 70% of that history and judged on the rest
    (:func:`quantdesk.risk.breach.train_breach_model`), then asked about the latest close.

    Parameters
    ----------
    history : BookHistory
        The book (or its flat-book stand-in), as :func:`book_history` returns it.
    limits : iterable of LimitConfig
        The book's limits; those of type ``daily_loss``, ``drawdown`` and ``var`` with a hard level are used.
    capital : float
        The account's equity: weights are exposures over it.
    horizon : int
        Days ahead.
    threshold : float
        Probability at or above which a limit is flagged.
    catalog : str or Path, optional

    Raises
    ------
    QuantDeskError
        When the book has no such limit, its history is too short, or its replay holds no breach to learn from.
    """
    from quantdesk.risk.breach import REPLAY_TYPES
    from quantdesk.risk.forecast import RiskForecaster
    from quantdesk.risk.limits import LimitBook

    chosen = [limit for limit in limits if limit.type in REPLAY_TYPES and limit.hard]
    if not chosen:
        raise QuantDeskError(f"No limit of type {', '.join(REPLAY_TYPES)} with a hard level: breach probabilities "
                             "are estimated for those; add one")
    closes = daily_closes(list(history.exposures.index), catalog)
    forecaster = RiskForecaster(closes, LimitBook(RiskLimitsConfig(limits=chosen)),
                                threshold=threshold, horizon=horizon)
    forecaster.refresh(history.exposures, equity=capital)
    probability = forecaster.probabilities()
    replayed = forecaster.history.utilization
    table = pd.DataFrame({"utilization": replayed.iloc[-1].reindex(probability.index), "probability": probability})
    table["alert"] = table["probability"] >= threshold
    evaluation, as_of = forecaster.evaluation, forecaster.as_of
    return BreachOutlook(table, evaluation, as_of, horizon)
