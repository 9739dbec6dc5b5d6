-- 005 for PostgreSQL: engine/sql/005_drift_baseline.sql with DOUBLE spelled DOUBLE PRECISION.
-- Issue 13 (items 3, 4, 5, 8): the accepted drift baseline of each champion, the components a
-- drift alert came from, the sequential (CUSUM) statistic, and estimates marked unreliable.

CREATE TABLE IF NOT EXISTS accepted_baseline (
    id VARCHAR PRIMARY KEY,
    champion_version INTEGER NOT NULL,
    window_start TIMESTAMP,
    window_end TIMESTAMP NOT NULL,
    n INTEGER NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    snapshot_id VARCHAR,
    retraining_id VARCHAR,
    outcome VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    reset_at TIMESTAMP,
    reset_by VARCHAR
);

ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS drift_components VARCHAR DEFAULT '[]';
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS spam_rate_drift DOUBLE PRECISION;
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS text_p_value DOUBLE PRECISION;
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS cusum DOUBLE PRECISION;
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS drift_confirmed BOOLEAN DEFAULT false;
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS baseline_key VARCHAR DEFAULT '';
ALTER TABLE drift_snapshots ADD COLUMN IF NOT EXISTS accuracy_unreliable BOOLEAN DEFAULT false;
ALTER TABLE decisions ADD COLUMN IF NOT EXISTS accuracy_unreliable BOOLEAN DEFAULT false;
