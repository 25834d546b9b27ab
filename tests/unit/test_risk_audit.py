"""Risk audit trail on both stores: appended in order, never changed or removed, exported and read back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from quantdesk.errors import QuantDeskError
from quantdesk.risk import AuditRecord, AuditTrail, read_export

BASE = 1_700_000_000_123_456_789  # nanoseconds, so exports must keep the last digits


@pytest.fixture(params=["sqlite", "postgresql"])
def trail(request: pytest.FixtureRequest, tmp_path: Path) -> AuditTrail:
    if request.param == "sqlite":
        return AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    return AuditTrail(request.getfixturevalue("postgres_url"))


@pytest.fixture()
def actor() -> str:
    """A name no other test uses: the PostgreSQL table is shared by the session and cannot be emptied."""
    return f"officer-{uuid.uuid4().hex[:8]}"


def sample(actor: str) -> list[AuditRecord]:
    return [
        AuditRecord("limit_change", actor, "book-gross", {"before": None, "after": {"hard": 1e7}}, BASE),
        AuditRecord("breach", actor, "book-gross", {"level": "soft", "value": 8.5e6, "threshold": 8e6}, BASE + 1),
        AuditRecord("rejection", actor, "aapl-position", {"value": 5001, "threshold": 5000, "reason": "a, \"quoted\"\nline"},
                    BASE + 2),
        AuditRecord("escalation", actor, None, {"stage": "halt"}, BASE + 3),
        AuditRecord("reset", actor, None, {"note": "circuit breaker reset"}, BASE + 4),
    ]  # fmt: skip


def mine(trail: AuditTrail, actor: str) -> pd.DataFrame:
    records = trail.records(start=pd.Timestamp(BASE, unit="ns", tz="UTC"))
    return records[records["actor"] == actor].reset_index(drop=True)


def test_records_come_back_in_order_with_their_details(trail: AuditTrail, actor: str) -> None:
    assert trail.append(sample(actor)) == 5
    records = mine(trail, actor)
    assert list(records["kind"]) == ["limit_change", "breach", "rejection", "escalation", "reset"]
    assert list(records["limit_id"]) == ["book-gross", "book-gross", "aapl-position", None, None]
    assert records["details"][2] == {"value": 5001, "threshold": 5000, "reason": "a, \"quoted\"\nline"}
    assert [stamp.value for stamp in records["ts_event"]] == [BASE + i for i in range(5)]
    assert records["sequence"].is_monotonic_increasing
    only = trail.records(kind="rejection", limit_id="aapl-position")
    assert actor in set(only["actor"]) and set(only["kind"]) == {"rejection"}


def test_the_newest_records_are_the_last_appended_in_their_order(trail: AuditTrail, actor: str) -> None:
    trail.append(sample(actor))
    assert list(trail.records(newest=2)["actor"]) == [actor, actor]  # the PostgreSQL table is shared: ours are last
    assert list(trail.records(newest=2)["kind"]) == ["escalation", "reset"]
    assert list(trail.records(limit_id="book-gross", newest=1)["kind"]) == ["breach"]  # filters first, then newest
    assert trail.records(newest=2)["sequence"].is_monotonic_increasing


def test_the_store_refuses_to_change_or_remove_a_record(trail: AuditTrail, actor: str) -> None:
    trail.record("breach", actor, "book-gross", {"value": 1})
    statements = ["UPDATE risk_audit SET actor = 'someone else'", "DELETE FROM risk_audit"]
    if trail._engine.dialect.name == "postgresql":
        statements.append("TRUNCATE risk_audit")
    for statement in statements:
        with pytest.raises(DatabaseError, match="append-only"), trail._engine.begin() as connection:
            connection.execute(text(statement))
    kept = mine(trail, actor)
    assert kept["details"].tolist() == [{"value": 1}] and kept["limit_id"].tolist() == ["book-gross"]
    assert not hasattr(trail, "update") and not hasattr(trail, "delete")


def test_a_bad_record_stores_nothing(trail: AuditTrail, actor: str) -> None:
    with pytest.raises(QuantDeskError, match="Audit kind 'edit' is unknown: use one of limit_change, breach"):
        trail.append([AuditRecord("breach", actor, "x", {}, BASE), AuditRecord("edit", actor, "x", {}, BASE)])
    with pytest.raises(QuantDeskError, match="details that are not JSON"):
        trail.record("breach", actor, "x", {"value": float("nan")}, BASE)
    with pytest.raises(QuantDeskError, match="actor=''"):
        trail.record("breach", "", "x", {}, BASE)
    assert mine(trail, actor).empty


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_exports_read_back_as_the_stored_records(trail: AuditTrail, actor: str, tmp_path: Path, suffix: str) -> None:
    trail.append(sample(actor))
    path = getattr(trail, f"export_{suffix}")(tmp_path / "out" / f"audit.{suffix}", start=pd.Timestamp(BASE, unit="ns"))
    exported = read_export(path)
    exported = exported[exported["actor"] == actor].reset_index(drop=True)
    stored = mine(trail, actor)
    pd.testing.assert_frame_equal(exported, stored, check_dtype=False)
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


def test_exports_are_plain_csv_and_json(tmp_path: Path) -> None:
    trail = AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")
    trail.record("reset", "risk.officer", None, {"note": "ok"}, BASE)
    csv_text = trail.export_csv(tmp_path / "audit.csv").read_text().splitlines()
    assert csv_text[0] == "sequence,ts_event,kind,actor,limit_id,details"
    assert csv_text[1] == '1,2023-11-14T22:13:20.123456789+00:00,reset,risk.officer,,"{""note"": ""ok""}"'
    payload = json.loads(trail.export_json(tmp_path / "audit.json").read_text())
    assert payload == [{"sequence": 1, "ts_event": "2023-11-14T22:13:20.123456789+00:00", "kind": "reset",
                        "actor": "risk.officer", "limit_id": None, "details": {"note": "ok"}}]  # fmt: skip


def test_a_missing_export_is_named(tmp_path: Path) -> None:
    with pytest.raises(QuantDeskError, match="does not exist"):
        read_export(tmp_path / "nothing.csv")
