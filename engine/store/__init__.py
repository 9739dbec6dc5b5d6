"""The only way in to the history (a DuckDB file, or PostgreSQL past one machine):
connections, migrations, the prediction spool, typed reads.

One module per concern: ``connection`` (opening with back-off, transactions), ``schema``
(migrations), ``spool`` (durable logging and ingestion), ``predictions`` (windows, feedback,
daily aggregates), ``labels`` (bulk label imports), ``evaluation`` (the growing held-out
evaluation set), ``events`` (snapshots, decisions, retrainings, approvals, job runs),
``audit_log`` (the hash chain's table), ``outbox`` (webhook deliveries, enqueued in
the writes' own transactions), ``analyst`` (read-only SQL, export), ``codec`` (rows
to records), ``postgres`` (the PostgreSQL backend: pool, SQL translation, advisory locks; the
only module importing psycopg), ``transfer`` (``store migrate``: DuckDB to PostgreSQL);
``history`` composes them into ``Store``.

Owns the history file (``settings.db_path``) and the spool directory (``settings.spool_dir``).
No other module opens a DuckDB connection; callers get frozen records from
``engine.records`` or pandas frames with documented columns, never a connection or a cursor.

How several processes share one file (DuckDB lets one process hold it read-write, and then
refuses every other open at once): no connection is held between operations. Each operation
opens a short-lived connection (read-write for writes, read-only for reads) under one
per-process lock, and retries the open with jittered exponential back-off for up to
``busy_timeout`` seconds before raising ``StoreBusy``. Prediction logging never touches DuckDB
on the caller's thread: it appends JSON lines to a spool segment that a background thread
ingests, exactly once, in batches. The design and its limits are in ``docs/architecture.md``
("The store").

This module must not know about models, drift or rules, and must not hold a connection open
beyond one operation.
"""

from engine.store.codec import LABELS
from engine.store.history import Store
from engine.store.schema import SCHEMA_VERSION, migrations
from engine.store.spool import SEGMENT_SUFFIX, read_segment

__all__ = ["LABELS", "SCHEMA_VERSION", "SEGMENT_SUFFIX", "Store", "migrations", "read_segment"]
