//! The one hand-written `table!` schema both backends share (see migrations/{sqlite,postgres}).
//!
//! Only portable SQL types appear here — `Text` for ids, states and canonical JSON, `BigInt` for
//! epoch milliseconds — so the same query type-checks against SQLite and PostgreSQL. The
//! round-trip tests in `tests/it` are what keep this file honest against the migrations.

diesel::table! {
    runs (id) {
        id -> Text,
        workflow -> Text,
        state -> Text,
        current_phase_id -> Nullable<Text>,
        paused_from_state -> Nullable<Text>,
        worktree -> Text,
        definition -> Text,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        ended_at -> Nullable<BigInt>,
        lease_epoch -> BigInt,
        submitted_at -> Nullable<BigInt>,
        agent_host -> Nullable<Text>,
        lease_takeovers -> BigInt,
    }
}

diesel::table! {
    workers (id) {
        id -> Text,
        host -> Text,
        pid -> BigInt,
        version -> Text,
        concurrency -> BigInt,
        started_at -> BigInt,
        heartbeat_at -> BigInt,
    }
}

diesel::table! {
    run_phases (id) {
        id -> Text,
        run_id -> Text,
        phase_key -> Text,
        ordinal -> Integer,
        state -> Text,
        attempts -> Integer,
        started_at -> Nullable<BigInt>,
        ended_at -> Nullable<BigInt>,
        artifact_id -> Nullable<Text>,
    }
}

diesel::table! {
    run_events (id) {
        id -> BigInt,
        run_id -> Text,
        phase_id -> Nullable<Text>,
        #[sql_name = "type"]
        kind -> Text,
        payload -> Text,
        idempotency_key -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    artifacts (id) {
        id -> Text,
        run_id -> Text,
        phase_id -> Text,
        path -> Text,
        schema_id -> Text,
        hash -> Text,
        valid -> Bool,
        validation_error -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    approval_requests (id) {
        id -> Text,
        run_id -> Text,
        phase_id -> Text,
        gate_key -> Text,
        state -> Text,
        idempotency_key -> Text,
        payload -> Text,
        decided_by -> Nullable<Text>,
        decision_note -> Nullable<Text>,
        created_at -> BigInt,
        decided_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    tui_sessions (id) {
        id -> Text,
        run_id -> Text,
        role_id -> Text,
        backend -> Text,
        cwd -> Text,
        expected_artifact_path -> Text,
        expected_schema -> Text,
        state -> Text,
        last_prompt_hash -> Nullable<Text>,
        last_prompt_at -> Nullable<BigInt>,
        recovery_attempts -> Integer,
        last_capture_seq -> BigInt,
        last_known_pane_pid -> Nullable<BigInt>,
        tmux_session -> Nullable<Text>,
        tmux_window -> Nullable<Text>,
        tmux_pane -> Nullable<Text>,
        created_at -> BigInt,
        artifact_baseline -> Nullable<Text>,
    }
}

diesel::table! {
    tui_transcripts (session_id, seq) {
        session_id -> Text,
        seq -> BigInt,
        captured_at -> BigInt,
        text -> Text,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        run_id -> Text,
        event_key -> Text,
        topic -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<BigInt>,
        delivered -> Text,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(run_phases -> runs (run_id));
diesel::joinable!(run_events -> runs (run_id));
diesel::joinable!(artifacts -> runs (run_id));
diesel::joinable!(approval_requests -> runs (run_id));
diesel::joinable!(tui_sessions -> runs (run_id));
diesel::joinable!(tui_transcripts -> tui_sessions (session_id));
diesel::joinable!(notifications -> runs (run_id));

diesel::allow_tables_to_appear_in_same_query!(
    runs,
    run_phases,
    run_events,
    artifacts,
    approval_requests,
    tui_sessions,
    tui_transcripts,
    notifications,
);
