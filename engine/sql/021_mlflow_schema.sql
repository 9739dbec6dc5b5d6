-- 021: the schema MLflow's tables live in when the MLflow tracking server shares the store's
-- PostgreSQL database (issue 16, item 3; engine/tracking_server.py). MLflow has its own
-- `model_versions` table, which would collide with ours in the default schema, and no option
-- to pick a schema, so `spamops mlflow-server` points it here through `search_path`. On DuckDB
-- the schema stays empty (nothing uses it); the statement is the same on both backends.

CREATE SCHEMA IF NOT EXISTS mlflow;
