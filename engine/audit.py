"""The hash chain of the audit trail: canonical JSON, keyed links, anchors, verification.

Each ``AuditRecord`` carries the hash of the record before it (``prev_hash``; the first record
links to ``GENESIS``) and its own ``hash``: HMAC-SHA256, under a key kept outside the database
(``engine.datakey``), of the canonical JSON of every other field. Records written before the
data home had a key (``seq < keyed_from``) keep their plain sha256. Changing any field of a
stored record, or removing a record from the middle, breaks the chain at that record, and
``verify`` names it by ``seq``; without the key, nobody can recompute the hashes after an edit.

Anchors are copies of (seq, hash) of the head kept where the database cannot rewrite them (the
monitor log, and ``/metrics`` as a counter of records); ``verify`` checks the chain against
them, which detects records cut off the end and a chain rebuilt by someone holding the key.

This module is pure: it builds and checks records and anchors, and never reads or writes them.
Persistence belongs to ``engine.store`` and ``engine.monitoring`` (the log). It must not
import anything heavy. What is and is not detected: "The audit trail" in
``docs/architecture.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.records import AuditRecord, AuditVerification

GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""

ANCHOR_PREFIX = "Audit anchor:"
"""How an anchor line of the monitor log starts: ``Audit anchor: seq=12 hash=<64 hex>``."""
_ANCHOR = re.compile(r"Audit anchor: seq=(\d+)(?: hash=([0-9a-f]{64}))?")


@dataclass(frozen=True)
class ChainKey:
    """How records are hashed: HMAC under ``secret`` from ``keyed_from`` on."""

    secret: bytes
    keyed_from: int
    """First keyed ``seq``; earlier records are plain sha256 (written before keys existed)."""


@dataclass(frozen=True)
class Anchor:
    """A copy of the chain's head kept outside the database."""

    seq: int
    hash: str | None
    """``None`` when only the count is known (the ``/metrics`` counter)."""
    source: str
    """Where it was read, for messages: ``monitor log``, ``/metrics``."""


def format_anchor(seq: int, digest: str) -> str:
    """The monitor log line (without its timestamp) that anchors record ``seq``."""
    return f"{ANCHOR_PREFIX} seq={seq} hash={digest}"


def parse_anchors(lines: Iterable[str], source: str = "monitor log") -> list[Anchor]:
    """The anchors among ``lines`` (other lines are ignored)."""
    found = []
    for line in lines:
        match = _ANCHOR.search(line)
        if match:
            found.append(Anchor(int(match.group(1)), match.group(2), source))
    return found


def canonical_json(value: Any) -> str:
    """One stable text for ``value``: sorted keys, no spaces, UTF-8 kept, non-JSON via ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def normalise_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` exactly as it reads back from storage (datetimes etc. become strings)."""
    loaded: dict[str, Any] = json.loads(canonical_json(details))
    return loaded


def _timestamp(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds")


def record_hash(*, seq: int, ts: datetime, actor: str, action: str, subject: str,
                details: dict[str, Any], reasoning: str, prev_hash: str,
                key: bytes | None = None) -> str:
    """The hash (hex) of one record's content and its link to the previous record.

    HMAC-SHA256 under ``key`` (RFC 2104), or plain sha256 without one (records written
    before the data home had a key).
    """
    payload = {
        "seq": seq, "ts": _timestamp(ts), "actor": actor, "action": action,
        "subject": subject, "details": details, "reasoning": reasoning, "prev_hash": prev_hash,
    }
    content = canonical_json(payload).encode("utf-8")
    if key is None:
        return hashlib.sha256(content).hexdigest()
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _key_for(seq: int, key: ChainKey | None) -> bytes | None:
    return key.secret if key is not None and seq >= key.keyed_from else None


def next_record(previous: AuditRecord | None, *, ts: datetime, actor: str, action: str,
                subject: str, details: dict[str, Any], reasoning: str,
                key: ChainKey | None = None) -> AuditRecord:
    """The record that follows ``previous`` (``None`` for the first one)."""
    seq = 1 if previous is None else previous.seq + 1
    prev_hash = GENESIS if previous is None else previous.hash
    clean = normalise_details(details)
    digest = record_hash(seq=seq, ts=ts, actor=actor, action=action, subject=subject,
                         details=clean, reasoning=reasoning, prev_hash=prev_hash,
                         key=_key_for(seq, key))
    return AuditRecord(seq=seq, ts=ts, actor=actor, action=action, subject=subject,
                       details=clean, reasoning=reasoning, prev_hash=prev_hash, hash=digest)


def verify(records: Iterable[AuditRecord], *, key: ChainKey | None = None,
           anchors: Sequence[Anchor] = ()) -> AuditVerification:
    """Check the chain, in ``seq`` order, then the anchors; name the first thing that breaks.

    A record breaks the chain when its content no longer matches its hash (it was altered;
    from ``key.keyed_from`` on the hash is an HMAC, so it cannot be recomputed without the
    key), when its ``prev_hash`` is not the hash of the record before it (a record before it
    was removed or replaced), or when its ``seq`` skips numbers (records were removed). An
    anchor breaks it when the record it names is missing (records cut off the end) or has
    another hash (the chain was rebuilt).
    """
    previous: AuditRecord | None = None
    checked = 0
    by_seq: dict[int, str] = {}
    for record in sorted(records, key=lambda r: r.seq):
        expected_seq = 1 if previous is None else previous.seq + 1
        if record.seq != expected_seq:
            missing = (f"record {expected_seq}" if record.seq == expected_seq + 1
                       else f"records {expected_seq}-{record.seq - 1}")
            return _broken(checked, expected_seq,
                           f"{missing} removed: the chain jumps from "
                           f"{expected_seq - 1} to {record.seq}")
        expected_prev = GENESIS if previous is None else previous.hash
        if record.prev_hash != expected_prev:
            return _broken(checked, record.seq,
                           f"record {record.seq} ({record.action} {record.subject}) does not "
                           f"link to record {record.seq - 1}: one of them was altered or "
                           "replaced")
        keyed = _key_for(record.seq, key)
        actual = record_hash(seq=record.seq, ts=record.ts, actor=record.actor,
                             action=record.action, subject=record.subject,
                             details=record.details, reasoning=record.reasoning,
                             prev_hash=record.prev_hash, key=keyed)
        if actual != record.hash:
            return _broken(checked, record.seq,
                           f"record {record.seq} ({record.action} {record.subject}) was "
                           "altered: its content no longer matches its "
                           + ("keyed hash" if keyed is not None else "hash"))
        by_seq[record.seq] = record.hash
        previous = record
        checked += 1
    head = previous.seq if previous is not None else 0
    for anchor in sorted(anchors, key=lambda a: a.seq):
        if anchor.hash is not None and anchor.seq in by_seq and by_seq[anchor.seq] != anchor.hash:
            return _broken(checked, anchor.seq,
                           f"record {anchor.seq} was rewritten: its hash differs from the one "
                           f"anchored in the {anchor.source}")
    beyond = [anchor for anchor in anchors if anchor.seq > head]
    if beyond:
        last = max(beyond, key=lambda a: a.seq)
        cut = f"record {head + 1}" if last.seq == head + 1 else f"records {head + 1}-{last.seq}"
        return _broken(checked, head + 1,
                       f"{cut} removed from the end: the {last.source} anchored record "
                       f"{last.seq}, the chain ends at {head}")
    anchored = f", {len(anchors)} anchors matched" if anchors else ""
    return AuditVerification(ok=True, checked=checked, first_bad_seq=None,
                             message=f"audit chain intact: {checked} records verified"
                                     f"{anchored}")


def _broken(checked: int, seq: int, message: str) -> AuditVerification:
    return AuditVerification(ok=False, checked=checked, first_bad_seq=seq, message=message)
