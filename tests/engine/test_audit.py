"""The pure hash-chain logic: building, linking and verifying audit records."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from engine import audit
from engine.records import AuditRecord

T0 = datetime(2026, 11, 2, 8, 30, 0, 123456)


def chain(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    previous = None
    for i in range(n):
        previous = audit.next_record(
            previous, ts=T0 + timedelta(minutes=i), actor="scheduler", action="decision",
            subject=f"d{i}", details={"drift": 0.1 * i, "thresholds": {"drift": 0.15}},
            reasoning=f"reason {i}")
        records.append(previous)
    return records


def test_canonical_json_is_independent_of_key_order() -> None:
    assert audit.canonical_json({"b": 1, "a": [1, "é"]}) == audit.canonical_json(
        {"a": [1, "é"], "b": 1})
    assert audit.canonical_json({"a": "é"}) == '{"a":"é"}'


def test_first_record_links_to_genesis_and_the_next_to_it() -> None:
    first, second = chain(2)
    assert (first.seq, first.prev_hash) == (1, audit.GENESIS)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert len(first.hash) == 64 and first.hash != second.hash


def test_details_are_normalised_to_what_storage_returns() -> None:
    record = audit.next_record(None, ts=T0, actor="a", action="x", subject="s",
                               details={"when": T0, "n": (1, 2)}, reasoning="")
    assert record.details == {"when": str(T0), "n": [1, 2]}


def test_an_intact_chain_verifies() -> None:
    result = audit.verify(chain(5))
    assert result.ok and result.checked == 5 and result.first_bad_seq is None


def test_an_empty_chain_verifies() -> None:
    assert audit.verify([]).ok


@pytest.mark.parametrize("field, value", [
    ("reasoning", "changed"), ("actor", "mallory"), ("details", {"drift": 0.0}),
    ("ts", T0 + timedelta(days=1)), ("subject", "other"),
])
def test_an_altered_field_names_that_record(field: str, value: object) -> None:
    records = chain(5)
    records[2] = dataclasses.replace(records[2], **{field: value})
    result = audit.verify(records)
    assert not result.ok and result.first_bad_seq == 3
    assert "record 3" in result.message and "altered" in result.message


def test_a_rehashed_alteration_is_caught_at_the_next_link() -> None:
    records = chain(5)
    forged = dataclasses.replace(records[2], reasoning="forged")
    forged = dataclasses.replace(forged, hash=audit.record_hash(
        seq=3, ts=forged.ts, actor=forged.actor, action=forged.action, subject=forged.subject,
        details=forged.details, reasoning=forged.reasoning, prev_hash=forged.prev_hash))
    records[2] = forged
    result = audit.verify(records)
    assert not result.ok and result.first_bad_seq == 4


@pytest.mark.parametrize("removed, named", [(0, 1), (2, 3), (3, 4)])
def test_a_removed_record_is_named(removed: int, named: int) -> None:
    records = chain(5)
    del records[removed]
    result = audit.verify(records)
    assert not result.ok and result.first_bad_seq == named
    assert f"record {named} removed" in result.message


def test_records_are_checked_in_seq_order_whatever_the_input_order() -> None:
    assert audit.verify(list(reversed(chain(4)))).ok
