"""Limits file and LimitBook: bad lines are named, the previous limits survive a bad reload, edits are audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantdesk.errors import QuantDeskError
from quantdesk.risk import LIMIT_TYPES, AuditTrail, LimitBook, LimitConfig, RiskLimitsConfig

KNOWN = ["AAPL.XNAS", "MSFT.XNAS", "XOM.XNYS"]

GOOD = """\
instrument_sectors:
  AAPL.XNAS: Technology
  MSFT.XNAS: Technology
  XOM.XNYS: Energy
limits:
  - limit_id: book-gross
    type: gross_exposure
    soft: 8_000_000
    hard: 10_000_000
  - limit_id: aapl-position
    type: position
    scope: instrument
    target: AAPL.XNAS
    hard: 5000
  - limit_id: technology-share
    type: concentration
    scope: sector
    target: Technology
    by: sector
    hard: 0.4
  - limit_id: orders-per-second
    type: order_rate
    scope: strategy
    target: EMACross-000
    window_seconds: 1
    hard: 10
"""


def write(tmp_path: Path, text: str, name: str = "limits.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.fixture()
def audit(tmp_path: Path) -> AuditTrail:
    return AuditTrail(f"sqlite:///{tmp_path / 'store.sqlite'}")


def test_a_limits_file_loads_every_field(tmp_path: Path) -> None:
    config = RiskLimitsConfig.load(write(tmp_path, GOOD), KNOWN)
    assert [limit.limit_id for limit in config.limits] == ["book-gross", "aapl-position", "technology-share",
                                                          "orders-per-second"]  # fmt: skip
    gross, position, share, rate = config.limits
    assert (gross.scope, gross.target, gross.soft, gross.hard) == ("global", None, 8_000_000, 10_000_000)
    assert (position.scope, position.target, position.hard, position.soft) == ("instrument", "AAPL.XNAS", 5000, None)
    assert (share.by, share.hard, rate.window_seconds) == ("sector", 0.4, 1)
    assert config.sectors == {"Technology", "Energy"}
    # The frozen config round-trips through JSON like every run config.
    assert RiskLimitsConfig.parse(config.json()) == config


def test_there_are_thirteen_limit_types() -> None:
    assert len(LIMIT_TYPES) == 13
    for limit_type in LIMIT_TYPES:
        extra = {"window_seconds": 60} if limit_type == "order_rate" else {}
        assert LimitConfig(limit_id=limit_type, type=limit_type, hard=0.5, **extra).check().type == limit_type


@pytest.mark.parametrize(
    ("line", "new", "named"),
    [
        # YAML syntax: PyYAML stops on line 10 inside the sequence opened on line 9.
        (9, "    hard: [10", "line 10: not valid YAML (expected ',' or ']', but got ':'; while parsing a flow sequence that starts on line 9)"),
        (9, "    hard: lots", "line 9: field 'limits[0].hard': Expected `float | null`, got `str`"),
        (11, "    type: position_size", "line 11: field 'limits[1].type': Invalid enum value 'position_size'"),
        (14, "    hardd: 5000", "line 14"),  # unknown field
        (8, "    soft: 20_000_000", "line 8: limit 'book-gross': soft=20000000.0 is above hard=10000000.0"),
        (13, "    target: TSLA.XNAS", "line 13: limit 'aapl-position' names unknown instrument 'TSLA.XNAS'"),
        (18, "    target: Utilities", "line 18: limit 'technology-share' names unknown sector 'Utilities'"),
        (20, "    hard: 1.4", "line 20: limit 'technology-share': hard=1.4: concentration is a share between 0 and 1"),
        (25, "    window_seconds: 0", "line 25: limit 'orders-per-second': window_seconds=0.0 must be a positive"),
        (15, "  - limit_id: book-gross", "line 15: limit 'book-gross' is declared twice"),
        (4, "  XOM.XNYS: ''", "line 4: instrument 'XOM.XNYS' has an empty sector name"),
        (3, "  MSFT.XNAS: 5", "line 3: field 'instrument_sectors[...]': Expected `str`, got `int`"),
    ],
)  # fmt: skip
def test_a_bad_limits_file_names_its_line(tmp_path: Path, line: int, new: str, named: str) -> None:
    path = write(tmp_path, replace_line(GOOD, line, new))
    with pytest.raises(QuantDeskError, match="^Limits file .*" + _escaped(named)):
        RiskLimitsConfig.load(path, KNOWN)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_the_line_numbers_are_those_of_the_file(tmp_path: Path) -> None:
    # The same mistake one entry later is reported one entry later.
    assert replace_line(GOOD, 13, "    target: TSLA.XNAS").splitlines()[12] == "    target: TSLA.XNAS"
    text = GOOD + "  - limit_id: extra\n    type: position\n    scope: instrument\n    target: TSLA.XNAS\n    hard: 1\n"
    with pytest.raises(QuantDeskError, match=r"line 30: limit 'extra' names unknown instrument"):
        RiskLimitsConfig.load(write(tmp_path, text), KNOWN)


def test_an_instrument_outside_the_known_set_is_rejected_in_the_sector_map(tmp_path: Path) -> None:
    with pytest.raises(QuantDeskError, match=r"line 3: instrument 'MSFT.XNAS' of the sector map is unknown"):
        RiskLimitsConfig.load(write(tmp_path, GOOD), ["AAPL.XNAS", "XOM.XNYS"])


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"type": "var", "scope": "strategy", "target": "A", "hard": 1}, "var limits measure the whole book"),
        ({"type": "position", "scope": "instrument", "hard": 1}, "scope 'instrument' needs a target"),
        ({"type": "position", "target": "AAPL.XNAS", "hard": 1}, "a global limit has no target"),
        ({"type": "position"}, "give a hard (block) level"),
        ({"type": "position", "hard": -1}, "hard=-1.0 must be a finite number of at least 0"),
        ({"type": "position", "hard": 1, "window_seconds": 1}, "window_seconds applies only to order_rate limits"),
        ({"type": "drawdown", "hard": 5}, "drawdown is a share between 0 and 1"),
    ],
)
def test_an_inconsistent_limit_is_named(fields: dict, named: str) -> None:
    with pytest.raises(QuantDeskError, match=_escaped(named)):
        LimitConfig.from_mapping({"limit_id": "x", **fields})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(QuantDeskError, match="does not exist"):
        LimitBook.load(tmp_path / "nowhere.yaml")


def test_a_bad_reload_keeps_the_previous_limits_active(tmp_path: Path, audit: AuditTrail) -> None:
    book = LimitBook.load(write(tmp_path, GOOD), KNOWN, audit=audit)
    before, version = book.config, book.version
    bad = write(tmp_path, replace_line(GOOD, 13, "    target: TSLA.XNAS"), "bad.yaml")
    with pytest.raises(QuantDeskError, match="line 13"):
        book.reload(bad, actor="risk.officer")
    broken = write(tmp_path, GOOD.replace("limits:", "limits: [", 1), "broken.yaml")
    with pytest.raises(QuantDeskError, match="line 6: not valid YAML"):
        book.reload(broken, actor="risk.officer")
    assert book.config is before and book.version == version
    assert audit.records().empty


def test_a_good_reload_swaps_the_whole_set_and_audits_each_change(tmp_path: Path, audit: AuditTrail) -> None:
    book = LimitBook.load(write(tmp_path, GOOD), KNOWN, audit=audit)
    changed = GOOD.replace("hard: 5000", "hard: 6000").replace("    hard: 10\n", "    hard: 20\n")
    changed = changed.split("  - limit_id: technology-share")[0] + "  - limit_id: net\n    type: net_exposure\n    hard: 1\n"
    book.reload(write(tmp_path, changed, "new.yaml"), actor="risk.officer")
    assert [limit.limit_id for limit in book.limits] == ["book-gross", "aapl-position", "net"]
    assert book.get("aapl-position").hard == 6000 and book.version == 1
    records = audit.records()
    changes = {row.limit_id: row.details for row in records.itertuples()}
    assert set(changes) == {"aapl-position", "technology-share", "orders-per-second", "net"}
    assert (changes["aapl-position"]["before"]["hard"], changes["aapl-position"]["after"]["hard"]) == (5000, 6000)
    assert changes["technology-share"]["after"] is None and changes["net"]["before"] is None
    assert set(records["actor"]) == {"risk.officer"} and set(records["kind"]) == {"limit_change"}


def test_edits_are_audited_with_before_after_and_actor(tmp_path: Path, audit: AuditTrail) -> None:
    book = LimitBook.load(write(tmp_path, GOOD), KNOWN, audit=audit)
    tighter = LimitConfig(limit_id="aapl-position", type="position", scope="instrument", target="AAPL.XNAS", hard=100)
    book.set_limit(tighter, actor="alice")
    added = LimitConfig(limit_id="xom", type="order_quantity", scope="instrument", target="XOM.XNYS", hard=10)
    book.set_limit(added, actor="alice")
    book.remove_limit("book-gross", actor="bob")
    records = audit.records()
    assert list(records["limit_id"]) == ["aapl-position", "xom", "book-gross"]
    assert list(records["actor"]) == ["alice", "alice", "bob"]
    first, second, third = records["details"]
    assert (first["before"]["hard"], first["after"]["hard"]) == (5000, 100)
    assert second["before"] is None and second["after"]["target"] == "XOM.XNYS"
    assert third["before"]["limit_id"] == "book-gross" and third["after"] is None
    assert [limit.limit_id for limit in book.limits] == ["aapl-position", "technology-share", "orders-per-second", "xom"]
    assert book.version == 3


def test_an_edit_naming_an_unknown_instrument_or_limit_changes_nothing(tmp_path: Path, audit: AuditTrail) -> None:
    book = LimitBook.load(write(tmp_path, GOOD), KNOWN, audit=audit)
    before = book.config
    with pytest.raises(QuantDeskError, match="unknown instrument 'TSLA.XNAS'"):
        book.set_limit(LimitConfig(limit_id="t", type="position", scope="instrument", target="TSLA.XNAS", hard=1), "alice")
    with pytest.raises(QuantDeskError, match="No limit 'nothing': the active limits are book-gross, aapl-position"):
        book.remove_limit("nothing", actor="alice")
    with pytest.raises(QuantDeskError, match="name who changes the limits"):
        book.remove_limit("book-gross", actor="")
    assert book.config is before and audit.records().empty


def test_the_authorize_hook_can_refuse_a_change(tmp_path: Path, audit: AuditTrail) -> None:
    asked = []

    def only_officers(actor: str, action: str, limit: LimitConfig | None) -> bool:
        asked.append((actor, action, None if limit is None else limit.limit_id))
        return actor.endswith(".officer")

    book = LimitBook.load(write(tmp_path, GOOD), KNOWN, audit=audit, authorize=only_officers)
    with pytest.raises(QuantDeskError, match="'trader' may not remove limit 'book-gross': ask a risk officer"):
        book.remove_limit("book-gross", actor="trader")
    with pytest.raises(QuantDeskError, match="'trader' may not reload the limits file"):
        book.reload(write(tmp_path, GOOD, "again.yaml"), actor="trader")
    assert len(book.limits) == 4 and audit.records().empty
    book.remove_limit("book-gross", actor="risk.officer")
    assert asked == [("trader", "remove", "book-gross"), ("trader", "reload", None),
                     ("risk.officer", "remove", "book-gross")]  # fmt: skip
    assert list(audit.records()["actor"]) == ["risk.officer"]
