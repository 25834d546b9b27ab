"""The frozen declaration of risk limits: one YAML file holds every limit and the instrument -> sector map.

A limits file looks like::

    instrument_sectors:
      AAPL.XNAS: Technology
      XOM.XNYS: Energy
    limits:
      - limit_id: book-gross
        type: gross_exposure
        hard: 10_000_000
        soft: 8_000_000
      - limit_id: technology-share
        type: concentration
        scope: sector
        target: Technology
        by: sector
        hard: 0.4

Errors in the file name its line: YAML syntax errors carry one, and a bad field is traced
back to the line of its entry through the nodes PyYAML composes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

import msgspec
from nautilus_trader.common.config import NautilusConfig

from quantdesk.config.files import describe
from quantdesk.errors import QuantDeskError

LimitType = Literal[
    "order_quantity", "order_notional", "position", "gross_exposure", "net_exposure", "concentration", "leverage",
    "daily_loss", "drawdown", "var", "expected_shortfall", "order_rate", "price_collar",
]  # fmt: skip
Scope = Literal["global", "strategy", "instrument", "sector"]

LIMIT_TYPES: tuple[str, ...] = LimitType.__args__
SCOPES: tuple[str, ...] = Scope.__args__

# What each threshold measures, for messages and the dashboard.
UNITS = {
    "order_quantity": "quantity of one order",
    "order_notional": "quantity x price of one order",
    "position": "absolute net quantity of the instrument",
    "gross_exposure": "sum of |quantity x price|",
    "net_exposure": "|sum of quantity x price|",
    "concentration": "share of gross exposure (0-1)",
    "leverage": "gross exposure / equity",
    "daily_loss": "equity lost since the day started",
    "drawdown": "fall of equity from its peak, as a share of the peak (0-1)",
    "var": "value at risk of the book",
    "expected_shortfall": "expected shortfall of the book",
    "order_rate": "orders in the sliding window",
    "price_collar": "distance of the limit price from the market",
}
# Measures of the whole book (equity, VaR): a narrower scope would need a P&L per slice.
BOOK_TYPES = ("daily_loss", "drawdown", "var", "expected_shortfall")
FRACTION_TYPES = ("concentration", "drawdown")
# Fields that only one limit type reads, so setting them elsewhere is a mistake worth naming.
TYPE_FIELDS = {
    "window_seconds": "order_rate",
    "unit": "price_collar",
    "by": "concentration",
    "minimum_gross": "concentration",
}
LIMITS_HELP = "see quantdesk.config.risk for the limits file format"


class LimitConfig(NautilusConfig, frozen=True):
    """One risk limit: what it measures, where it applies, and its warn and block levels.

    Parameters
    ----------
    limit_id : str
        Unique name of the limit (used in rejections, alerts and the audit trail).
    type : str
        One of :data:`LIMIT_TYPES`; :data:`UNITS` says what each one measures.
    scope : {"global", "strategy", "instrument", "sector"}
        Which orders the limit applies to, and which slice of the book it measures.
    target : str, optional
        The strategy id, instrument id or sector the scope names; None for ``global``.
    soft, hard : float, optional
        Warn above ``soft``, block above ``hard`` (a value equal to a level is within it).
        At least one is required; ``soft <= hard``.
    window_seconds : float, optional
        ``order_rate`` only: length of the sliding window (default 1 second).
    unit : {"bps", "percent"}, optional
        ``price_collar`` only: unit of the levels (default basis points).
    by : {"instrument", "sector"}, optional
        ``concentration`` only: measure the share of the order's instrument (default) or of its sector.
    minimum_gross : float, optional
        ``concentration`` only: apply the limit once gross exposure exceeds this (default 0),
        so the first positions of a day are not all 100% concentrated.
    description : str
        Free text for people.
    """

    limit_id: str
    type: LimitType
    scope: Scope = "global"
    target: str | None = None
    soft: float | None = None
    hard: float | None = None
    window_seconds: float | None = None
    unit: Literal["bps", "percent"] | None = None
    by: Literal["instrument", "sector"] | None = None
    minimum_gross: float | None = None
    description: str = ""

    def __hash__(self) -> int:
        return hash(self.id)

    def problem(self) -> tuple[str, str] | None:
        """Return ``(field, message)`` for the first inconsistent field, or None when the limit is sound."""
        if not self.limit_id.strip():
            return "limit_id", "limit_id is empty: give the limit a unique name"
        if self.scope == "global" and self.target is not None:
            return "target", f"a global limit has no target (got {self.target!r}): remove it or choose a scope"
        if self.scope != "global" and not self.target:
            return "target", f"scope {self.scope!r} needs a target: the {self.scope} the limit applies to"
        if self.type in BOOK_TYPES and self.scope != "global":
            return "scope", f"{self.type} limits measure the whole book: use scope global"
        if self.soft is None and self.hard is None:
            return "hard", "give a hard (block) level, a soft (warn) level, or both"
        for level in ("soft", "hard"):
            value = getattr(self, level)
            if value is not None and not (math.isfinite(value) and value >= 0):
                return level, f"{level}={value} must be a finite number of at least 0"
            if value is not None and self.type in FRACTION_TYPES and value > 1:
                return level, f"{level}={value}: {self.type} is a share between 0 and 1 (0.25 for 25%)"
        if self.soft is not None and self.hard is not None and self.soft > self.hard:
            return "soft", f"soft={self.soft} is above hard={self.hard}: the warning must come first"
        for field, owner in TYPE_FIELDS.items():
            if getattr(self, field) is not None and self.type != owner:
                return field, f"{field} applies only to {owner} limits, not {self.type}"
        if self.window_seconds is not None and not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            return "window_seconds", f"window_seconds={self.window_seconds} must be a positive number of seconds"
        if self.minimum_gross is not None and not (math.isfinite(self.minimum_gross) and self.minimum_gross >= 0):
            return "minimum_gross", f"minimum_gross={self.minimum_gross} must be a finite number of at least 0"
        return None

    def check(self) -> LimitConfig:
        """Check the limit on its own; return self so calls chain.

        Raises
        ------
        QuantDeskError
            Naming the limit and its bad field.
        """
        found = self.problem()
        if found is not None:
            raise QuantDeskError(f"Limit {self.limit_id!r}: {found[1]}")
        return self

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], source: str = "limit") -> LimitConfig:
        """Build a limit from plain data, naming any bad field."""
        try:
            limit = msgspec.convert(mapping, cls)
        except msgspec.ValidationError as error:
            raise QuantDeskError(f"Bad {source}: {describe(error)}") from None
        return limit.check()


class RiskLimitsConfig(NautilusConfig, frozen=True):
    """Every risk limit and the instrument -> sector map, as one limits file declares them.

    Parameters
    ----------
    instrument_sectors : dict of str to str
        Instrument id -> sector name; sector-scoped limits and sector concentration use it.
    limits : list of LimitConfig
        The limits; ``limit_id`` values are unique.
    """

    instrument_sectors: dict[str, str] = {}
    limits: list[LimitConfig] = []

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def sectors(self) -> frozenset[str]:
        """Return the sector names the map declares."""
        return frozenset(self.instrument_sectors.values())

    def problems(self, known_instruments: Collection[str] | None = None) -> list[tuple[tuple[Any, ...], str]]:
        """Return ``(path, message)`` for every problem; a path is like ``("limits", 2, "target")``.

        Parameters
        ----------
        known_instruments : collection of str, optional
            The instruments limits and the sector map may name; when None, the instruments of
            the sector map.
        """
        found: list[tuple[tuple[Any, ...], str]] = []
        known = set(self.instrument_sectors) if known_instruments is None else set(known_instruments)
        for instrument, sector in self.instrument_sectors.items():
            if instrument not in known:
                found.append((("instrument_sectors", instrument), f"instrument {instrument!r} of the sector map is unknown: {_known_hint(known)}"))
            if not sector.strip():
                found.append((("instrument_sectors", instrument), f"instrument {instrument!r} has an empty sector name"))
        seen: set[str] = set()
        for index, limit in enumerate(self.limits):
            label = f"limit {limit.limit_id!r}"
            problem = limit.problem()
            if problem is not None:
                found.append((("limits", index, problem[0]), f"{label}: {problem[1]}"))
                continue
            if limit.limit_id in seen:
                found.append((("limits", index, "limit_id"), f"{label} is declared twice: limit ids must be unique"))
            seen.add(limit.limit_id)
            if limit.scope == "instrument" and limit.target not in known:
                found.append((("limits", index, "target"), f"{label} names unknown instrument {limit.target!r}: {_known_hint(known)}"))
            if limit.scope == "sector" and limit.target not in self.sectors:
                sectors = ", ".join(sorted(self.sectors)) or "none (add instrument_sectors)"
                found.append((("limits", index, "target"), f"{label} names unknown sector {limit.target!r}: the sectors are {sectors}"))
        return found

    def check(self, known_instruments: Collection[str] | None = None) -> RiskLimitsConfig:
        """Check every limit and every reference; return self so calls chain.

        Raises
        ------
        QuantDeskError
            Naming the first bad limit (or sector map entry) and what to do.
        """
        found = self.problems(known_instruments)
        if found:
            raise QuantDeskError(f"Bad limits: {found[0][1]}")
        return self

    @classmethod
    def from_mapping(
        cls,
        mapping: dict[str, Any],
        source: str = "limits",
        known_instruments: Collection[str] | None = None,
    ) -> RiskLimitsConfig:
        """Build the limits from plain data (parsed YAML/JSON), naming any bad field or reference."""
        try:
            config = msgspec.convert(mapping, cls)
        except msgspec.ValidationError as error:
            raise QuantDeskError(f"Bad {source}: {describe(error)}") from None
        found = config.problems(known_instruments)
        if found:
            raise QuantDeskError(f"Bad {source}: {found[0][1]}")
        return config

    @classmethod
    def load(cls, path: str | Path, known_instruments: Collection[str] | None = None) -> RiskLimitsConfig:
        """Read a limits file (YAML, or JSON which YAML also reads), naming the line of any problem.

        Parameters
        ----------
        path : str or Path
            The limits file.
        known_instruments : collection of str, optional
            The instruments limits may name (default: those of the file's sector map).

        Raises
        ------
        QuantDeskError
            ``Limits file 'PATH', line N: ...`` for a syntax error, a bad field, an unknown
            instrument or sector, or a duplicate id; or when the file does not exist.
        """
        import yaml

        path = Path(path)
        where = f"Limits file {str(path)!r}"
        if not path.is_file():
            raise QuantDeskError(f"{where} does not exist: give the path of a YAML limits file ({LIMITS_HELP})")
        text = path.read_text()
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            raise QuantDeskError(f"{where}{_syntax(error)}: fix the syntax there") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise QuantDeskError(f"{where} must hold a mapping with instrument_sectors and limits, not {type(data).__name__}")
        try:
            config = msgspec.convert(data, cls)
        except msgspec.ValidationError as error:
            path_in_file = _error_path(str(error))
            raise QuantDeskError(f"{where}{_line(root, path_in_file)}: {describe(error)} ({LIMITS_HELP})") from None
        found = config.problems(known_instruments)
        if found:
            path_in_file, message = found[0]
            raise QuantDeskError(f"{where}{_line(root, path_in_file)}: {message}")
        return config


def _syntax(error: Any) -> str:
    """Return ``", line N: not valid YAML (...)"`` naming where PyYAML stopped and where the construct began."""
    problem, context = error.problem_mark, error.context_mark
    mark = problem or context
    line = f", line {mark.line + 1}" if mark is not None else ""
    what = error.problem or error.context or "unreadable"
    if problem is not None and context is not None and context.line != problem.line:
        what += f"; {error.context} that starts on line {context.line + 1}"
    return f"{line}: not valid YAML ({what})"


def _known_hint(known: Collection[str]) -> str:
    if not known:
        return "no instrument is known: declare it under instrument_sectors"
    shown = ", ".join(sorted(known)[:5])
    more = f" and {len(known) - 5} more" if len(known) > 5 else ""
    return f"use a known instrument id ({shown}{more})"


def _error_path(message: str) -> tuple[Any, ...]:
    """Turn msgspec's ``... - at `$.limits[3].hard``` (or a missing/unknown field of ``$.limits[3]``) into a path."""
    match = re.search(r" - at `\$(.*)`$", message)
    steps: list[Any] = []
    if match:
        for name, index, any_key in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]", match.group(1)):
            steps.append(name or (int(index) if index else any_key))
    field = re.search(r"(?:unknown|missing required) field `([^`]+)`", message)
    if field and "unknown" in message:
        steps.append(field.group(1))
    return tuple(steps)


def _line(root: Any, path: tuple[Any, ...]) -> str:
    """Return ``", line N"`` for the deepest node of ``path`` found in the composed YAML tree."""
    import yaml

    node, line = root, None
    if node is not None:
        line = node.start_mark.line + 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            if step == "...":
                # msgspec names no key for a bad mapping value: point at the first value that is not text.
                pair = next(((k, v) for k, v in node.value if v.tag != "tag:yaml.org,2002:str"), None)
            else:
                pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(step)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return f", line {line}" if line is not None else ""
