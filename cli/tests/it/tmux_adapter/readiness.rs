//! Readiness before a paste: bracketed paste on (read off the pane's output from its first
//! byte), a settled screen, the input box; dialogs stop delivery before anything is pasted.

use devflow_core::{Class, Code};
use devflow_session::{SessionAdapter, render_prompt};

use super::TmuxWorld;
use super::support::{envelope, eventually};

#[tokio::test]
async fn a_paste_waits_until_the_agent_turns_bracketed_paste_on() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    // Like Aider: the prompt line shows at once, bracketed paste comes on 1.5 s later. A paste
    // before that would arrive as typed keys, its line breaks lost, and not match below.
    let spec = world.sim_spec("planner", &["--paste-ready-ms", "1500"]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok\nline two\nline three");
    world.adapter.send_prompt(&handle, &prompt).await.unwrap();
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&prompt)]);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn bracketed_paste_turned_on_in_the_first_microseconds_is_seen() {
    let Some(world) = TmuxWorld::with_config(|config| config.paste_visible_timeout_ms = 1_000)
    else {
        return;
    };
    // The mode is the agent's very first output, before tmux could have read anything: only a
    // tap in place before the agent starts sees it. The agent then echoes nothing.
    let input = world.worktree().join("input.bin");
    let script =
        format!("printf '\\033[?2004hready'; stty raw -echo; exec cat > '{}'", input.display());
    let handle = world.adapter.start(&world.shell_spec("planner", &script)).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();

    // Pasted (bracketed: the mode was known), never shown, so never submitted.
    assert!(error.is(Code::PromptDeliveryUnverified), "{error}");
    assert_eq!(error.class(), Class::HumanRequired);
    assert!(error.message().contains("Enter was not pressed"), "{error}");
    assert!(error.recovery_hint().unwrap().contains("tmux -S"), "{error}");
    let bytes = eventually("the paste in the agent's input", async || {
        std::fs::read(&input).ok().filter(|bytes| bytes.ends_with(b"\x1b[201~"))
    })
    .await;
    assert!(
        bytes.starts_with(b"\x1b[200~devflow-prompt "),
        "{:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(!bytes.contains(&b'\r'), "no Enter: {:?}", String::from_utf8_lossy(&bytes));

    // The same after a respawn: the new tap is in place before the new agent's first byte.
    std::fs::remove_file(&input).unwrap();
    let handle = world.adapter.rebootstrap(&handle).await.unwrap();
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::PromptDeliveryUnverified), "{error}");
    eventually("the second paste, bracketed", async || {
        std::fs::read(&input).ok().filter(|bytes| bytes.starts_with(b"\x1b[200~"))
    })
    .await;
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn an_agent_that_never_turns_bracketed_paste_on_is_not_ready_and_gets_nothing() {
    let Some(world) = TmuxWorld::with_config(|config| config.ready_timeout_ms = 1_500) else {
        return;
    };
    let spec = world.sim_spec("planner", &["--paste-ready-ms", "600000"]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let error = world.adapter.send_prompt(&handle, &envelope("a.json", 1, "x")).await.unwrap_err();
    assert!(error.is(Code::AgentNotReady), "{error}");
    let hint = error.recovery_hint().unwrap();
    assert!(hint.contains("bracketed paste never turned on"), "{hint}");
    assert!(world.log_entries().is_empty(), "nothing reached the agent");
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_known_dialog_stops_delivery_with_a_hint_and_nothing_pasted() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    // Folder trust is safe to answer, but this workflow did not opt in.
    for dialog in ["trust", "telemetry"] {
        let mut spec = world.sim_spec(dialog, &["--dialog", dialog]);
        spec.answer_dialogs = vec!["telemetry".to_owned()];
        let handle = world.adapter.start(&spec).await.unwrap();
        let error = world.adapter.send_prompt(&handle, &envelope("a.json", 1, "x")).await;
        let error = error.unwrap_err();
        assert!(error.is(Code::AgentNeedsInput), "{error}");
        assert!(error.message().contains(&format!("(`{dialog}`)")), "{error}");
        let hint = error.recovery_hint().unwrap();
        let shows = format!("the screen shows the dialog `{dialog}`: `");
        assert!(hint.contains(&shows) && hint.contains("?`"), "{hint}");
        assert!(hint.contains("start agent-sim without `--dialog`"), "{hint}");
        assert!(hint.contains("tmux -S") && hint.contains("devflow resume run-1"), "{hint}");
        // Unsafe dialogs are never answered, even when the workflow lists them.
        assert_eq!(hint.contains("Or let devflow answer it"), dialog == "trust", "{hint}");
    }
    assert!(world.log_entries().is_empty(), "nothing was typed into a dialog");
    world.finish(&[]).await;
}

#[tokio::test]
async fn a_question_no_preset_knows_stops_delivery_too() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let spec = world.sim_spec("planner", &["--dialog", "yes-no"]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let error = world.adapter.send_prompt(&handle, &envelope("a.json", 1, "x")).await.unwrap_err();
    assert!(error.is(Code::AgentNeedsInput), "{error}");
    assert!(error.message().contains("a question devflow does not know"), "{error}");
    assert!(error.recovery_hint().unwrap().contains("(y/n)"), "{error}");
    assert!(world.log_entries().is_empty());
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_safe_dialog_the_workflow_allows_is_answered_and_reported() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let mut spec = world.sim_spec("planner", &["--dialog", "trust"]);
    spec.answer_dialogs = vec!["trust".to_owned()];
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    let receipt = world.adapter.send_prompt(&handle, &prompt).await.unwrap();
    assert_eq!(receipt.dialogs_answered, ["trust"]);
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&prompt)], "no dialog input either");

    let second = envelope("out/plan.json", 2, "Scenario: none");
    let receipt = world.adapter.send_prompt(&handle, &second).await.unwrap();
    assert!(receipt.dialogs_answered.is_empty(), "answered once, at the first prompt");
    world.finish(&[&handle]).await;
}

/// How long after its prompt line agent-sim draws folder trust over it, in the two tests below
/// (Codex and Gemini CLI do it about 300 ms after drawing their input box).
const DIALOG_AFTER_MS: u64 = 1_000;

#[tokio::test]
async fn a_settle_window_longer_than_a_late_dialog_sees_it_and_pastes_nothing() {
    // The window a preset's `first_prompt_settle_ms` gives before the first prompt (Codex and
    // Gemini CLI: 1.5 s); the adapter's own window stands in for it here: the first prompt
    // waits for the longer of the two (the unit test of `settle_window_ms` pins that).
    let Some(world) = TmuxWorld::with_config(|config| config.ready_settle_ms = 2_500) else {
        return;
    };
    let after = DIALOG_AFTER_MS.to_string();
    let spec = world.sim_spec("planner", &["--dialog", "trust", "--dialog-after-ms", &after]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::AgentNeedsInput), "{error}");
    assert!(
        error.message().contains("(`trust`)") && error.message().contains("nothing was pasted")
    );
    let hint = error.recovery_hint().unwrap();
    assert!(hint.contains("the screen shows the dialog `trust`: `Do you trust"), "{hint}");
    assert!(world.log_entries().is_empty(), "nothing reached the agent, not even its dialog");
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_late_dialog_that_takes_the_paste_is_never_submitted_into() {
    // A window shorter than the dialog's delay: the paste goes in while the prompt line shows,
    // then the dialog takes the screen (and the paste with it) before Enter. Enter would answer
    // the dialog and the agent would never see the prompt; nothing may say it was delivered.
    let Some(world) = TmuxWorld::with_config(|config| config.ready_settle_ms = 600) else {
        return;
    };
    let after = DIALOG_AFTER_MS.to_string();
    let spec = world.sim_spec("planner", &["--dialog", "trust", "--dialog-after-ms", &after]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok\nline two");
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();
    // On a machine slow enough to look only after the dialog showed, readiness sees it.
    if !error.is(Code::AgentNeedsInput) {
        assert!(error.is(Code::PromptDeliveryUnverified), "{error}");
        assert!(error.message().contains("the dialog `trust` took its place"), "{error}");
        let hint = error.recovery_hint().unwrap();
        assert!(hint.contains("The screen now shows the dialog `trust`"), "{hint}");
    }
    // Neither a prompt nor a key reached the agent: no Enter went into its dialog.
    assert!(world.log_entries().is_empty(), "{:?}", world.log_entries());
    // So the dialog still shows, and the next delivery stops at it with nothing pasted.
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::AgentNeedsInput) && error.message().contains("(`trust`)"), "{error}");
    assert!(world.log_entries().is_empty(), "{:?}", world.log_entries());
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn gemini_presets_own_settle_window_keeps_the_paste_out_of_a_late_trust_dialog() {
    presets_own_settle_window_keeps_the_paste_out_of_a_late_dialog(
        "gemini",
        "> Type your message or @path/to/file",
        "trust",
    )
    .await;
}

#[tokio::test]
async fn codex_presets_own_settle_window_keeps_the_paste_out_of_a_late_trust_dialog() {
    presets_own_settle_window_keeps_the_paste_out_of_a_late_dialog(
        "codex",
        "› Ask Codex to do anything",
        "codex-trust",
    )
    .await;
}

/// agent-sim under a real CLI's preset: that CLI's input box as its prompt line, and its
/// folder-trust dialog (in its words) drawn over it a moment later. The adapter's own window
/// (the default 250 ms) is shorter than the dialog's delay, so only the preset's own
/// `first_prompt_settle_ms` stands between the paste and the dialog.
async fn presets_own_settle_window_keeps_the_paste_out_of_a_late_dialog(
    preset: &str,
    input_box: &str,
    sim_dialog: &str,
) {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let window_ms = devflow_session::preset::by_name(preset).unwrap().first_prompt_settle_ms;
    let after_ms = window_ms * 2 / 3;
    let default_window = devflow_session::tmux::TmuxConfig::new("/").ready_settle_ms;
    assert!(default_window < after_ms && after_ms < window_ms, "{preset}: {window_ms} ms");
    let after = after_ms.to_string();
    let extra = ["--prompt-line", input_box, "--dialog", sim_dialog, "--dialog-after-ms", &after];
    let mut spec = world.sim_spec("planner", &extra);
    spec.preset = Some(preset.to_owned());
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok");
    let error = world.adapter.send_prompt(&handle, &prompt).await.unwrap_err();
    assert!(error.is(Code::AgentNeedsInput), "{preset}: {error}");
    assert!(error.message().contains("(`folder-trust`)"), "{preset}: {error}");
    assert!(error.message().contains("nothing was pasted"), "{preset}: {error}");
    assert!(world.log_entries().is_empty(), "{preset}: nothing reached the agent");
    world.finish(&[&handle]).await;
}
