"""The live set of risk limits: loaded from one file, reloaded atomically, edited through an audited API.

A :class:`LimitBook` holds one :class:`~quantdesk.config.risk.RiskLimitsConfig` at a time.
Every change (a reload, ``set_limit``, ``remove_limit``) builds and checks a whole new
config first and swaps it in with one assignment, so readers (the pre-trade checker, the
monitor) see the old set or the new one, never a mix; a change that fails leaves the old
set active. Each change asks the ``authorize`` hook first (the place for roles) and is
written to the audit trail with the limit before and after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from quantdesk.config.risk import LimitConfig, RiskLimitsConfig
from quantdesk.errors import QuantDeskError

if TYPE_CHECKING:
    from quantdesk.risk.audit import AuditTrail

Authorize = Callable[[str, str, LimitConfig | None], bool]
"""``authorize(actor, action, limit)`` returns False (or raises QuantDeskError) to refuse a change.

``action`` is ``"set"``, ``"remove"`` or ``"reload"``; ``limit`` is the limit being set or
removed, None for a reload.
"""


class LimitBook:
    """The active risk limits, with audited edits and atomic reloads.

    Parameters
    ----------
    config : RiskLimitsConfig, optional
        The starting limits (default: none).
    known_instruments : collection of str, optional
        Instruments limits may name; when None, those of the sector map.
    audit : AuditTrail, optional
        Where limit changes are recorded; unrecorded when None.
    authorize : callable, optional
        ``authorize(actor, action, limit) -> bool``; every change is allowed when None.

    Attributes
    ----------
    version : int
        Grows by one with every change, so a reader can tell cheaply that the limits moved.

    Examples
    --------
    >>> book = LimitBook.load("limits.yaml", known_instruments=["AAPL.XNAS"])  # doctest: +SKIP
    >>> book.set_limit(LimitConfig(limit_id="aapl", type="position", scope="instrument",
    ...                            target="AAPL.XNAS", hard=5_000), actor="risk.officer")  # doctest: +SKIP
    """

    def __init__(
        self,
        config: RiskLimitsConfig | None = None,
        known_instruments: Collection[str] | None = None,
        audit: AuditTrail | None = None,
        authorize: Authorize | None = None,
    ) -> None:
        self.known_instruments = None if known_instruments is None else frozenset(known_instruments)
        self.audit = audit
        self.authorize = authorize
        self.version = 0
        self._lock = threading.Lock()
        self._config = (config or RiskLimitsConfig()).check(self.known_instruments)

    @classmethod
    def load(
        cls,
        path: str | Path,
        known_instruments: Collection[str] | None = None,
        audit: AuditTrail | None = None,
        authorize: Authorize | None = None,
    ) -> LimitBook:
        """Read a limits file into a new book (see :meth:`RiskLimitsConfig.load` for its errors)."""
        return cls(RiskLimitsConfig.load(path, known_instruments), known_instruments, audit, authorize)

    @property
    def config(self) -> RiskLimitsConfig:
        """Return the active limits and sector map (one consistent snapshot)."""
        return self._config

    @property
    def limits(self) -> list[LimitConfig]:
        """Return the active limits in declaration order."""
        return list(self._config.limits)

    def get(self, limit_id: str) -> LimitConfig:
        """Return the active limit ``limit_id``.

        Raises
        ------
        QuantDeskError
            When no active limit has that id.
        """
        for limit in self._config.limits:
            if limit.limit_id == limit_id:
                return limit
        ids = ", ".join(limit.limit_id for limit in self._config.limits) or "none"
        raise QuantDeskError(f"No limit {limit_id!r}: the active limits are {ids}")

    def reload(self, path: str | Path, actor: str = "system") -> RiskLimitsConfig:
        """Replace every limit with those of ``path``, all at once; on any error keep the active ones.

        Returns
        -------
        RiskLimitsConfig
            The new active limits.

        Raises
        ------
        QuantDeskError
            When the file is bad (the message names its line) or ``actor`` may not reload;
            the previous limits stay active.
        """
        with self._lock:
            self._allow(actor, "reload", None)
            new = RiskLimitsConfig.load(path, self.known_instruments)
            changes = _differences(self._config, new)
            if new.instrument_sectors != self._config.instrument_sectors:
                changes.append((None, {"instrument_sectors": self._config.instrument_sectors},
                                {"instrument_sectors": new.instrument_sectors}))
            self._swap(new, actor, changes, {"source": str(path)})
            return new

    def set_limit(self, limit: LimitConfig, actor: str) -> LimitConfig:
        """Add ``limit``, or replace the active limit with the same ``limit_id``.

        Raises
        ------
        QuantDeskError
            When the limit is inconsistent, names an unknown instrument or sector, or
            ``actor`` may not set it; the active limits are unchanged.
        """
        with self._lock:
            self._allow(actor, "set", limit)
            limits = list(self._config.limits)
            before = next((i for i, old in enumerate(limits) if old.limit_id == limit.limit_id), None)
            previous = None if before is None else limits[before]
            if before is None:
                limits.append(limit)
            else:
                limits[before] = limit
            new = msgspec.structs.replace(self._config, limits=limits).check(self.known_instruments)
            self._swap(new, actor, [(limit.limit_id, _plain(previous), _plain(limit))], {})
            return limit

    def remove_limit(self, limit_id: str, actor: str) -> LimitConfig:
        """Remove the active limit ``limit_id`` and return it.

        Raises
        ------
        QuantDeskError
            When there is no such limit or ``actor`` may not remove it.
        """
        with self._lock:
            removed = self.get(limit_id)
            self._allow(actor, "remove", removed)
            limits = [limit for limit in self._config.limits if limit.limit_id != limit_id]
            new = msgspec.structs.replace(self._config, limits=limits)
            self._swap(new, actor, [(limit_id, _plain(removed), None)], {})
            return removed

    def _allow(self, actor: str, action: str, limit: LimitConfig | None) -> None:
        if not isinstance(actor, str) or not actor.strip():
            raise QuantDeskError(f"actor={actor!r}: name who changes the limits (a user or service name)")
        if self.authorize is not None and not self.authorize(actor, action, limit):
            what = "the limits file" if limit is None else f"limit {limit.limit_id!r}"
            raise QuantDeskError(f"{actor!r} may not {action} {what}: ask a risk officer")

    def _swap(self, new: RiskLimitsConfig, actor: str, changes: list[tuple[str | None, Any, Any]],
              extra: dict[str, Any]) -> None:
        # Audit first: a change the trail cannot record is not made.
        if self.audit is not None and changes:
            from quantdesk.risk.audit import AuditRecord

            self.audit.append([
                AuditRecord("limit_change", actor, limit_id, {"before": before, "after": after, **extra})
                for limit_id, before, after in changes
            ])  # fmt: skip
        self._config = new
        self.version += 1


def _plain(limit: LimitConfig | None) -> dict[str, Any] | None:
    return None if limit is None else msgspec.to_builtins(limit)


def _differences(old: RiskLimitsConfig, new: RiskLimitsConfig) -> list[tuple[str | None, Any, Any]]:
    """Return ``(limit_id, before, after)`` for every limit added, removed or changed from ``old`` to ``new``."""
    before = {limit.limit_id: limit for limit in old.limits}
    after = {limit.limit_id: limit for limit in new.limits}
    changes = []
    for limit_id in [*before, *(i for i in after if i not in before)]:
        if before.get(limit_id) != after.get(limit_id):
            changes.append((limit_id, _plain(before.get(limit_id)), _plain(after.get(limit_id))))
    return changes
