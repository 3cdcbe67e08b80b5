//! Asking the terminal where a prompt got to, after devflow was killed in the middle of its
//! delivery: each crash point leaves the pane as a test sets it up here (the pane option
//! `@devflow_prompt` delivery writes before each step, and what tmux did).

use devflow_core::{Code, PromptEnvelope};
use devflow_session::{
    PromptLocation, SessionAdapter, SessionHandle, prompt_marker, render_prompt,
};

use super::TmuxWorld;
use super::support::{envelope, eventually};

/// What delivery writes on the pane before `step`, for `envelope`, the tap having seen `bytes`.
fn mark(
    world: &TmuxWorld,
    handle: &SessionHandle,
    step: &str,
    envelope: &PromptEnvelope,
    bytes: u64,
) {
    let hex = prompt_marker(envelope).split_once(' ').unwrap().1.to_owned();
    let pane = handle.tmux_pane.as_deref().unwrap();
    world.tmux(&[
        "set-option",
        "-p",
        "-t",
        pane,
        "@devflow_prompt",
        &format!("{step} {hex} {bytes}"),
    ]);
}

/// The output bytes the pane's tap has counted, once the count has stopped moving (on a busy
/// machine the tap may start, and read, after the agent's output, which tmux keeps for it).
async fn tap_bytes(world: &TmuxWorld, handle: &SessionHandle) -> u64 {
    let pane = handle.tmux_pane.as_deref().unwrap();
    let path = world.tmux(&["show-options", "-p", "-v", "-t", pane, "@devflow_tap"]);
    let read = || -> Option<u64> {
        let record = std::fs::read_to_string(path.trim()).ok()?;
        record.split_whitespace().nth(3)?.parse().ok().filter(|&bytes: &u64| bytes > 0)
    };
    eventually("the tap's record to settle", async || {
        let before = read()?;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        (read()? == before).then_some(before)
    })
    .await
}

/// The paste as delivery makes it, and no Enter: devflow killed right after `paste-buffer`.
fn paste_only(world: &TmuxWorld, handle: &SessionHandle, envelope: &PromptEnvelope) {
    let pane = handle.tmux_pane.as_deref().unwrap();
    let path = world.worktree().join("prompt.txt");
    std::fs::write(&path, render_prompt(envelope)).unwrap();
    world.tmux(&["load-buffer", "-b", "crash", &path.to_string_lossy()]);
    world.tmux(&["paste-buffer", "-p", "-r", "-d", "-b", "crash", "-t", pane]);
}

async fn ready_sim(world: &TmuxWorld) -> SessionHandle {
    let handle = world.start("planner").await;
    world.transcript_with(&handle, "agent-sim ready").await;
    tap_bytes(world, &handle).await;
    handle
}

#[tokio::test]
async fn a_prompt_whose_delivery_never_started_is_absent() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = ready_sim(&world).await;
    let never = envelope("out/plan.json", 1, "Scenario: ok");
    assert_eq!(world.adapter.locate_prompt(&handle, &never).await.unwrap(), PromptLocation::Absent);

    // Killed after the mark, before the paste: no output since it, so no paste either.
    mark(&world, &handle, "paste", &never, tap_bytes(&world, &handle).await);
    assert_eq!(world.adapter.locate_prompt(&handle, &never).await.unwrap(), PromptLocation::Absent);
    // Another prompt's mark says nothing about this one.
    let other = envelope("out/plan.json", 2, "Scenario: ok");
    assert_eq!(world.adapter.locate_prompt(&handle, &other).await.unwrap(), PromptLocation::Absent);
    assert!(world.log_entries().is_empty());
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_prompt_pasted_and_not_submitted_is_pending_and_submitted_once() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = ready_sim(&world).await;
    let prompt = envelope("out/plan.json", 1, "Scenario: ok\nsecond line");
    mark(&world, &handle, "paste", &prompt, tap_bytes(&world, &handle).await);
    paste_only(&world, &handle, &prompt);
    let pane = handle.tmux_pane.as_deref().unwrap();
    eventually("the paste on the prompt line", async || {
        world.tmux(&["capture-pane", "-p", "-t", pane]).contains("[pasted text:").then_some(())
    })
    .await;

    let restarted = world.restarted_adapter();
    assert_eq!(restarted.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Pending);
    let receipt = restarted.submit_pending(&handle, &prompt).await.unwrap();
    assert_eq!(receipt.prompt_id, prompt.dedup_key);
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&prompt)]);
    assert_eq!(restarted.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Taken);

    // Nothing waits in the input now: a second submit sends nothing.
    let error = restarted.submit_pending(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::PromptDeliveryUnverified), "{error}");
    assert_eq!(world.logged_prompts().len(), 1);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_prompt_the_agent_took_is_taken_even_without_the_last_mark() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = ready_sim(&world).await;
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    world.adapter.send_prompt(&handle, &prompt).await.unwrap();
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.adapter.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Taken);

    // Killed after the Enter, before `taken` was written: the marker in the history says it.
    mark(&world, &handle, "enter", &prompt, 0);
    let restarted = world.restarted_adapter();
    assert_eq!(restarted.locate_prompt(&handle, &prompt).await.unwrap(), PromptLocation::Taken);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_pane_that_cannot_tell_says_what_it_shows() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = ready_sim(&world).await;
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    // The mark says the paste was about to start, the agent printed since, and the screen
    // shows neither the paste nor its marker.
    mark(&world, &handle, "paste", &prompt, 0);
    let PromptLocation::Unknown(seen) =
        world.adapter.locate_prompt(&handle, &prompt).await.unwrap()
    else {
        panic!("expected unknown");
    };
    assert!(seen.contains("paste step") && seen.contains("bytes since"), "{seen}");
    assert!(seen.contains("agent-sim>"), "{seen}");
    world.finish(&[&handle]).await;
}
