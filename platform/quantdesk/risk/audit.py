"""Append-only audit trail of risk events in the platform store, exportable as CSV and JSON.

Each record says when (``ts_event``, nanoseconds since the epoch), what (``kind``: one of
:data:`AUDIT_KINDS`), who (``actor``), which limit (``limit_id``, may be empty) and the rest
as a JSON ``details`` object. The store refuses to change or remove a stored record: the
class offers no update or delete, and triggers in the database (SQLite and PostgreSQL)
abort any UPDATE or DELETE that reaches the table by another road.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import DDL, BigInteger, Column, Engine, Index, Integer, String, Table, Text, event, select

from quantdesk.errors import QuantDeskError
from quantdesk.store.database import METADATA, engine, translate_errors
from quantdesk.store.trades import _nanoseconds
from quantdesk.storage import write_atomically

AUDIT_KINDS = ("limit_change", "breach", "rejection", "escalation", "reset")
COLUMNS = ["sequence", "ts_event", "kind", "actor", "limit_id", "details"]

# SQLite only auto-numbers a column declared exactly INTEGER PRIMARY KEY.
_SEQUENCE = BigInteger().with_variant(Integer, "sqlite")

RISK_AUDIT = Table(
    "risk_audit",
    METADATA,
    Column("sequence", _SEQUENCE, primary_key=True, autoincrement=True),
    Column("ts_event", BigInteger, nullable=False),
    Column("kind", String, nullable=False),
    Column("actor", String, nullable=False),
    Column("limit_id", String, nullable=True),
    Column("details", Text, nullable=False),
    Index("ix_risk_audit_ts_event", "ts_event"),
    Index("ix_risk_audit_limit_id", "limit_id"),
)

_REFUSAL = "risk_audit is append-only: records cannot be changed or removed"
for _statement in ("UPDATE", "DELETE"):
    event.listen(RISK_AUDIT, "after_create", DDL(
        f"CREATE TRIGGER risk_audit_no_{_statement.lower()} BEFORE {_statement} ON risk_audit "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"
    ).execute_if(dialect="sqlite"))  # fmt: skip
event.listen(RISK_AUDIT, "after_create", DDL(
    "CREATE OR REPLACE FUNCTION risk_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END $$"
).execute_if(dialect="postgresql"))  # fmt: skip
event.listen(RISK_AUDIT, "after_create", DDL(
    "CREATE TRIGGER risk_audit_no_change BEFORE UPDATE OR DELETE ON risk_audit "
    "FOR EACH ROW EXECUTE FUNCTION risk_audit_refuse()"
).execute_if(dialect="postgresql"))  # fmt: skip
event.listen(RISK_AUDIT, "after_create", DDL(
    "CREATE TRIGGER risk_audit_no_truncate BEFORE TRUNCATE ON risk_audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION risk_audit_refuse()"
).execute_if(dialect="postgresql"))  # fmt: skip


@dataclass(frozen=True)
class AuditRecord:
    """One audit event before it is stored.

    Attributes
    ----------
    kind : str
        One of :data:`AUDIT_KINDS`.
    actor : str
        Who caused it: a user, ``"pre-trade"`` for the order checks, ``"monitor"``, ...
    limit_id : str or None
        The limit concerned, if any.
    details : dict
        JSON-ready facts: before/after of a change, value and threshold of a breach, the order.
    ts_event : int
        Nanoseconds since the epoch; the time of creation when not given.
    """

    kind: str
    actor: str
    limit_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ts_event: int = field(default_factory=time.time_ns)


class AuditTrail:
    """Append-only store of risk audit records (SQLite file by default, PostgreSQL by URL).

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL of the store; default ``QUANTDESK_STORE_URL`` or ``<catalog>/quantdesk.sqlite``.

    Raises
    ------
    QuantDeskError
        When the store cannot be reached or created.
    """

    def __init__(self, url: str | None = None) -> None:
        self._engine: Engine = engine(url)
        # The engine may have been created before this module registered its table.
        with translate_errors(self._engine):
            RISK_AUDIT.create(self._engine, checkfirst=True)

    @property
    def url(self) -> str:
        """Return the store's URL with the password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def record(self, kind: str, actor: str, limit_id: str | None = None, details: dict[str, Any] | None = None,
               ts_event: int | None = None) -> None:
        """Append one record (see :class:`AuditRecord` for the fields)."""
        stamp = time.time_ns() if ts_event is None else ts_event
        self.append([AuditRecord(kind, actor, limit_id, details or {}, stamp)])

    def append(self, records: Iterable[AuditRecord]) -> int:
        """Append records in one transaction, all or none, and return how many were stored.

        Raises
        ------
        QuantDeskError
            When a record has an unknown kind, no actor or details that are not JSON (nothing
            is stored), or the store is unreachable.
        """
        rows = [_row(record) for record in records]
        if rows:
            with translate_errors(self._engine), self._engine.begin() as connection:
                connection.execute(RISK_AUDIT.insert(), rows)
        return len(rows)

    def records(self, start: Any = None, end: Any = None, kind: str | None = None,
                limit_id: str | None = None, newest: int | None = None) -> pd.DataFrame:
        """Return stored records in the order they were appended, ``details`` decoded to dicts.

        Parameters
        ----------
        start, end : str, datetime or pandas.Timestamp, optional
            Inclusive bounds on ``ts_event``; naive times are UTC.
        kind, limit_id : str, optional
            Keep only records of this kind / limit.
        newest : int, optional
            Read only the last this many records (a dashboard's view), not the whole trail.
        """
        query = select(*(RISK_AUDIT.c[name] for name in COLUMNS))
        if start is not None:
            query = query.where(RISK_AUDIT.c.ts_event >= _nanoseconds("start", start))
        if end is not None:
            query = query.where(RISK_AUDIT.c.ts_event <= _nanoseconds("end", end))
        if kind is not None:
            query = query.where(RISK_AUDIT.c.kind == _checked_kind(kind))
        if limit_id is not None:
            query = query.where(RISK_AUDIT.c.limit_id == limit_id)
        if newest is None:
            query = query.order_by(RISK_AUDIT.c.sequence)
        else:
            latest = query.order_by(RISK_AUDIT.c.sequence.desc()).limit(newest).subquery()
            query = select(*(latest.c[name] for name in COLUMNS)).order_by(latest.c.sequence)
        with translate_errors(self._engine), self._engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        frame["ts_event"] = pd.to_datetime(frame["ts_event"].astype("int64"), unit="ns", utc=True)
        frame["details"] = frame["details"].map(json.loads)
        return frame

    def export_csv(self, path: str | Path, **filters: Any) -> Path:
        """Write the records (filtered as :meth:`records`) to a CSV file atomically; return its path.

        ``ts_event`` is written as ISO 8601 UTC with nanoseconds and ``details`` as a JSON object.
        """
        frame = self.records(**filters)
        frame["ts_event"] = frame["ts_event"].map(lambda stamp: stamp.isoformat())
        frame["details"] = frame["details"].map(lambda details: json.dumps(details, sort_keys=True))
        return write_atomically(Path(path), frame.to_csv(index=False))

    def export_json(self, path: str | Path, **filters: Any) -> Path:
        """Write the records (filtered as :meth:`records`) to a JSON list atomically; return its path."""
        frame = self.records(**filters)
        payload = [
            {**row, "ts_event": row["ts_event"].isoformat(), "sequence": int(row["sequence"])}
            for row in frame.to_dict("records")
        ]
        return write_atomically(Path(path), json.dumps(payload, indent=1, sort_keys=True))


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a CSV or JSON export back into the frame :meth:`AuditTrail.records` returns.

    Raises
    ------
    QuantDeskError
        When the file does not exist or is neither ``.csv`` nor ``.json``.
    """
    path = Path(path)
    if not path.is_file():
        raise QuantDeskError(f"Audit export {str(path)!r} does not exist: export one with AuditTrail.export_csv/json")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype={"limit_id": object}, keep_default_na=False)
        frame["limit_id"] = frame["limit_id"].replace("", None)
        frame["details"] = frame["details"].map(json.loads)
    elif path.suffix.lower() == ".json":
        frame = pd.DataFrame(json.loads(path.read_text()), columns=COLUMNS)
    else:
        raise QuantDeskError(f"Audit export {str(path)!r} is neither .csv nor .json: pass a file export_csv/json wrote")
    frame["ts_event"] = pd.to_datetime(frame["ts_event"], utc=True, format="ISO8601")
    return frame[COLUMNS]


def _checked_kind(kind: str) -> str:
    if kind not in AUDIT_KINDS:
        raise QuantDeskError(f"Audit kind {kind!r} is unknown: use one of {', '.join(AUDIT_KINDS)}")
    return kind


def _row(record: AuditRecord) -> dict[str, Any]:
    _checked_kind(record.kind)
    if not isinstance(record.actor, str) or not record.actor.strip():
        raise QuantDeskError(f"Audit record of kind {record.kind!r} has actor={record.actor!r}: name who caused it")
    try:
        details = json.dumps(record.details, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise QuantDeskError(f"Audit record of kind {record.kind!r} has details that are not JSON ({error}): send plain values") from None
    return {"ts_event": int(record.ts_event), "kind": record.kind, "actor": record.actor,
            "limit_id": record.limit_id, "details": details}  # fmt: skip
