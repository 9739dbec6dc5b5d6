-- 003: keep each prediction's latest true label on the prediction row.
-- The accuracy views then need no join of predictions with feedback: joining two
-- million-row tables on string ids took 0.55-1.2 s on a file (2 cores), the target is
-- < 0.5 s. feedback stays the append-only history and the source of truth; these columns
-- are derived from it, in the same transaction as every feedback insert (see store.py).

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
       count(*) FILTER (WHERE label = true_label) / count(*) AS accuracy
FROM predictions
WHERE true_label IS NOT NULL
GROUP BY day
ORDER BY day;
