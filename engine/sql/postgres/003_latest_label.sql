-- 003 for PostgreSQL: engine/sql/003_latest_label.sql with the accuracy as a DOUBLE PRECISION
-- division (PostgreSQL divides integers as integers).

ALTER TABLE predictions ADD COLUMN IF NOT EXISTS true_label VARCHAR;
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS labelled_at TIMESTAMP;

UPDATE predictions AS p
SET true_label = f.true_label, labelled_at = f.labelled_at
FROM v_latest_feedback AS f
WHERE p.id = f.prediction_id;

CREATE OR REPLACE VIEW v_daily_accuracy AS
SELECT CAST(ts AS DATE) AS day,
       count(*) AS labelled,
       count(*) FILTER (WHERE label = true_label) AS correct,
       CAST(count(*) FILTER (WHERE label = true_label) AS DOUBLE PRECISION) / count(*)
           AS accuracy
FROM predictions
WHERE true_label IS NOT NULL
GROUP BY day
ORDER BY day;
