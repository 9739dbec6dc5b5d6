-- 007: the spool ledger records what it ingested: the sha256 of each segment's record lines
-- (header and seal excluded). Recovery ingests only segments tagged with the data home key
-- (engine/store/spool.py); this column lets an audit match the ledger against the files.

ALTER TABLE spool_segments ADD COLUMN sha256 VARCHAR;
