//! An agent that plays tricks with the artifact on disk, on every backend: a folder swapped for
//! a link out of the worktree while the run waits or before it starts, a FIFO and a folder at
//! the artifact path — and the invalid artifact a repair prompt leaves in place for its agent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devflow_core::{Code, PromptEnvelope, Result, RunState, hash_bytes};
use devflow_phase::testing::quick_retry;
use devflow_phase::{PhaseReport, PhaseRunner, PhaseSpec};
use devflow_session::fake::FakeAdapter;
use devflow_session::{
    Capture, ProbeResult, PromptLocation, PromptReceipt, SessionAdapter, SessionHandle, SessionSpec,
};
use tokio_util::sync::CancellationToken;

use crate::support::{Harness, VALID_PLAN, harnesses, wait_for_event};

const SECRET: &[u8] = br#"{"title": "secret", "steps": []}"#;

/// A phase whose agent writes nothing, with a wait long enough to play a trick in.
fn idle_spec(h: &Harness) -> PhaseSpec {
    let mut spec = h.spec("plan", "Scenario: none\nRepair-Scenario: none");
    spec.wait.timeout_ms = 1_500;
    spec
}

/// Runs `spec` in the background until its first wait, plays `trick`, and returns how the
/// phase ended — failing, not hanging, if the runner blocks.
async fn run_with_trick(h: &Harness, spec: PhaseSpec, trick: impl FnOnce()) -> Result<PhaseReport> {
    let runner = h.runner();
    let phase = tokio::spawn(async move { runner.run(spec, CancellationToken::new()).await });
    wait_for_event(h, "artifact.expected").await;
    trick();
    let ended = tokio::time::timeout(Duration::from_secs(60), phase).await;
    ended.expect("the phase blocked on the artifact").unwrap()
}

/// The message of the first `artifact.invalid` event.
async fn invalid_reason(h: &Harness) -> String {
    let events = h.events().await;
    let invalid = events.iter().find(|event| event.kind == "artifact.invalid");
    let invalid = invalid.unwrap_or_else(|| panic!("no artifact.invalid on {}", h.backend()));
    invalid.payload["errors"][0]["message"].as_str().unwrap().to_owned()
}

fn outside_with_secret() -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("plan.json"), SECRET).unwrap();
    outside
}

fn assert_secret_intact(outside: &tempfile::TempDir) {
    let bytes = std::fs::read(outside.path().join("plan.json")).expect("the outside file exists");
    assert_eq!(bytes, SECRET, "the file outside the worktree is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_swapped_for_a_link_out_while_the_run_waits_is_neither_read_nor_deleted() {
    for h in harnesses().await {
        let outside = outside_with_secret();
        let folder = h.artifact().parent().unwrap().to_path_buf();
        let ended = run_with_trick(&h, idle_spec(&h), || {
            let _ = std::fs::remove_dir_all(&folder);
            std::os::unix::fs::symlink(outside.path(), &folder).unwrap();
        })
        .await;
        assert_secret_intact(&outside);
        let reason = invalid_reason(&h).await;
        assert!(reason.contains("is a symbolic link"), "{reason}");
        let events = h.events().await;
        assert!(!events.iter().any(|event| event.kind == "artifact.validated"), "never read");
        let hashes: Vec<_> = events.iter().filter_map(|event| event.payload.get("hash")).collect();
        let secret = hash_bytes(SECRET);
        assert!(hashes.iter().all(|hash| *hash != secret.as_str()), "{hashes:?}");
        // The repair prompt went out and the agent left the link: a person decides.
        assert!(ended.is_err(), "{}", h.backend());
        assert_eq!(h.run_row().await.state, RunState::Paused, "{}", h.backend());
    }
}

#[tokio::test]
async fn a_folder_linked_out_before_the_phase_is_refused_and_nothing_outside_is_removed() {
    for h in harnesses().await {
        let outside = outside_with_secret();
        std::os::unix::fs::symlink(outside.path(), h.worktree.path().join("artifacts")).unwrap();
        let error = h.run(h.spec("plan", "Scenario: none")).await.unwrap_err();
        assert_eq!(error.code(), Code::ArtifactOutsideWorktree, "{error}");
        assert!(error.message().contains("artifacts/plan.json"), "{error}");
        assert!(error.message().contains("is a symbolic link"), "{error}");
        assert_secret_intact(&outside);
        assert_eq!(h.run_row().await.state, RunState::Failed, "{}", h.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_at_the_artifact_path_is_invalid_and_the_agent_repairs_it() {
    for h in harnesses().await {
        let mut spec =
            h.spec("plan", &format!("Scenario: none\nRepair-Scenario: ok\n{VALID_PLAN}"));
        spec.wait.timeout_ms = 5_000;
        let fifo = h.artifact();
        let ended = run_with_trick(&h, spec, || {
            std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
            let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
            assert!(made.success(), "mkfifo");
        });
        let ended = unblock_fifo_if_stuck(&fifo, ended).await;
        let reason = invalid_reason(&h).await;
        assert!(reason.contains("is a FIFO, not a regular file: write a regular file"), "{reason}");
        ended.unwrap_or_else(|error| panic!("{}: {error}", h.backend()));
        assert_eq!(h.run_row().await.state, RunState::Completed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_at_the_artifact_path_is_invalid_not_a_failure() {
    for h in harnesses().await {
        let artifact = h.artifact();
        let ended = run_with_trick(&h, idle_spec(&h), || {
            std::fs::create_dir_all(&artifact).unwrap();
        })
        .await;
        let reason = invalid_reason(&h).await;
        assert!(reason.contains("is a folder, not a regular file"), "{reason}");
        assert!(ended.is_err());
        assert_eq!(h.run_row().await.state, RunState::Paused, "a gate, not a failed run");
    }
}

/// A regression that opens the FIFO blocks in `open` until a writer comes: be that writer, so
/// that the test fails with a message instead of hanging.
async fn unblock_fifo_if_stuck(
    fifo: &Path,
    ended: impl std::future::Future<Output = Result<PhaseReport>>,
) -> Result<PhaseReport> {
    let fifo = fifo.to_path_buf();
    let watchdog = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let nonblocking = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK;
        let _ = rustix::fs::open(&fifo, nonblocking, rustix::fs::Mode::empty());
        true
    });
    let ended = ended.await;
    watchdog.abort();
    assert!(!matches!(watchdog.await, Ok(true)), "the runner blocked on the FIFO");
    ended
}

/// The fake agent, with a look at the artifact on disk each time a prompt reaches it.
struct Witness {
    fake: Arc<FakeAdapter>,
    artifact: PathBuf,
    /// What was at the artifact path when each prompt arrived, by attempt.
    seen: Mutex<Vec<(u32, Option<Vec<u8>>)>>,
}

#[async_trait]
impl SessionAdapter for Witness {
    fn backend(&self) -> &'static str {
        self.fake.backend()
    }
    async fn start(&self, spec: &SessionSpec) -> Result<SessionHandle> {
        self.fake.start(spec).await
    }
    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let on_disk = std::fs::read(&self.artifact).ok();
        self.seen.lock().unwrap().push((envelope.attempt, on_disk));
        self.fake.send_prompt(handle, envelope).await
    }
    async fn probe(&self, handle: &SessionHandle) -> Result<ProbeResult> {
        self.fake.probe(handle).await
    }
    async fn resume(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        self.fake.resume(handle).await
    }
    async fn rebootstrap(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        self.fake.rebootstrap(handle).await
    }
    async fn capture(&self, handle: &SessionHandle, from_seq: i64) -> Result<Capture> {
        self.fake.capture(handle, from_seq).await
    }
    async fn dispose(&self, handle: &SessionHandle) -> Result<()> {
        self.fake.dispose(handle).await
    }
    async fn locate_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptLocation> {
        self.fake.locate_prompt(handle, envelope).await
    }
    async fn submit_pending(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        self.fake.submit_pending(handle, envelope).await
    }
    async fn dispose_run(&self, run_id: &str) -> Result<usize> {
        self.fake.dispose_run(run_id).await
    }
}

#[tokio::test]
async fn the_repair_prompt_finds_the_invalid_artifact_in_place_and_a_rewrite_is_picked_up() {
    for h in harnesses().await {
        let seen = Mutex::new(Vec::new());
        let witness = Arc::new(Witness { fake: h.fake.clone(), artifact: h.artifact(), seen });
        let runner = PhaseRunner::new(h.db.clone(), witness.clone()).with_retry(quick_retry());
        let spec = h.spec("plan", &format!("Scenario: invalid\nRepair-Scenario: ok\n{VALID_PLAN}"));
        let report = runner.run(spec, CancellationToken::new()).await.unwrap();
        let events = h.events().await;
        let hash_of = |kind: &str| {
            let event = events.iter().find(|event| event.kind == kind).unwrap();
            event.payload["hash"].as_str().unwrap().to_owned()
        };
        let seen = witness.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{}: the first prompt and the repair", h.backend());
        assert_eq!(seen[0].0, 1);
        let (attempt, at_repair) = &seen[1];
        assert_eq!(*attempt, 2);
        let at_repair = at_repair.as_deref().expect("the invalid artifact is still on disk");
        assert_eq!(hash_bytes(at_repair), hash_of("artifact.invalid"), "the very bytes checked");
        assert_eq!(report.artifact_hash, hash_of("artifact.validated"));
        assert_ne!(hash_of("artifact.validated"), hash_of("artifact.invalid"), "the rewrite");
    }
}

#[tokio::test]
async fn an_invalid_artifact_left_as_it_was_is_not_taken_as_the_repair() {
    for h in harnesses().await {
        let error = h.run(h.spec("plan", "Scenario: invalid\nRepair-Scenario: none")).await;
        let error = error.unwrap_err();
        assert_eq!(error.code(), Code::ArtifactTimeoutExhausted, "{}: {error}", h.backend());
        let types = h.event_types().await;
        assert_eq!(types.iter().filter(|kind| *kind == "artifact.invalid").count(), 1);
        assert!(types.contains(&"artifact.timeout".to_owned()), "{types:?}");
        assert!(h.artifact().exists(), "the invalid artifact is left for the agent");
    }
}
