"""Changes of champion that survive a crash half-way: intent first, then aliases, then done.

A change of champion spans two systems that share no transaction: the MLflow registry (the
``champion``/``previous``/``challenger`` aliases, one write each) and the history store
(approvals, retraining events, the audit trail). Issue 14 showed what a crash or a busy
registry between those writes leaves: ``champion=3, previous=1`` with no audit record, or a
champion that serves while its approval stays pending forever. So every move goes:

1. take the data home's champion lock (``<home>/locks/champion.lock``, ``flock``: the kernel
   drops it when the holder dies) and, when the history is shared by several hosts
   (PostgreSQL), the advisory lock ``champion`` too (PostgreSQL drops it when the holder's
   session ends): a host must neither race another host's move nor take that move's pending
   intent for one a dead process left; then finish or undo any move a dead process left
   pending;
2. read the aliases and check them against the state the caller decided on (an approval is
   for the champion it was compared with; a rollback for the champion the operator saw);
3. record the intended move in the store (``alias_moves``, status ``pending``, with the
   aliases before and after) — the intent;
4. move the aliases, then write what the move decides (an approval's status), then audit;
5. mark the intent ``done``.

A failure in 4 puts the aliases back at once (``undone``, audited) and raises. A process that
dies in 4 leaves ``pending``: the next move or the next writer's start (``recover``) finds the
aliases either exactly at ``after`` — the move finishes (``recovered``; an approval is saved
as approved) — or anywhere else — they are put back to ``before`` (``undone``). Either way
the audit trail gets a record with the aliases that hold afterwards, so replaying the audit
trail gives the registry's aliases. This is the outbox/intent pattern (write the intention
where you can, then act, then mark it done; a sweeper completes or compensates).

This module decides no deployment (``rules.py``) and opens no database (``store``).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.errors import ConflictError, SpamopsError
from engine.failpoints import failpoint
from engine.locks import FileLock
from engine.notify.events import NotifyEvent, approval_decided, rolled_back
from engine.records import AliasMoveRecord
from engine.registry import CHAMPION, Aliases, Registry

if TYPE_CHECKING:
    from engine.store import Store

CHAMPION_LOCK = "champion"
"""Name of the advisory lock serialising champion changes across hosts (PostgreSQL store)."""
LOCK_POLL_SECONDS = 0.1
LOCK_TIMEOUT_SECONDS = 30.0
"""How long a move waits for another process's move (each takes well under a second)."""


def describe(aliases: Aliases) -> str:
    """``champion v3, previous v1`` (or ``no aliases``)."""
    return ", ".join(f"{alias} v{version}" for alias, version in sorted(aliases.items())) \
        or "no aliases"


class ChampionSwitch:
    """Moves the aliases of one data home, one move at a time, recorded as intents."""

    def __init__(self, *, store: Store, registry: Registry, clock: Clock, lock_path: Path,
                 on_moved: Callable[[Aliases], None] | None = None,
                 log: Callable[[str], object] | None = None) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.lock_path = lock_path
        self._on_moved = on_moved or (lambda _aliases: None)
        self._log = log or (lambda _line: None)

    def _flock(self, timeout: float) -> AbstractContextManager[None]:
        return FileLock(self.lock_path).hold(
            wait=timeout, refuse=lambda _holder: ConflictError(
                "another process is changing the champion; try again"))

    @contextmanager
    def _hold(self, timeout: float) -> Iterator[None]:
        """The champion lock: this home's file lock, then, on a shared (PostgreSQL) history,
        the advisory lock ``CHAMPION_LOCK`` across hosts (polled until ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._flock(timeout):
            lock = self.store.advisory_lock(CHAMPION_LOCK,
                                            f"{socket.gethostname()} pid={os.getpid()}")
            if lock is None:
                yield
                return
            try:
                while not lock.try_acquire():
                    if time.monotonic() >= deadline:
                        holder = lock.holder()
                        raise ConflictError(
                            "another host is changing the champion"
                            + (f" ({holder})" if holder else "") + "; try again")
                    time.sleep(LOCK_POLL_SECONDS)
                yield
            finally:
                lock.close()

    @contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[Aliases]:
        """Hold the champion lock, with pending moves settled; yields the current aliases.

        Raises:
            ConflictError: another process kept the lock for ``timeout`` seconds.
        """
        with self._hold(timeout):
            self._recover_locked()
            yield self.registry.aliases()

    def recover(self) -> list[AliasMoveRecord]:
        """Finish or undo every move a dead process left pending (at a writer's start).

        Returns:
            The settled moves (``recovered`` or ``undone``); empty when none was pending.
        """
        if not self.store.pending_alias_moves():  # the common case: no lock, no MLflow
            return []
        with self._hold(LOCK_TIMEOUT_SECONDS):
            return self._recover_locked()

    def move(self, current: Aliases, target: Aliases, *, kind: str, actor: str,
             reasoning: str, action: str, subject: str, details: dict[str, object],
             approval_id: str | None = None,
             complete: Callable[[], None] | None = None,
             events: Sequence[NotifyEvent] = ()) -> AliasMoveRecord:
        """Move the aliases from ``current`` (read under ``locked()``) to ``target``.

        ``complete`` writes what the move decides (an approval's status) after the aliases
        moved and before the move is marked done. The audit record (``action`` on
        ``subject``) carries ``details`` plus ``move_id`` and the resulting ``aliases``;
        ``events`` (webhook notifications) are enqueued in the audit record's transaction.

        Raises:
            SpamopsError: a write failed; the aliases were put back (or, if even that failed,
                the move stays pending and the next start settles it).
        """
        record = AliasMoveRecord(id=uuid.uuid4().hex, created_at=self.clock.now(), kind=kind,
                                 aliases_before=dict(current), aliases_after=dict(target),
                                 status="pending", actor=actor, reasoning=reasoning,
                                 approval_id=approval_id, pid=os.getpid())
        self.store.begin_alias_move(record)
        try:
            self.registry.apply_aliases(current, target)
            failpoint("alias.before_completion")
            if complete is not None:
                complete()
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._undo(record, f"the move failed ({message}) and was put back at once")
            raise SpamopsError(f"the champion change failed ({message}); it was undone: "
                               f"{describe(current)}") from exc
        self.store.append_audit(actor, action, subject,
                                {**details, "move_id": record.id, "aliases": dict(target)},
                                reasoning, events=events)
        done = self.store.finish_alias_move(record, "done", self.clock.now())
        self._moved(target)
        return done

    def _recover_locked(self) -> list[AliasMoveRecord]:
        settled = []
        for pending in self.store.pending_alias_moves():
            current = self.registry.aliases()
            if current == pending.aliases_after:
                if pending.kind == "approve" and pending.approval_id:
                    self.complete_approval(pending.approval_id, pending.actor, pending.reasoning)
                told = (rolled_back(self.clock.now(), pending.aliases_after.get(CHAMPION),
                                    pending.aliases_before.get(CHAMPION), pending.actor,
                                    pending.reasoning) if pending.kind == "rollback" else [])
                self.store.append_audit(
                    "system", "champion.move_recovered", pending.id,
                    {"kind": pending.kind, "move_id": pending.id,
                     "aliases": dict(pending.aliases_after), "approval_id": pending.approval_id,
                     "pid": pending.pid},
                    f"Finished on start: process {pending.pid} moved the aliases "
                    f"({pending.kind}: {describe(pending.aliases_after)}) but stopped before "
                    "recording it.", events=told)
                settled.append(self.store.finish_alias_move(pending, "recovered",
                                                            self.clock.now()))
                self._log(f"Champion change {pending.id[:8]} ({pending.kind}) left half-done by "
                          f"process {pending.pid} was finished: {describe(current)}")
                self._moved(current)
            else:
                settled.append(self._undo(pending, f"process {pending.pid} stopped half-way "
                                                   f"({describe(current)}); put back on start"))
        return settled

    def _undo(self, record: AliasMoveRecord, why: str) -> AliasMoveRecord:
        """Put the aliases back to ``record.aliases_before``, mark it undone and audit."""
        current = self.registry.aliases()
        self.registry.apply_aliases(current, record.aliases_before)
        self.store.append_audit(
            "system", "champion.move_undone", record.id,
            {"kind": record.kind, "move_id": record.id,
             "aliases": dict(record.aliases_before), "intended": dict(record.aliases_after),
             "approval_id": record.approval_id, "pid": record.pid},
            f"Undone: {record.kind} to {describe(record.aliases_after)} was not completed; "
            f"{why}. {describe(record.aliases_before)}.")
        undone = self.store.finish_alias_move(record, "undone", self.clock.now())
        self._log(f"Champion change {record.id[:8]} ({record.kind}) undone: {why}")
        self._moved(record.aliases_before)
        return undone

    def complete_approval(self, approval_id: str, actor: str, reason: str) -> None:
        """Save ``approval_id`` as approved and its retraining as deployed (idempotent)."""
        from engine.errors import NotFound

        approval = self.store.approval(approval_id)
        if approval.status != "approved":
            decided = replace(approval, status="approved", decided_at=self.clock.now(),
                              decided_by=actor, reason=reason)
            self.store.save_approval(decided, events=approval_decided(decided))
        try:
            event = self.store.retraining(approval.retraining_id)
        except NotFound:
            return
        if event.deployment != "APPROVED":
            self.store.save_retraining(replace(event, deployment="APPROVED"))

    def _moved(self, aliases: Aliases) -> None:
        try:
            self._on_moved(aliases)
        except SpamopsError as exc:  # serving retries the load; the move itself is done
            self._log(f"The new champion v{aliases.get(CHAMPION)} is not loaded yet: {exc}")
