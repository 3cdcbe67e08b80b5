//! The fake adapter plays each place a prompt can be after a crash (`locate_prompt`), a paste
//! that waits in the input (`submit_pending`), and the end of a run's agents (`dispose_run`).

use devflow_core::Code;
use devflow_session::fake::FakeAdapter;
use devflow_session::{PromptLocation, SessionAdapter, SessionHandle};

use crate::support::{envelope, spec};

async fn started(fake: &FakeAdapter, dir: &std::path::Path) -> SessionHandle {
    let id = fake.reserve_session_id();
    fake.start(&spec(&id, dir, "")).await.unwrap()
}

#[tokio::test]
async fn absent_then_taken_as_a_prompt_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAdapter::new(&dir.path().join("state"));
    let handle = started(&fake, dir.path()).await;
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    assert_eq!(fake.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Absent);
    fake.send_prompt(&handle, &prompt).await.unwrap();
    assert_eq!(fake.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Taken);
    let error = fake.submit_pending(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::PromptDeliveryUnverified), "nothing waits: {error}");
    assert_eq!((fake.deliveries(&prompt.dedup_key), fake.pastes(&prompt.dedup_key)), (1, 1));
}

#[tokio::test]
async fn pasted_not_submitted_is_pending_until_submitted_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAdapter::new(&dir.path().join("state"));
    let handle = started(&fake, dir.path()).await;
    let prompt = envelope("out/plan.json", 1, "Scenario: ok\nFail-Send: unverified");
    let error = fake.send_prompt(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::PromptDeliveryUnverified), "{error}");
    assert_eq!(fake.deliveries(&prompt.dedup_key), 0);
    assert!(!dir.path().join("out/plan.json").exists(), "the agent has not seen it");

    // A new adapter, as after a restart, finds it in the input and submits it.
    let restarted = FakeAdapter::new(&dir.path().join("state"));
    assert_eq!(restarted.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Pending);
    let receipt = restarted.submit_pending(&handle, &prompt).await.unwrap();
    assert_eq!(receipt.prompt_id, prompt.dedup_key);
    assert!(dir.path().join("out/plan.json").exists(), "the scenario played");
    assert_eq!(restarted.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Taken);
    assert_eq!((fake.deliveries(&prompt.dedup_key), fake.pastes(&prompt.dedup_key)), (1, 1));
}

#[tokio::test]
async fn an_unknowable_paste_is_unknown_and_never_pending() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAdapter::new(&dir.path().join("state"));
    let handle = started(&fake, dir.path()).await;
    let prompt = envelope("out/plan.json", 1, "Fail-Send: unknowable");
    assert!(
        fake.send_prompt(&handle, &prompt).await.unwrap_err().is(Code::PromptDeliveryUnverified)
    );
    let located = fake.locate_prompt(&handle, &prompt).await.unwrap();
    assert!(
        matches!(&located, PromptLocation::Unknown(seen) if seen.contains("unknowable")),
        "{located:?}"
    );
    assert!(fake.submit_pending(&handle, &prompt).await.is_err());
    assert_eq!(fake.deliveries(&prompt.dedup_key), 0);
    // Sent again anyway (a person decided so): that is a second paste, and it shows.
    fake.send_prompt(&handle, &prompt).await.unwrap();
    assert_eq!((fake.deliveries(&prompt.dedup_key), fake.pastes(&prompt.dedup_key)), (1, 2));
}

#[tokio::test]
async fn dispose_run_ends_every_agent_of_the_run_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeAdapter::new(&dir.path().join("state"));
    let first = started(&fake, dir.path()).await;
    let second = started(&fake, dir.path()).await;
    let mut other = spec(&fake.reserve_session_id(), dir.path(), "");
    other.run_id = "run-2".to_owned();
    let other = fake.start(&other).await.unwrap();

    assert_eq!(fake.dispose_run("run-1").await.unwrap(), 2);
    for gone in [&first, &second] {
        assert!(fake.probe(gone).await.unwrap_err().is(Code::SessionNotFound));
    }
    assert!(fake.probe(&other).await.unwrap().alive);
    assert_eq!(fake.dispose_run("run-1").await.unwrap(), 0);
}
