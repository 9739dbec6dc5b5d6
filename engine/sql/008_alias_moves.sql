-- 008: champion changes as intents (issue 14). A change of champion spans the MLflow registry
-- (aliases) and this history, which cannot share a transaction. The intended move is written
-- here first (status 'pending', with the aliases before and after), then the aliases move,
-- then the row is marked 'done'. A process that dies in between leaves a 'pending' row, which
-- the next start finishes (aliases already at aliases_after) or undoes (anything else): 'recovered'
-- or 'undone'. A move that failed and was put back at once is 'undone' too.

CREATE TABLE IF NOT EXISTS alias_moves (
    id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,          -- adopt, promote, rollback, deploy, approve
    aliases_before VARCHAR NOT NULL, -- JSON {alias: version} as read under the champion lock
    aliases_after VARCHAR NOT NULL,  -- JSON {alias: version} intended
    status VARCHAR NOT NULL,        -- pending, done, recovered, undone
    actor VARCHAR NOT NULL,
    reasoning VARCHAR NOT NULL,
    approval_id VARCHAR,            -- the approval an 'approve' move decides
    pid INTEGER NOT NULL,
    finished_at TIMESTAMP
);
