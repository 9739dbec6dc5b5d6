-- 012 for PostgreSQL: prediction ids are the idempotency key of spool ingestion (a batch
-- whose commit was acknowledged to no one, because the connection dropped, is retried and
-- adds nothing: INSERT ... ON CONFLICT (id) DO NOTHING), and the indexes that PostgreSQL's
-- reads need where DuckDB uses its zone maps (windows by ingest_seq and ts, labels by
-- labelled_at, feedback by prediction id, the audit chain by action).

CREATE UNIQUE INDEX IF NOT EXISTS predictions_id_key ON predictions (id);
CREATE INDEX IF NOT EXISTS predictions_ingest_seq ON predictions (ingest_seq);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE INDEX IF NOT EXISTS predictions_labelled_at ON predictions (labelled_at);
CREATE INDEX IF NOT EXISTS feedback_prediction_id ON feedback (prediction_id);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log (action, seq);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (receiver, seq) WHERE status = 'pending';
