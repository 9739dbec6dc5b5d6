-- 006 for PostgreSQL: engine/sql/006_ingest_seq.sql with the physical row address ctid in
-- place of DuckDB's rowid.

ALTER TABLE predictions ADD COLUMN ingest_seq BIGINT;

UPDATE predictions SET ingest_seq = numbered.n
FROM (SELECT ctid AS rid, row_number() OVER (ORDER BY ts, ctid) AS n FROM predictions)
    AS numbered
WHERE predictions.ctid = numbered.rid;

ALTER TABLE drift_snapshots ADD COLUMN ingest_seq_from BIGINT;
ALTER TABLE drift_snapshots ADD COLUMN ingest_seq_to BIGINT;

UPDATE drift_snapshots SET ingest_seq_to = (
    SELECT coalesce(max(p.ingest_seq), 0) FROM predictions AS p
    WHERE p.ts < drift_snapshots.window_end)
WHERE window_end IS NOT NULL;
