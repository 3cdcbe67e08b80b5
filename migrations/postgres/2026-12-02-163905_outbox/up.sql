-- The notifications outbox: one row per event that tells a person something (a gate opened, an
-- agent needs input, a run failed or completed), written in the same durable step as the event
-- and keyed by the event's idempotency key, so a replayed step adds none. A notifier sends each
-- pending row to the sinks of the run's workflow and of the user's file: `delivered` lists the
-- sinks that have it (a JSON array), `claimed_by`/`claimed_until` keep two notifiers from
-- sending one row at once, and a row that fails is retried at `next_attempt_at` until it is
-- given up (`failed`, its error in `last_error`).
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    event_key TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    delivered TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_by_run ON notifications (run_id, id);
