//! A lost tmux server or pane is a crash of the session, not an error: the probe says so, and
//! rebootstrap starts the agent again from its launch record.

use devflow_core::Code;
use devflow_session::{SessionAdapter, render_prompt};

use super::TmuxWorld;
use super::support::envelope;

#[tokio::test]
async fn a_killed_server_probes_as_a_crash_and_rebootstrap_brings_the_agent_back() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    world.transcript_with(&handle, "agent-sim ready").await;
    world.tmux(&["kill-server"]);

    let probe = world.adapter.probe(&handle).await.unwrap();
    assert!(!probe.alive && !probe.pane_active, "{probe:?}");
    assert!(probe.hint.as_deref().unwrap().contains("tmux server stopped"), "{probe:?}");

    // A new devflow, as after a restart: the launch record is in the state folder.
    let restarted = world.restarted_adapter();
    let fresh = restarted.rebootstrap(&handle).await.unwrap();
    assert_eq!(fresh.session_id, handle.session_id);
    assert!(restarted.probe(&fresh).await.unwrap().alive);
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    restarted.send_prompt(&fresh, &prompt).await.unwrap();
    world.transcript_with(&fresh, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&prompt)]);
    world.finish(&[&fresh]).await;
}

#[tokio::test]
async fn a_killed_window_probes_as_a_crash_and_without_a_record_is_not_found() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    let keeper = world.start("reviewer").await;
    world.tmux(&["kill-window", "-t", handle.tmux_window.as_deref().unwrap()]);
    let probe = world.adapter.probe(&handle).await.unwrap();
    assert!(!probe.alive && !probe.pane_active, "{probe:?}");

    // An adapter that never saw the session, with no record of it, cannot start it again.
    let stranger = super::TmuxWorld::new().unwrap();
    let error = stranger.adapter.rebootstrap(&handle).await.unwrap_err();
    assert!(error.is(Code::SessionNotFound), "{error}");
    assert!(error.recovery_hint().unwrap().contains("launch record"), "{error}");

    let fresh = world.adapter.rebootstrap(&handle).await.unwrap();
    assert_ne!(fresh.tmux_pane, handle.tmux_pane, "a new window");
    assert!(world.adapter.probe(&fresh).await.unwrap().alive);
    stranger.finish(&[]).await;
    world.finish(&[&fresh, &keeper]).await;
}
