"""Dynamic limits: levels that scale with the volatility regime, within bounds the risk officer sets.

The officer marks a limit dynamic by giving it a rule in a dynamic-limits file, next to
the limits file (the limits file's own schema rejects fields it does not know, so the rules
have their own small frozen config)::

    tolerance: 0.01              # relative change below which a level is left alone
    rules:
      - limit_id: book-var
        rule: volatility         # multiplier = reference_volatility / forecast volatility
        reference_volatility: 0.015
        base_soft: 800_000
        base_hard: 1_000_000
        minimum_multiplier: 0.5
        maximum_multiplier: 1.0
      - limit_id: book-gross
        rule: regime             # multiplier looked up by regime label
        regime_multipliers: {low: 1.0, normal: 0.9, high: 0.6}
        base_hard: 10_000_000
        floor: 7_000_000         # absolute bounds on the hard level

One multiplier per limit scales its base soft and hard levels together, so the warning
stays below the block. The rule's base levels are scaled, never the active ones, so
adjustments do not compound; to move a dynamic limit for good, change its rule. :meth:`DynamicLimits.adjust` writes each new level through
:meth:`LimitBook.set_limit`, so every automatic change is authorized and audited; the
adjusted limit's ``description`` carries the explanation, which therefore also lands in the
audit record's ``after`` details and tells anyone reading the live limit why it stands
where it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.files import convert, read_mapping
from quantdesk.config.risk import LimitConfig
from quantdesk.errors import QuantDeskError
from quantdesk.risk.limits import LimitBook
from quantdesk.risk.measures import GarchForecast

DYNAMIC_ACTOR = "dynamic-limits"
RULES = ("volatility", "regime")
# Fields only one rule reads: setting them on the other is a mistake worth naming.
RULE_FIELDS = {"reference_volatility": "volatility", "regime_multipliers": "regime"}


class DynamicRuleConfig(NautilusConfig, frozen=True):
    """How one limit follows the market: its base levels, the scaling rule and its bounds.

    Parameters
    ----------
    limit_id : str
        The limit of the :class:`LimitBook` this rule drives.
    rule : {"volatility", "regime"}
        ``volatility``: multiplier = ``reference_volatility / forecast volatility`` (tighter
        when markets are wilder); ``regime``: ``regime_multipliers[label]``.
    base_soft, base_hard : float, optional
        Levels at a multiplier of 1. Give one for every level the limit has.
    reference_volatility : float, optional
        ``volatility`` only: the one-day volatility (0.015 for 1.5%) at which the base levels apply.
    regime_multipliers : dict of str to float, optional
        ``regime`` only: multiplier per regime label, e.g. ``{low: 1.0, normal: 0.9, high: 0.6}``
        for the labels of :func:`quantdesk.factors.regimes.volatility_regime`.
    minimum_multiplier, maximum_multiplier : float
        Bounds of the multiplier (default 0.5 and 1.0: the limit may halve, never widen).
    floor, ceiling : float, optional
        Absolute bounds on the hard level (on the soft level when the rule has no hard one);
        they narrow the multiplier bounds so both levels keep their ratio.
    """

    limit_id: str
    rule: Literal["volatility", "regime"]
    base_soft: float | None = None
    base_hard: float | None = None
    reference_volatility: float | None = None
    regime_multipliers: dict[str, float] | None = None
    minimum_multiplier: float = 0.5
    maximum_multiplier: float = 1.0
    floor: float | None = None
    ceiling: float | None = None

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def anchor(self) -> float:
        """Return the base level that ``floor`` and ``ceiling`` bound (the hard one, else the soft one)."""
        return self.base_hard if self.base_hard is not None else self.base_soft  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float]:
        """Return the multiplier bounds after the absolute floor and ceiling are applied."""
        lower, upper = self.minimum_multiplier, self.maximum_multiplier
        if self.floor is not None:
            lower = max(lower, self.floor / self.anchor)
        if self.ceiling is not None:
            upper = min(upper, self.ceiling / self.anchor)
        return lower, upper

    def check(self) -> DynamicRuleConfig:
        """Check the rule on its own; return self so calls chain.

        Raises
        ------
        QuantDeskError
            Naming the limit and its bad field.
        """
        where = f"Dynamic rule for limit {self.limit_id!r}"
        if not self.limit_id.strip():
            raise QuantDeskError("A dynamic rule has an empty limit_id: name the limit it drives")
        if self.base_soft is None and self.base_hard is None:
            raise QuantDeskError(f"{where}: give base_hard, base_soft or both (the levels at a multiplier of 1)")
        for name in ("base_soft", "base_hard", "floor", "ceiling", "reference_volatility"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise QuantDeskError(f"{where}: {name}={value} must be a positive finite number")
        if self.base_soft is not None and self.base_hard is not None and self.base_soft > self.base_hard:
            raise QuantDeskError(f"{where}: base_soft={self.base_soft} is above base_hard={self.base_hard}")
        for field, owner in RULE_FIELDS.items():
            if getattr(self, field) is not None and self.rule != owner:
                raise QuantDeskError(f"{where}: {field} applies only to rule {owner!r}, not {self.rule!r}")
        if self.rule == "volatility" and self.reference_volatility is None:
            raise QuantDeskError(f"{where}: rule 'volatility' needs reference_volatility (0.015 for 1.5% a day)")
        if self.rule == "regime":
            if not self.regime_multipliers:
                raise QuantDeskError(f"{where}: rule 'regime' needs regime_multipliers, e.g. {{low: 1.0, high: 0.6}}")
            for label, value in self.regime_multipliers.items():
                if not (math.isfinite(value) and value > 0):
                    raise QuantDeskError(f"{where}: regime {label!r} has multiplier {value}; use a positive number")
        if not (math.isfinite(self.minimum_multiplier) and 0 < self.minimum_multiplier <= self.maximum_multiplier
                and math.isfinite(self.maximum_multiplier)):
            raise QuantDeskError(f"{where}: multiplier bounds [{self.minimum_multiplier}, {self.maximum_multiplier}] "
                                 "must satisfy 0 < minimum_multiplier <= maximum_multiplier")
        lower, upper = self.bounds
        if lower > upper:
            raise QuantDeskError(f"{where}: floor={self.floor} and ceiling={self.ceiling} leave no multiplier within "
                                 f"[{self.minimum_multiplier}, {self.maximum_multiplier}] of base {self.anchor}: "
                                 "widen the bounds")
        return self


class DynamicLimitsConfig(NautilusConfig, frozen=True):
    """The dynamic rules of a limit book and the change below which no adjustment is made.

    Parameters
    ----------
    rules : list of DynamicRuleConfig
        One rule per dynamic limit; limits without a rule never change automatically.
    tolerance : float
        Relative change of a level (0.01 = 1%) at or below which the limit is left as it
        is, so small wiggles of the forecast do not flood the audit trail.
    """

    rules: list[DynamicRuleConfig] = []
    tolerance: float = 0.01

    def __hash__(self) -> int:
        return hash(self.id)

    def check(self) -> DynamicLimitsConfig:
        """Check every rule, unique limit ids and the tolerance; return self so calls chain."""
        if not (math.isfinite(self.tolerance) and 0 <= self.tolerance < 1):
            raise QuantDeskError(f"tolerance={self.tolerance} must be a relative change in [0, 1), e.g. 0.01 for 1%")
        seen: set[str] = set()
        for rule in self.rules:
            rule.check()
            if rule.limit_id in seen:
                raise QuantDeskError(f"Limit {rule.limit_id!r} has two dynamic rules: keep one")
            seen.add(rule.limit_id)
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "dynamic limits") -> DynamicLimitsConfig:
        """Build the rules from plain data (parsed YAML/JSON), naming any bad field."""
        return convert(mapping, cls, source).check()

    @classmethod
    def load(cls, path: str | Path) -> DynamicLimitsConfig:
        """Read the rules from a ``.yaml``, ``.yml`` or ``.json`` file."""
        return cls.from_mapping(read_mapping(path, "dynamic limits"), source=f"dynamic limits {str(path)!r}")


@dataclass(frozen=True)
class LimitAdjustment:
    """What a rule makes of one limit for the given market state.

    Attributes
    ----------
    limit_id : str
    multiplier : float
        After the bounds.
    before, after : LimitConfig
        The active limit and the limit the rule asks for.
    changed : bool
        Whether a level moves by more than the tolerance (only then is the limit set).
    explanation : str
        One line for people and the audit trail.
    """

    limit_id: str
    multiplier: float
    before: LimitConfig
    after: LimitConfig
    changed: bool
    explanation: str


class DynamicLimits:
    """Scale the levels of the limits that have a dynamic rule, and audit every change.

    Parameters
    ----------
    config : DynamicLimitsConfig
        The rules and the tolerance.

    Examples
    --------
    >>> dynamic = DynamicLimits(DynamicLimitsConfig.load("dynamic_limits.yaml"))  # doctest: +SKIP
    >>> forecast = garch_forecast(book_returns)  # doctest: +SKIP
    >>> dynamic.adjust(book, volatility=forecast, regime="high")  # doctest: +SKIP
    """

    def __init__(self, config: DynamicLimitsConfig) -> None:
        self.config = config.check()

    def multiplier(self, rule: DynamicRuleConfig, volatility: float | None = None,
                   regime: str | None = None) -> tuple[float, str]:
        """Return the bounded multiplier of ``rule`` and the reason for it in words.

        Raises
        ------
        QuantDeskError
            When the rule needs a volatility or regime that is missing or unusable.
        """
        lower, upper = rule.bounds
        where = f"Dynamic rule for limit {rule.limit_id!r}"
        if rule.rule == "volatility":
            if volatility is None:
                raise QuantDeskError(f"{where} scales with volatility: pass volatility= (a GARCH forecast or a number)")
            raw = rule.reference_volatility / volatility  # type: ignore[operator]
            source = f"GARCH 1-day vol {_percent(volatility)} vs reference {_percent(rule.reference_volatility)}"
        else:
            if regime is None:
                raise QuantDeskError(f"{where} follows the regime: pass regime= (one of {_labels(rule)})")
            if regime not in rule.regime_multipliers:  # type: ignore[operator]
                raise QuantDeskError(f"{where} has no multiplier for regime {regime!r}: "
                                     f"add it to regime_multipliers or pass one of {_labels(rule)}")
            raw = rule.regime_multipliers[regime]  # type: ignore[index]
            source = f"regime {regime!r} in the regime table"
        value = min(max(raw, lower), upper)
        bounds = f"[{lower:.4g}, {upper:.4g}]"
        bounded = f"within {bounds}" if value == raw else f"({raw:.2f} bounded to {bounds})"
        return value, f"{source}, multiplier {value:.2f} {bounded}"

    def plan(self, book: LimitBook, volatility: float | GarchForecast | None = None,
             regime: str | None = None) -> list[LimitAdjustment]:
        """Return what each rule would make of its limit, without changing the book.

        Parameters
        ----------
        book : LimitBook
            The active limits.
        volatility : float or GarchForecast, optional
            One-day volatility forecast of the book (0.021 for 2.1%), or the forecast of
            :func:`quantdesk.risk.measures.garch_forecast` (its first day is used). Needed by
            ``volatility`` rules.
        regime : str, optional
            Current regime label, e.g. from :func:`quantdesk.factors.regimes.volatility_regime`.
            Needed by ``regime`` rules.

        Raises
        ------
        QuantDeskError
            When a rule names a limit the book does not hold, a limit has a level its rule
            gives no base for, the volatility or regime a rule needs is missing or bad, or a
            new level is one the limit cannot take (a share above 1).
        """
        forecast = _one_day_volatility(volatility)
        adjustments = []
        active = {limit.limit_id: limit for limit in book.limits}
        for rule in self.config.rules:
            if rule.limit_id not in active:
                raise QuantDeskError(f"Dynamic rule names limit {rule.limit_id!r}, which the book does not hold: "
                                     f"the active limits are {', '.join(active) or 'none'}")
            before = active[rule.limit_id]
            for level in ("soft", "hard"):
                if getattr(before, level) is not None and getattr(rule, f"base_{level}") is None:
                    raise QuantDeskError(f"Dynamic rule for limit {rule.limit_id!r}: the limit has a {level} level but "
                                         f"the rule no base_{level}; give it so both levels scale together")
            multiplier, reason = self.multiplier(rule, forecast, regime)
            bases = {"soft": rule.base_soft, "hard": rule.base_hard}
            levels = {level: None if base is None else base * multiplier for level, base in bases.items()}
            moves = [(level, getattr(before, level), new) for level, new in levels.items()
                     if not _within(getattr(before, level), new, self.config.tolerance)]
            changes = "; ".join(f"{level} {_amount(old, new)} -> {_amount(new, old)}" for level, old, new in moves)
            explanation = f"{before.type} limit {changes or 'unchanged'}: {reason}"
            # checked here, so a level the limit type cannot take (a share above 1) stops the plan before any change
            after = msgspec.structs.replace(before, **levels, description=explanation).check() if moves else before
            adjustments.append(LimitAdjustment(rule.limit_id, multiplier, before, after, bool(moves), explanation))
        return adjustments

    def adjust(self, book: LimitBook, volatility: float | GarchForecast | None = None, regime: str | None = None,
               actor: str = DYNAMIC_ACTOR) -> list[LimitAdjustment]:
        """Set the new levels of every dynamic limit that moves by more than the tolerance.

        Each change goes through :meth:`LimitBook.set_limit` as ``actor``, so it is
        authorized and audited; limits without a rule, and changes within the tolerance,
        are left alone and leave no audit record. Parameters as :meth:`plan`.

        Returns
        -------
        list of LimitAdjustment
            One per rule, ``changed`` telling which were set.

        Raises
        ------
        QuantDeskError
            As :meth:`plan` (nothing is set then), or when the book's ``authorize`` hook
            refuses ``actor``; limits set before the refusal stay set, each audited.
        """
        adjustments = self.plan(book, volatility, regime)
        for adjustment in adjustments:
            if adjustment.changed:
                book.set_limit(adjustment.after, actor)
        return adjustments


def _one_day_volatility(volatility: float | GarchForecast | None) -> float | None:
    if isinstance(volatility, GarchForecast):
        volatility = float(volatility.volatility.iloc[0])
    if volatility is None:
        return None
    try:
        value = float(volatility)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(volatility, bool) or not (math.isfinite(value) and value > 0):
        raise QuantDeskError(f"volatility={volatility!r} must be a positive one-day volatility, e.g. 0.021 for 2.1%")
    return value


def _within(old: float | None, new: float | None, tolerance: float) -> bool:
    if old is None or new is None:
        return old is new
    return abs(new - old) <= tolerance * abs(old)


def _labels(rule: DynamicRuleConfig) -> str:
    return ", ".join(repr(label) for label in rule.regime_multipliers or {})


def _percent(value: float) -> str:
    return f"{100 * value:.2g}%" if value < 0.01 else f"{100 * value:.1f}%"


def _amount(value: float | None, other: float | None) -> str:
    """Write ``value`` compactly in the unit (k, M, B) of the larger of the pair, so ``1M -> 0.72M`` reads at a glance."""
    if value is None:
        return "none"
    size = max(abs(value), abs(other or 0.0))
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if size >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.4g}"
