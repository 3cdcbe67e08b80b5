//! An agent's life in tmux: crash, hang, rebootstrap, resume by a new adapter, transcript, dispose.

use devflow_core::Code;
use devflow_session::{SessionAdapter, SessionHandle, is_session_hung, now_ms};

use super::TmuxWorld;
use super::support::{envelope, eventually};

#[tokio::test]
async fn an_agent_that_exits_probes_as_crashed() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    assert!(world.adapter.probe(&handle).await.unwrap().alive);

    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 1, "Scenario: crash"))
        .await
        .unwrap();
    let probe = eventually("the crash", async || {
        let probe = world.adapter.probe(&handle).await.unwrap();
        (!probe.alive).then_some(probe)
    })
    .await;
    assert!(probe.pane_active, "the dead pane stays (remain-on-exit) until disposed");
    // tmux 3.3a now and then never reaps a pane's process (it stays a zombie and the pane dead
    // without a status), so the status is checked only when tmux knows it.
    let hint = probe.hint.unwrap();
    assert!(["pane_dead_status=3", "pane_dead_status=unknown"].contains(&hint.as_str()), "{hint}");
    assert_eq!(world.logged_prompts().len(), 1);
    // The agent's last line is in the transcript: a dead pane's screen is all settled.
    world.transcript_with(&handle, "crashing (exit status 3)").await;

    // A dead pane starts again, its tap with it, and takes the next prompt.
    let handle = world.adapter.rebootstrap(&handle).await.unwrap();
    assert!(world.adapter.probe(&handle).await.unwrap().alive);
    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 2, "Scenario: ok"))
        .await
        .unwrap();
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts().len(), 2);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_silent_agent_is_hung_and_rebootstrap_brings_back_a_working_one() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 1, "Scenario: hang"))
        .await
        .unwrap();
    world.transcript_with(&handle, "working… (3/3)").await;
    let max_hung_ms = 1_500;
    let probe = eventually("the hang", async || {
        let probe = world.adapter.probe(&handle).await.unwrap();
        is_session_hung(probe.last_output_at_ms, now_ms(), max_hung_ms).then_some(probe)
    })
    .await;
    assert!(probe.alive && probe.pane_active);

    let old_pid = handle.pane_pid;
    let handle = world.adapter.rebootstrap(&handle).await.unwrap();
    assert_ne!(handle.pane_pid, old_pid);
    let probe = world.adapter.probe(&handle).await.unwrap();
    assert!(probe.alive && !is_session_hung(probe.last_output_at_ms, now_ms(), max_hung_ms));

    let artifact = world.worktree().join("out/plan.json");
    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 2, "Scenario: ok"))
        .await
        .unwrap();
    eventually("the artifact after rebootstrap", async || std::fs::read(&artifact).ok()).await;
    assert_eq!(world.logged_prompts().len(), 2);
    let transcript = world.transcript_with(&handle, "wrote artifact").await;
    assert!(
        !transcript.contains("thinking…"),
        "the old agent's screen is not in the new transcript"
    );
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_new_adapter_resumes_the_pane_and_a_missing_pane_is_not_found() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let first = world.start("planner").await;
    let second = world.start("reviewer").await;
    assert_eq!(first.tmux_session, second.tmux_session, "one tmux session per run");
    assert_ne!(first.tmux_window, second.tmux_window, "one window per role");

    let restarted = world.restarted_adapter();
    let resumed = restarted.resume(&first).await.unwrap();
    assert_eq!(resumed, first);
    restarted.send_prompt(&resumed, &envelope("out/plan.json", 1, "Scenario: ok")).await.unwrap();
    assert_eq!(world.logged_prompts().len(), 1);
    assert!(restarted.probe(&resumed).await.unwrap().alive);

    // Starting the same session again adopts its pane instead of opening another.
    let mut spec = world.spec("planner");
    spec.session_id = first.session_id.clone();
    assert_eq!(restarted.start(&spec).await.unwrap(), first);

    let missing = SessionHandle { tmux_pane: Some("%999".into()), ..first.clone() };
    assert!(restarted.resume(&missing).await.unwrap_err().is(Code::SessionNotFound));
    let someone_else = SessionHandle { session_id: "other".into(), ..second.clone() };
    assert!(restarted.resume(&someone_else).await.unwrap_err().is(Code::SessionNotFound));
    let gone = restarted.probe(&missing).await.unwrap();
    assert!(!gone.alive && !gone.pane_active, "a pane that is gone probes as a crash: {gone:?}");

    restarted.dispose(&first).await.unwrap();
    assert!(restarted.resume(&first).await.unwrap_err().is(Code::SessionNotFound));
    assert!(world.adapter.resume(&second).await.is_ok(), "disposing one role leaves the other");
    world.finish(&[&first, &second]).await;
}

#[tokio::test]
async fn the_transcript_holds_the_agents_text_without_escapes_and_grows_incrementally() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 1, "Scenario: none\nfirst"))
        .await
        .unwrap();
    world.transcript_with(&handle, "done: no artifact this time").await;

    let first = world.adapter.capture(&handle, 0).await.unwrap();
    let text = first.text();
    assert!(text.contains("agent-sim ready") && text.contains("received prompt"), "{text}");
    assert!(text.contains("working… (1/3)"), "{text}");
    assert!(!text.contains('\x1b'), "escape sequences in {text:?}");
    let seqs: Vec<i64> = first.chunks.iter().map(|chunk| chunk.seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]));
    let last = first.last_seq(0);
    assert!(
        world.adapter.capture(&handle, last).await.unwrap().chunks.is_empty(),
        "nothing new yet"
    );

    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 2, "Scenario: none\nsecond"))
        .await
        .unwrap();
    let later = eventually("new transcript lines", async || {
        let capture = world.adapter.capture(&handle, last).await.unwrap();
        capture.text().contains("done: no artifact").then_some(capture)
    })
    .await;
    assert!(later.chunks.iter().all(|chunk| chunk.seq > last));
    assert!(!later.text().contains("agent-sim ready"), "old lines came again: {}", later.text());
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_pane_that_is_another_sessions_now_is_not_probed_captured_or_prompted() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    // After a tmux restart a pane id can come back for another session: a handle whose pane
    // is not its own any more finds no session.
    let stale = SessionHandle { session_id: "a-session-of-before".into(), ..handle.clone() };
    let probe = world.adapter.probe(&stale).await.unwrap();
    assert!(!probe.alive && !probe.pane_active, "its pane is gone for it: {probe:?}");
    assert!(world.adapter.capture(&stale, 0).await.unwrap_err().is(Code::SessionNotFound));
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    let sent = world.adapter.send_prompt(&stale, &prompt).await;
    assert!(sent.unwrap_err().is(Code::SessionNotFound));
    assert!(world.logged_prompts().is_empty(), "nothing was pasted into the pane");
    assert!(world.adapter.probe(&handle).await.unwrap().alive, "its own session still probes");
    world.finish(&[&handle]).await;
}
