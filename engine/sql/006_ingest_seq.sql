-- 006: monitoring windows are cut by ingestion order, not by prediction time (issue 14).
-- A prediction still in another process's spool, or recovered from a crashed worker, is
-- ingested after checks that ran meanwhile; its timestamp is older than their windows, so
-- cutting by time would leave it out of every window. ingest_seq is assigned at ingestion,
-- increasing with commit order (one writer at a time), and each snapshot records the range
-- (ingest_seq_from, ingest_seq_to) it covers, so every prediction lands in exactly one window.

ALTER TABLE predictions ADD COLUMN ingest_seq BIGINT;

UPDATE predictions SET ingest_seq = numbered.n
FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY ts, rowid) AS n FROM predictions)
    AS numbered
WHERE predictions.rowid = numbered.rid;

ALTER TABLE drift_snapshots ADD COLUMN ingest_seq_from BIGINT;
ALTER TABLE drift_snapshots ADD COLUMN ingest_seq_to BIGINT;

-- Windows cut by time before this migration: each ends at the last prediction before its end.
UPDATE drift_snapshots SET ingest_seq_to = (
    SELECT coalesce(max(p.ingest_seq), 0) FROM predictions AS p
    WHERE p.ts < drift_snapshots.window_end)
WHERE window_end IS NOT NULL;
