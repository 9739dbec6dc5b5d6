-- 009: labels in bulk (issue 15). A label that contradicts the prediction's current true
-- label is kept and flagged here; the newest label still counts (predictions.true_label).
-- A repeat of the current label is not stored again, so importing a file twice adds nothing.

ALTER TABLE feedback ADD COLUMN IF NOT EXISTS conflict BOOLEAN DEFAULT false;
ALTER TABLE feedback ADD COLUMN IF NOT EXISTS previous_label VARCHAR;
