-- 012: prediction ids as an idempotency key where several hosts ingest into one history.
-- Nothing to do on DuckDB: one writer per file, and spool_segments makes ingestion exactly
-- once; an index on predictions.id would slow bulk ingestion (see 001). The PostgreSQL
-- version (engine/sql/postgres/012_prediction_ids.sql) adds the unique index that
-- INSERT ... ON CONFLICT (id) DO NOTHING needs, and the indexes its reads need.
SELECT 1;
