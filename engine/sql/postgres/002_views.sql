-- 002 for PostgreSQL: the views of engine/sql/002_views.sql, same names and columns.
-- PostgreSQL has no arg_max (DISTINCT ON picks the latest label), divides integers as
-- integers (the rates are cast to DOUBLE PRECISION) and has no date_diff (whole seconds from
-- EXTRACT(EPOCH ...), truncated).

CREATE OR REPLACE VIEW v_latest_feedback AS
SELECT DISTINCT ON (prediction_id) prediction_id, label AS true_label, ts AS labelled_at
FROM feedback
ORDER BY prediction_id, ts DESC, id DESC;

CREATE OR REPLACE VIEW v_daily_traffic AS
SELECT CAST(ts AS DATE) AS day,
       count(*) AS predictions,
       count(*) FILTER (WHERE label = 'spam') AS spam_predicted,
       CAST(count(*) FILTER (WHERE label = 'spam') AS DOUBLE PRECISION) / count(*) AS spam_rate
FROM predictions
GROUP BY day
ORDER BY day;

CREATE OR REPLACE VIEW v_daily_accuracy AS
SELECT CAST(p.ts AS DATE) AS day,
       count(*) AS labelled,
       count(*) FILTER (WHERE p.label = f.true_label) AS correct,
       CAST(count(*) FILTER (WHERE p.label = f.true_label) AS DOUBLE PRECISION) / count(*)
           AS accuracy
FROM predictions AS p
JOIN v_latest_feedback AS f ON f.prediction_id = p.id
GROUP BY day
ORDER BY day;

CREATE OR REPLACE VIEW v_drift_history AS
SELECT ts,
       CAST(ts AS DATE) AS day,
       model_version,
       n,
       drift_score,
       threshold,
       drift_detected,
       p_value,
       vocabulary_drift,
       tfidf_drift,
       prediction_drift,
       spam_rate,
       recommendation,
       source,
       id AS snapshot_id
FROM drift_snapshots
ORDER BY ts;

CREATE OR REPLACE VIEW v_retraining_history AS
SELECT r.started_at,
       r.finished_at,
       CAST(trunc(EXTRACT(EPOCH FROM (r.finished_at - r.started_at))) AS BIGINT)
           AS duration_seconds,
       r.trigger,
       r.status,
       r.champion_version,
       r.challenger_version,
       r.deployment,
       r.improvement,
       CASE
           WHEN r.status = 'running' THEN 'running'
           WHEN r.status = 'failed' THEN 'failed'
           WHEN r.status = 'interrupted' THEN 'interrupted'
           WHEN r.deployment IN ('DEPLOY', 'APPROVED')
               THEN 'deployed v' || CAST(r.challenger_version AS VARCHAR)
           WHEN r.deployment IN ('KEEP', 'REJECTED')
               THEN 'kept v' || coalesce(CAST(r.champion_version AS VARCHAR), '?')
           WHEN r.deployment = 'PENDING_APPROVAL' THEN 'pending approval'
           ELSE r.status
       END AS outcome,
       r.reasoning,
       r.actor,
       r.decision_id,
       r.id AS retraining_id
FROM retraining_events AS r
ORDER BY r.started_at;
