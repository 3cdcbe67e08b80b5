//! The terminal fence: once a driver with a newer lease epoch has acted on a pane, an older
//! driver's input (the paste, Enter, a dialog's answer, a restart) does not reach it.

use devflow_core::Code;
use devflow_session::{PromptLocation, SessionAdapter, SessionHandle, SessionSpec};

use super::TmuxWorld;
use super::support::envelope;

/// The same session as a driver holding claim `epoch` of the run sees it.
fn with_epoch(handle: &SessionHandle, epoch: i64) -> SessionHandle {
    SessionHandle { fence: Some(epoch), ..handle.clone() }
}

fn lease_of(world: &TmuxWorld, handle: &SessionHandle) -> String {
    let pane = handle.tmux_pane.as_deref().unwrap();
    world.tmux(&["show-options", "-p", "-v", "-t", pane, "@devflow_lease"]).trim().to_owned()
}

fn pane_pid(world: &TmuxWorld, handle: &SessionHandle) -> String {
    let pane = handle.tmux_pane.as_deref().unwrap();
    world.tmux(&["display-message", "-p", "-t", pane, "#{pane_pid}"]).trim().to_owned()
}

#[tokio::test]
async fn a_pane_a_newer_driver_claimed_takes_nothing_from_an_older_one() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let spec = SessionSpec { fence: Some(1), ..world.spec("planner") };
    let old = world.adapter.start(&spec).await.unwrap();
    assert_eq!(old.fence, Some(1));
    assert_eq!(lease_of(&world, &old), "1", "the pane is claimed as it is made");
    world.transcript_with(&old, "agent-sim ready").await;

    // The driver that took the run over looks where the prompt is: that claims the pane.
    let taker = world.restarted_adapter();
    let new = with_epoch(&old, 2);
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    assert_eq!(taker.locate_prompt(&new, &prompt).await.unwrap(), PromptLocation::Absent);
    assert_eq!(lease_of(&world, &new), "2");

    let pid = pane_pid(&world, &old);
    let refused = [
        world.adapter.send_prompt(&old, &prompt).await.map(drop),
        world.adapter.submit_pending(&old, &prompt).await.map(drop),
        world.adapter.locate_prompt(&old, &prompt).await.map(drop),
        world.adapter.resume(&old).await.map(drop),
        world.adapter.rebootstrap(&old).await.map(drop),
    ];
    for (call, result) in refused.into_iter().enumerate() {
        let error = result.expect_err("the older driver is fenced out");
        assert!(error.is(Code::LeaseLost), "call {call}: {error}");
    }
    assert!(world.log_entries().is_empty(), "no input reached the agent");
    assert_eq!(pane_pid(&world, &old), pid, "the agent was not restarted");
    assert_eq!(lease_of(&world, &old), "2", "an older claim does not lower the pane's");

    // The newer driver delivers, once.
    taker.send_prompt(&new, &prompt).await.unwrap();
    world.transcript_with(&new, "wrote artifact").await;
    assert_eq!(world.logged_prompts().len(), 1);
    world.finish(&[&new]).await;
}

#[tokio::test]
async fn a_driver_superseded_while_it_waits_for_the_agent_pastes_nothing() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    // The agent takes pastes only after 3 s: the old driver's delivery waits that long.
    let spec =
        SessionSpec { fence: Some(1), ..world.sim_spec("planner", &["--paste-ready-ms", "3000"]) };
    let old = world.adapter.start(&spec).await.unwrap();
    let taker = world.restarted_adapter();
    let new = with_epoch(&old, 2);
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");

    let delivery = world.adapter.send_prompt(&old, &prompt);
    let take_over = async {
        // The old delivery has claimed the pane and waits for the agent to take pastes.
        world.transcript_with(&old, "agent-sim ready").await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(world.log_entries().is_empty());
        taker.resume(&new).await
    };
    let (delivered, taken) = tokio::join!(delivery, take_over);
    taken.unwrap();
    let error = delivered.expect_err("the old driver's paste is fenced");
    assert!(error.is(Code::LeaseLost), "{error}");
    assert!(world.log_entries().is_empty(), "nothing was pasted: {:?}", world.log_entries());
    let pane = new.tmux_pane.as_deref().unwrap();
    let screen = world.tmux(&["capture-pane", "-p", "-t", pane]);
    assert!(!screen.contains("[pasted text:"), "{screen}");

    taker.send_prompt(&new, &prompt).await.unwrap();
    world.transcript_with(&new, "wrote artifact").await;
    assert_eq!(world.logged_prompts().len(), 1);
    world.finish(&[&new]).await;
}

#[tokio::test]
async fn a_handle_without_an_epoch_is_not_fenced() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let claimed = SessionSpec { fence: Some(5), ..world.spec("planner") };
    let handle = world.adapter.start(&claimed).await.unwrap();
    world.transcript_with(&handle, "agent-sim ready").await;
    let unfenced = SessionHandle { fence: None, ..handle.clone() };
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    world.adapter.send_prompt(&unfenced, &prompt).await.unwrap();
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts().len(), 1);
    assert_eq!(lease_of(&world, &handle), "5", "and claims nothing");
    world.finish(&[&handle]).await;
}
