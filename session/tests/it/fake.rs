//! The fake adapter's stories: every scenario, scripted failures, and state that outlives the
//! adapter instance (deliveries counted across a "restart").

use std::path::Path;

use devflow_core::Code;
use devflow_session::fake::FakeAdapter;
use devflow_session::{HINT_LIVENESS_ONLY, SessionAdapter, SessionHandle, is_session_hung, now_ms};
use serde_json::{Value, json};

use crate::support::{envelope, eventually, spec};

struct World {
    dir: tempfile::TempDir,
    fake: FakeAdapter,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeAdapter::new(&dir.path().join("state"));
        World { dir, fake }
    }

    fn worktree(&self) -> &Path {
        self.dir.path()
    }

    async fn start(&self, instructions: &str) -> SessionHandle {
        let id = self.fake.reserve_session_id();
        self.fake.start(&spec(&id, self.worktree(), instructions)).await.unwrap()
    }

    /// Sends a prompt with `instructions` asking for `out/plan.json`; returns the dedup key.
    async fn send(&self, handle: &SessionHandle, instructions: &str) -> String {
        let envelope = envelope("out/plan.json", 1, instructions);
        let receipt = self.fake.send_prompt(handle, &envelope).await.unwrap();
        assert_eq!(receipt.prompt_id, envelope.dedup_key);
        envelope.dedup_key
    }

    fn artifact(&self) -> Option<Vec<u8>> {
        std::fs::read(self.worktree().join("out/plan.json")).ok()
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn ok_writes_the_fenced_json_block_or_an_empty_object() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: ok\n```json\n{\"steps\": [\"a\"]}\n```").await;
    assert_eq!(json_of(&world.artifact().unwrap()), json!({"steps": ["a"]}));

    world.send(&handle, "Plan it.").await;
    assert_eq!(json_of(&world.artifact().unwrap()), json!({}));
    let probe = world.fake.probe(&handle).await.unwrap();
    assert!(probe.alive && probe.pane_active && probe.hint.is_none());
}

#[tokio::test]
async fn absolute_artifact_paths_are_used_as_they_are() {
    let world = World::new();
    let handle = world.start("").await;
    let target = world.worktree().join("deep/er/a.json");
    let envelope = envelope(target.to_str().unwrap(), 1, "Scenario: ok");
    world.fake.send_prompt(&handle, &envelope).await.unwrap();
    assert_eq!(json_of(&std::fs::read(target).unwrap()), json!({}));
}

#[tokio::test]
async fn invalid_and_malformed_write_what_fails_validation() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: invalid").await;
    assert_eq!(json_of(&world.artifact().unwrap()), json!({"devflowFakeInvalid": true}));

    world.send(&handle, "Scenario: invalid\n```json invalid\n{\"steps\": 7}\n```").await;
    assert_eq!(json_of(&world.artifact().unwrap()), json!({"steps": 7}));

    world.send(&handle, "Scenario: malformed").await;
    let bytes = world.artifact().unwrap();
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());
}

#[tokio::test]
async fn none_writes_nothing_and_stays_alive() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: none").await;
    assert_eq!(world.artifact(), None);
    let probe = world.fake.probe(&handle).await.unwrap();
    assert!(probe.alive);
    assert!(!is_session_hung(probe.last_output_at_ms, now_ms(), 60_000));
}

#[tokio::test]
async fn hang_goes_silent_and_rebootstrap_brings_it_back() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: hang").await;
    assert_eq!(world.artifact(), None);
    let probe = world.fake.probe(&handle).await.unwrap();
    assert!(probe.alive && probe.pane_active);
    assert!(is_session_hung(probe.last_output_at_ms, now_ms(), 60_000));

    world.fake.rebootstrap(&handle).await.unwrap();
    let probe = world.fake.probe(&handle).await.unwrap();
    assert!(!is_session_hung(probe.last_output_at_ms, now_ms(), 60_000));
    world.send(&handle, "Scenario: ok").await;
    assert!(world.artifact().is_some());
}

#[tokio::test]
async fn crash_dies_refuses_prompts_and_rebootstrap_revives_it() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: crash").await;
    let probe = world.fake.probe(&handle).await.unwrap();
    assert!(!probe.alive);
    assert_eq!(probe.hint.as_deref(), Some("pane_dead_status=3"));
    let refused = world.fake.send_prompt(&handle, &envelope("a.json", 2, "x")).await.unwrap_err();
    assert!(refused.is(Code::SessionUnavailable));

    world.fake.rebootstrap(&handle).await.unwrap();
    assert!(world.fake.probe(&handle).await.unwrap().alive);
}

#[tokio::test]
async fn slow_writes_in_chunks_after_send_returns() {
    let world = World::new();
    let handle = world.start("").await;
    let block = "```json\n{\"steps\": [\"one\", \"two\", \"three\"]}\n```";
    world.send(&handle, &format!("Scenario: slow\nSlow-Ms: 600\n{block}")).await;
    assert_eq!(world.artifact(), None, "slow must not have written anything yet");
    let complete = eventually("the slow artifact", async || {
        world.artifact().filter(|bytes| serde_json::from_slice::<Value>(bytes).is_ok())
    })
    .await;
    assert_eq!(json_of(&complete), json!({"steps": ["one", "two", "three"]}));
    let transcript = world.fake.capture(&handle, 0).await.unwrap().text();
    assert!(transcript.contains("wrote chunk 1 of 3"), "{transcript}");
}

#[tokio::test]
async fn scripted_recoverable_failures_pass_after_n_and_deliver_once() {
    let world = World::new();
    let id = world.fake.reserve_session_id();
    let spec = spec(&id, world.worktree(), "Fail-Start: recoverable 2\nFail-Probe: recoverable 1");
    for _ in 0..2 {
        let error = world.fake.start(&spec).await.unwrap_err();
        assert!(error.is(Code::SessionUnavailable), "{error}");
    }
    let handle = world.fake.start(&spec).await.unwrap();
    assert!(world.fake.probe(&handle).await.unwrap_err().is(Code::SessionUnavailable));
    assert!(world.fake.probe(&handle).await.is_ok());

    let envelope = envelope("out/plan.json", 1, "Fail-Send: recoverable 2");
    for _ in 0..2 {
        let error = world.fake.send_prompt(&handle, &envelope).await.unwrap_err();
        assert!(error.is(Code::SessionUnavailable), "{error}");
        assert_eq!(world.fake.deliveries(&envelope.dedup_key), 0, "a failed send delivers nothing");
    }
    world.fake.send_prompt(&handle, &envelope).await.unwrap();
    assert_eq!(world.fake.deliveries(&envelope.dedup_key), 1);
}

#[tokio::test]
async fn scripted_failures_count_their_calls_and_fatal_ones_stay_fatal() {
    let world = World::new();
    let handle = world.start("Fail-Rebootstrap: recoverable 5\nFail-Resume: fatal").await;
    for call in 1..=5 {
        let error = world.fake.rebootstrap(&handle).await.unwrap_err();
        assert!(error.is(Code::SessionUnavailable), "{error}");
        assert!(error.message().contains(&format!("failure {call} of 5")), "{error}");
    }
    assert!(world.fake.rebootstrap(&handle).await.is_ok(), "it passes after its 5 failures");

    let error = world.fake.resume(&handle).await.unwrap_err();
    assert!(error.is(Code::SessionBackendFailed));

    let envelope = envelope("out/plan.json", 1, "Fail-Send: fatal");
    let error = world.fake.send_prompt(&handle, &envelope).await.unwrap_err();
    assert!(error.is(Code::SessionBackendFailed));
    assert_eq!(world.fake.deliveries(&envelope.dedup_key), 0);
}

#[tokio::test]
async fn a_new_adapter_on_the_same_dir_resumes_and_counts_every_delivery() {
    let world = World::new();
    let handle = world.start("").await;
    let first = world.send(&handle, "Scenario: hang").await;

    // A fresh process after a crash: same directory, new adapter.
    let restarted = FakeAdapter::new(&world.dir.path().join("state"));
    let handle = restarted.resume(&handle).await.unwrap();
    let probe = restarted.probe(&handle).await.unwrap();
    assert!(probe.alive && is_session_hung(probe.last_output_at_ms, now_ms(), 60_000));
    restarted.rebootstrap(&handle).await.unwrap();
    let envelope = envelope("out/plan.json", 1, "Scenario: hang");
    assert_eq!(envelope.dedup_key, first);
    restarted.send_prompt(&handle, &envelope).await.unwrap();

    assert_eq!(restarted.deliveries(&first), 2);
    assert_eq!(world.fake.deliveries(&first), 2);
    assert_eq!(world.fake.deliveries("never-sent"), 0);
    assert_eq!(world.fake.deliveries_total(), 2);
}

#[tokio::test]
async fn a_state_folder_emptied_behind_the_adapter_starts_over() {
    let world = World::new();
    let handle = world.start("").await;
    world.send(&handle, "Scenario: ok").await;
    assert_eq!(world.fake.deliveries_total(), 1);

    std::fs::remove_dir_all(world.dir.path().join("state")).unwrap();

    assert_eq!(world.fake.deliveries_total(), 0);
    let error = world.fake.resume(&handle).await.unwrap_err();
    assert!(error.is(Code::SessionNotFound));
    let again = world.start("").await;
    world.send(&again, "Scenario: ok").await;
    assert_eq!(world.fake.deliveries_total(), 1);
}

#[tokio::test]
async fn unknown_and_disposed_sessions_are_not_found() {
    let world = World::new();
    let ghost = SessionHandle::for_session("ghost");
    assert!(world.fake.resume(&ghost).await.unwrap_err().is(Code::SessionNotFound));
    assert!(world.fake.probe(&ghost).await.unwrap_err().is(Code::SessionNotFound));

    let handle = world.start("").await;
    world.fake.dispose(&handle).await.unwrap();
    world.fake.dispose(&handle).await.unwrap();
    assert!(world.fake.probe(&handle).await.unwrap_err().is(Code::SessionNotFound));
    assert!(world.fake.resume(&handle).await.unwrap_err().is(Code::SessionNotFound));
    let error = world.fake.send_prompt(&handle, &envelope("a.json", 1, "")).await.unwrap_err();
    assert!(error.is(Code::SessionNotFound));
}

#[tokio::test]
async fn readiness_unknown_is_a_probe_hint() {
    let world = World::new();
    let handle = world.start("Probe: readiness-unknown").await;
    let probe = world.fake.probe(&handle).await.unwrap();
    assert_eq!(probe.hint.as_deref(), Some(HINT_LIVENESS_ONLY));
}

#[tokio::test]
async fn capture_is_incremental_and_in_order() {
    let world = World::new();
    let handle = world.start("").await;
    let key = world.send(&handle, "Scenario: ok").await;
    let first = world.fake.capture(&handle, 0).await.unwrap();
    let text = first.text();
    assert!(text.contains(&format!("prompt received: dedup_key={key} scenario=ok")), "{text}");
    assert!(text.contains("artifact written"), "{text}");
    let seq = first.last_seq(0);
    assert!(seq > 0);

    let again = world.fake.capture(&handle, seq).await.unwrap();
    assert!(again.chunks.is_empty(), "nothing new: {again:?}");
    assert_eq!(again.last_seq(seq), seq);
    world.send(&handle, "Scenario: none").await;
    let later = world.fake.capture(&handle, seq).await.unwrap();
    assert!(!later.chunks.is_empty());
    let seqs: Vec<i64> = later.chunks.iter().map(|chunk| chunk.seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]) && seqs[0] > seq);
}
