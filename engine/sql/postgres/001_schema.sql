-- 001 for PostgreSQL: the same tables as engine/sql/001_schema.sql, with DOUBLE spelled
-- DOUBLE PRECISION (PostgreSQL has no DOUBLE). Everything else is the same text.
-- 001: the history tables. Timestamps are naive UTC; JSON-ish fields are JSON text.
-- predictions has no primary key on purpose: an index would slow bulk ingestion, and
-- exactly-once is guaranteed by spool_segments (a segment is ingested in one transaction
-- together with its row there).

CREATE TABLE IF NOT EXISTS predictions (
    id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    text VARCHAR NOT NULL,
    model_version INTEGER NOT NULL,
    label VARCHAR NOT NULL,
    spam_probability DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    source VARCHAR NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS feedback_seq START 1;

CREATE TABLE IF NOT EXISTS feedback (
    id BIGINT NOT NULL DEFAULT nextval('feedback_seq'),
    prediction_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    label VARCHAR NOT NULL,
    source VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS drift_snapshots (
    id VARCHAR PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    model_version INTEGER,
    n INTEGER NOT NULL,
    window_start TIMESTAMP,
    window_end TIMESTAMP,
    vocabulary_drift DOUBLE PRECISION NOT NULL,
    tfidf_drift DOUBLE PRECISION NOT NULL,
    prediction_drift DOUBLE PRECISION,
    prediction_p_value DOUBLE PRECISION,
    drift_score DOUBLE PRECISION NOT NULL,
    p_value DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    drift_detected BOOLEAN NOT NULL,
    new_patterns VARCHAR NOT NULL,
    recommendation VARCHAR NOT NULL,
    spam_rate DOUBLE PRECISION,
    source VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS decisions (
    id VARCHAR PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    trigger VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,
    reasons VARCHAR NOT NULL,
    window_size INTEGER NOT NULL,
    accuracy DOUBLE PRECISION,
    accuracy_is_estimate BOOLEAN NOT NULL,
    accuracy_low DOUBLE PRECISION,
    accuracy_high DOUBLE PRECISION,
    n_labels INTEGER NOT NULL,
    drift_score DOUBLE PRECISION,
    thresholds VARCHAR NOT NULL,
    champion_version INTEGER,
    snapshot_id VARCHAR,
    retraining_id VARCHAR,
    outcome VARCHAR NOT NULL,
    actor VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS retraining_events (
    id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    trigger VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    champion_version INTEGER,
    finished_at TIMESTAMP,
    challenger_version INTEGER,
    deployment VARCHAR,
    improvement DOUBLE PRECISION,
    reasoning VARCHAR NOT NULL,
    comparison VARCHAR,
    lineage VARCHAR NOT NULL,
    decision_id VARCHAR,
    pid INTEGER,
    actor VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS approvals (
    id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    retraining_id VARCHAR NOT NULL,
    challenger_version INTEGER NOT NULL,
    champion_version INTEGER,
    status VARCHAR NOT NULL,
    comparison VARCHAR NOT NULL,
    decided_at TIMESTAMP,
    decided_by VARCHAR,
    reason VARCHAR
);

CREATE TABLE IF NOT EXISTS model_versions (
    version INTEGER PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    metrics VARCHAR NOT NULL,
    lineage VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS job_runs (
    id VARCHAR PRIMARY KEY,
    job VARCHAR NOT NULL,
    scheduled_at TIMESTAMP,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    outcome VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    holder VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    seq BIGINT PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    details VARCHAR NOT NULL,
    reasoning VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS spool_segments (
    name VARCHAR PRIMARY KEY,
    ingested_at TIMESTAMP NOT NULL,
    rows BIGINT NOT NULL
);
