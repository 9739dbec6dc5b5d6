-- 010: retention of prediction texts (issue 18).
-- After `retention.text_days` a prediction's text is replaced by a keyed hash (HMAC-SHA256
-- with <home>/retention.key) and its length; every other column stays, so the daily views,
-- windows, decisions and labels are unchanged. text becomes NULL for a pruned row.

ALTER TABLE predictions ALTER COLUMN text DROP NOT NULL;
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS text_hmac VARCHAR;
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS text_length INTEGER;
