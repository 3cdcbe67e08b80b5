-- devflow's schema on PostgreSQL. Keep in step with ../../sqlite/2026-11-24-000001_initial/up.sql
-- and db/src/schema.rs: ids are TEXT (UUIDv7), times BIGINT epoch milliseconds, JSON is the
-- canonical JSON text (never a JSON type that would reorder keys).

CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    current_phase_id TEXT,
    paused_from_state TEXT,
    worktree TEXT NOT NULL,
    definition TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX runs_by_created_at ON runs (created_at);

CREATE TABLE run_phases (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    phase_key TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at BIGINT,
    ended_at BIGINT,
    UNIQUE (run_id, ordinal)
);

CREATE TABLE run_events (
    id BIGSERIAL PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (id),
    phase_id TEXT,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX run_events_by_run ON run_events (run_id, id);
CREATE INDEX run_events_by_phase_type ON run_events (run_id, phase_id, type);

CREATE TABLE artifacts (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    phase_id TEXT NOT NULL,
    path TEXT NOT NULL,
    schema_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    valid BOOLEAN NOT NULL,
    validation_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (run_id, path, hash)
);
CREATE INDEX artifacts_by_phase_path_schema ON artifacts (run_id, phase_id, path, schema_id, created_at);

CREATE TABLE approval_requests (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    phase_id TEXT NOT NULL,
    gate_key TEXT NOT NULL,
    state TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    decided_by TEXT,
    decision_note TEXT,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX approval_requests_by_run ON approval_requests (run_id, created_at);

CREATE TABLE tui_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (id),
    role_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    cwd TEXT NOT NULL,
    expected_artifact_path TEXT NOT NULL,
    expected_schema TEXT NOT NULL,
    state TEXT NOT NULL,
    last_prompt_hash TEXT,
    last_prompt_at BIGINT,
    recovery_attempts INTEGER NOT NULL DEFAULT 0,
    last_capture_seq BIGINT NOT NULL DEFAULT 0,
    last_known_pane_pid BIGINT,
    tmux_session TEXT,
    tmux_window TEXT,
    tmux_pane TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX tui_sessions_by_run_role ON tui_sessions (run_id, role_id);

CREATE TABLE tui_transcripts (
    session_id TEXT NOT NULL REFERENCES tui_sessions (id),
    seq BIGINT NOT NULL,
    captured_at BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
