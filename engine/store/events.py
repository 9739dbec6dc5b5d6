"""Monitoring's own history: drift snapshots, decisions, retrainings, approvals, job runs,
model versions.

Owns the typed writes (insert or replace by id) and reads of those tables. It must not decide
anything: monitoring hands in finished records.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidInput, NotFound
from engine.records import Approval, Decision, DriftSnapshot, JobRun, RetrainingEvent
from engine.store.codec import (
    decode_approval,
    decode_decision,
    decode_job_run,
    decode_retraining,
    decode_snapshot,
    dumps,
    plain,
    row_of,
)
from engine.store.connection import StoreBase, upsert_sql

if TYPE_CHECKING:
    from engine.notify.events import NotifyEvent


def _snapshot_row(snapshot: DriftSnapshot) -> dict[str, Any]:
    return row_of(snapshot, ("new_patterns", "drift_components"))


def _decision_row(decision: Decision) -> dict[str, Any]:
    return row_of(decision, ("reasons", "thresholds"))


class EventsMixin(StoreBase):
    """Snapshots, decisions, retraining events, approvals, job runs, model versions."""

    # Drift snapshots -----------------------------------------------------------------------
    def save_snapshot(self, snapshot: DriftSnapshot) -> None:
        """Insert (or replace, by id) a drift snapshot."""
        self._upsert("drift_snapshots", _snapshot_row(snapshot))

    def save_check(self, snapshot: DriftSnapshot | None, decision: Decision, *,
                   events: Sequence[NotifyEvent] = ()) -> None:
        """Save a check's snapshot (if any), its decision and the outbox rows of ``events``
        in one transaction.

        The snapshot ends its window: saved alone, a failure before the decision would use
        the window up with no decision (issue 14, item 11).
        """
        rows = [("drift_snapshots", _snapshot_row(snapshot))] if snapshot else []
        rows.append(("decisions", _decision_row(decision)))
        with self._transaction() as con:
            for table, row in rows:
                con.execute(upsert_sql(table, list(row)), list(row.values()))
            queued = self._enqueue(con, events) if events else 0
        self._outbox_committed(queued)

    def snapshots(self, limit: int = 100, since: datetime | None = None,
                  until: datetime | None = None) -> list[DriftSnapshot]:
        """Drift snapshots in the window, newest first."""
        where, params = self.window_clause("ts", since, until)
        return self._records(f"SELECT * FROM drift_snapshots{where} ORDER BY ts DESC, id "
                             f"LIMIT {int(limit)}", params, decode_snapshot)

    def latest_snapshot(self) -> DriftSnapshot | None:
        """The newest drift snapshot, if any."""
        found = self.snapshots(limit=1)
        return found[0] if found else None

    # Decisions -----------------------------------------------------------------------------
    def save_decision(self, decision: Decision, *, events: Sequence[NotifyEvent] = ()) -> None:
        """Insert (or replace, by id) a monitoring decision; ``events`` go to the webhook
        outbox in the same transaction."""
        self._upsert("decisions", _decision_row(decision), events)

    def update_decision(self, id: str, **fields: Any) -> Decision:
        """Change some fields of a decision (e.g. ``outcome``, ``retraining_id``).

        Raises:
            InvalidInput: a field name that ``Decision`` does not have.
            NotFound: no decision with this id.
        """
        known = {f.name for f in dataclasses.fields(Decision)} - {"id"}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise InvalidInput(f"a decision has no field {unknown[0]!r}")
        if fields:
            values = {k: (dumps(plain(v)) if k in ("reasons", "thresholds") else v)
                      for k, v in fields.items()}
            assignments = ", ".join(f"{k} = ?" for k in values)
            with self._transaction() as con:
                row = con.execute(f"UPDATE decisions SET {assignments} WHERE id = ? "
                                  "RETURNING id", [*values.values(), id]).fetchone()
                if not row:
                    raise NotFound(f"no decision {id!r}")
        found = self._records("SELECT * FROM decisions WHERE id = ?", [id], decode_decision)
        if not found:
            raise NotFound(f"no decision {id!r}")
        return found[0]

    def decisions(self, limit: int = 50, since: datetime | None = None,
                  until: datetime | None = None) -> list[Decision]:
        """Monitoring decisions with ``since <= ts < until``, newest first."""
        where, params = self.window_clause("ts", since, until)
        return self._records(f"SELECT * FROM decisions{where} ORDER BY ts DESC, id "
                             f"LIMIT {int(limit)}", params, decode_decision)

    def last_decision(self) -> Decision | None:
        """The newest decision, if any."""
        found = self.decisions(limit=1)
        return found[0] if found else None

    # Retraining, approvals, jobs, model versions -------------------------------------------
    def save_retraining(self, event: RetrainingEvent, *,
                        events: Sequence[NotifyEvent] = ()) -> None:
        """Insert or replace (by id) a retraining event; ``events`` go to the webhook outbox
        in the same transaction."""
        self._upsert("retraining_events", row_of(event, ("comparison", "lineage")), events)

    def retraining(self, id: str) -> RetrainingEvent:
        """One retraining event. Raises ``NotFound``."""
        found = self._records("SELECT * FROM retraining_events WHERE id = ?", [id],
                              decode_retraining)
        if not found:
            raise NotFound(f"no retraining {id!r}")
        return found[0]

    def retraining_events(self, limit: int = 50, since: datetime | None = None,
                          until: datetime | None = None) -> list[RetrainingEvent]:
        """Retraining events with ``since <= started_at < until``, newest first."""
        where, params = self.window_clause("started_at", since, until)
        return self._records(f"SELECT * FROM retraining_events{where} ORDER BY started_at "
                             f"DESC, id LIMIT {int(limit)}", params, decode_retraining)

    def running_retrainings(self) -> list[RetrainingEvent]:
        """Retraining events still marked ``running`` (possibly interrupted by a crash)."""
        return self._records("SELECT * FROM retraining_events WHERE status = 'running' "
                             "ORDER BY started_at", [], decode_retraining)

    def save_approval(self, approval: Approval, *,
                      events: Sequence[NotifyEvent] = ()) -> None:
        """Insert or replace (by id) an approval; ``events`` go to the webhook outbox in the
        same transaction."""
        self._upsert("approvals", row_of(approval, ("comparison",)), events)

    def approval(self, id: str) -> Approval:
        """One approval. Raises ``NotFound``."""
        found = self._records("SELECT * FROM approvals WHERE id = ?", [id], decode_approval)
        if not found:
            raise NotFound(f"no approval {id!r}")
        return found[0]

    def approvals(self, status: str | None = None) -> list[Approval]:
        """Approvals (optionally only those with ``status``), newest first."""
        where, params = ("", []) if status is None else (" WHERE status = ?", [status])
        return self._records(f"SELECT * FROM approvals{where} ORDER BY created_at DESC, id",
                             params, decode_approval)

    def record_job_run(self, run: JobRun) -> None:
        """Insert or replace (by id) a scheduler job run."""
        self._upsert("job_runs", row_of(run))

    def job_runs(self, limit: int = 50, job: str | None = None) -> list[JobRun]:
        """Job runs (optionally of one job), newest first."""
        where, params = ("", []) if job is None else (" WHERE job = ?", [job])
        return self._records(f"SELECT * FROM job_runs{where} ORDER BY started_at DESC, id "
                             f"LIMIT {int(limit)}", params, decode_job_run)

    def running_job_runs(self) -> list[JobRun]:
        """Job runs still marked ``running`` (possibly left by a killed process), oldest first."""
        return self._records("SELECT * FROM job_runs WHERE outcome = 'running' "
                             "ORDER BY started_at, id", [], decode_job_run)

    def record_model_version(self, version: int, run_id: str, registered_at: datetime,
                             metrics: dict[str, Any], lineage: dict[str, Any]) -> None:
        """Remember a registered model version (upsert by version)."""
        self._upsert("model_versions", {
            "version": version, "run_id": run_id, "registered_at": registered_at,
            "metrics": dumps(metrics), "lineage": dumps(lineage)})

    def model_versions_seen(self) -> list[dict[str, Any]]:
        """Every model version recorded, oldest first: version, run_id, registered_at,
        metrics, lineage."""
        def decode(row: dict[str, Any]) -> dict[str, Any]:
            row["metrics"] = json.loads(row["metrics"])
            row["lineage"] = json.loads(row["lineage"])
            return row

        return self._records("SELECT * FROM model_versions ORDER BY version", [], decode)

