-- 011: the webhook outbox (issue 17). One row per (event, receiver), inserted in the same
-- transaction as the decision, retraining event, approval or audit record that caused it, so
-- an event is never lost between deciding and telling. The sender claims due rows with a lease
-- (claimed_until), posts them and records each attempt; rows are never deleted (history).
-- Bookkeeping times are wall-clock naive UTC (retries happen in real time); the event's own
-- engine-clock time is inside payload.

CREATE SEQUENCE IF NOT EXISTS outbox_seq START 1;

CREATE TABLE IF NOT EXISTS outbox (
    id VARCHAR PRIMARY KEY,
    seq BIGINT NOT NULL DEFAULT nextval('outbox_seq'),
    event_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    receiver VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,          -- pending, delivered, failed (gave up)
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_error VARCHAR NOT NULL,
    delivered_at TIMESTAMP,
    payload VARCHAR NOT NULL          -- NotifyEvent.to_json(), rendered per receiver format
);
