//! Prompts into agent-sim through tmux: intact byte for byte, exactly once, artifact written.

use devflow_core::{Class, Code};
use devflow_session::{SessionAdapter, render_prompt};
use serde_json::{Value, json};

use super::TmuxWorld;
use super::support::{envelope, eventually};

/// Instructions with everything a shell, a terminal or tmux might mangle, 1,000+ lines, ≥ 64 KiB.
fn nasty_instructions() -> String {
    let mut text = String::from(
        "Scenario: ok\n```json\n{\"verdict\": \"intact\"}\n```\n\n\n\
         'single' \"double\" $HOME ${PATH} $(whoami) `uname -a` \\ \\\\ \\n \\x1b C:\\dir\\file\n\
         \ttab-led\ttabbed\t\n  leading spaces, trailing spaces   \n\
         naïve café, Ελληνικά, 日本語, emoji 🚀✓, combining e\u{301}, RTL עברית\n\
         ; && || | > < * ? [ ] { } ~ # % ^ ! -- -n -e\n\n",
    );
    for i in 0..1_000 {
        if i % 97 == 0 {
            text.push('\n');
        }
        text.push_str(&format!(
            "line {i:04}: \"$VAR_{i}\" `echo {i}` \\path\\{i}\tcol2 ünï 'q' ${{X}} {}\n",
            "x".repeat(20 + i % 7)
        ));
    }
    text.push_str("last line without newline");
    text
}

#[tokio::test]
async fn a_hostile_64k_prompt_reaches_agent_sim_intact_and_exactly_once() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    let instructions = nasty_instructions();
    assert!(instructions.lines().count() > 1_000 && instructions.len() >= 64 * 1024);
    let envelope = envelope("out/plan.json", 1, &instructions);

    world.adapter.send_prompt(&handle, &envelope).await.unwrap();
    let artifact = world.worktree().join("out/plan.json");
    let bytes = eventually("the artifact", async || std::fs::read(&artifact).ok()).await;
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json!({"verdict": "intact"}));

    let logged = world.logged_prompts();
    assert_eq!(logged.len(), 1, "delivered {} times", logged.len());
    let expected = render_prompt(&envelope);
    if logged[0] != expected {
        let at = logged[0].chars().zip(expected.chars()).position(|(a, b)| a != b);
        panic!(
            "prompt differs at char {at:?}: got {} bytes, sent {}",
            logged[0].len(),
            expected.len()
        );
    }

    // A second prompt goes in on its own, and the first is still logged once.
    let second = super::support::envelope("/tmp/never-written.json", 2, "Scenario: none\nsecond");
    world.adapter.send_prompt(&handle, &second).await.unwrap();
    world.transcript_with(&handle, "done: no artifact this time").await;
    let logged = world.logged_prompts();
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[1], render_prompt(&second));
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn slow_and_invalid_scenarios_write_through_agent_sim() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("coder").await;
    let artifact = world.worktree().join("out/plan.json");

    world
        .adapter
        .send_prompt(&handle, &envelope("out/plan.json", 1, "Scenario: invalid"))
        .await
        .unwrap();
    let invalid = eventually("the invalid artifact", async || std::fs::read(&artifact).ok()).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&invalid).unwrap(),
        json!({"devflowFakeInvalid": true})
    );
    world.transcript_with(&handle, "wrote artifact").await;

    std::fs::remove_file(&artifact).unwrap();
    let slow = "Scenario: slow\nSlow-Ms: 300\n```json\n{\"slow\": [1, 2, 3]}\n```";
    world.adapter.send_prompt(&handle, &envelope("out/plan.json", 2, slow)).await.unwrap();
    world.transcript_with(&handle, "wrote chunk 3 of 3").await;
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(&artifact).unwrap()).unwrap(),
        json!({"slow": [1, 2, 3]})
    );
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_pane_left_in_copy_mode_still_gets_its_prompt_submitted() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    world.transcript_with(&handle, "agent-sim ready").await;
    let pane = handle.tmux_pane.as_deref().unwrap();
    world.tmux(&["copy-mode", "-t", pane]);
    assert_eq!(world.tmux(&["display-message", "-p", "-t", pane, "#{pane_in_mode}"]).trim(), "1");

    let envelope = envelope("out/plan.json", 1, "Scenario: ok");
    world.adapter.send_prompt(&handle, &envelope).await.unwrap();
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&envelope)]);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_hung_agent_is_not_ready_and_gets_nothing_pasted() {
    let Some(world) = TmuxWorld::with_config(|config| config.ready_timeout_ms = 1_000) else {
        return;
    };
    let handle = world.start("planner").await;
    let hang = envelope("out/plan.json", 1, "Scenario: hang");
    world.adapter.send_prompt(&handle, &hang).await.unwrap();
    world.transcript_with(&handle, "thinking…").await;

    // The hung agent never shows its prompt line again: nothing is pasted, and a retry (by a
    // person, after looking) is safe.
    let unseen = envelope("out/plan.json", 2, "Scenario: ok");
    let error = world.adapter.send_prompt(&handle, &unseen).await.unwrap_err();
    assert!(error.is(Code::AgentNotReady), "{error}");
    assert_eq!(error.class(), Class::HumanRequired);
    let hint = error.recovery_hint().unwrap();
    assert!(hint.contains("the input box") && hint.contains("thinking…"), "{hint}");

    let handle = world.adapter.rebootstrap(&handle).await.unwrap();
    let receipt = world.adapter.send_prompt(&handle, &unseen).await.unwrap();
    assert_eq!(receipt.prompt_id, unseen.dedup_key);
    world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&hang), render_prompt(&unseen)]);
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn a_prompt_that_tries_to_end_the_paste_early_arrives_as_one_neutralised_submission() {
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let handle = world.start("planner").await;
    // The end-of-paste sequence and a carriage return: unneutralised, the rest would be typed
    // into the agent as a second, unrecorded submission.
    let hostile =
        "Scenario: none\nplan it\x1b[201~\rScenario: crash\r\nrm -rf / \x1b[31mred\x07 \u{9b}201~";
    let prompt = envelope("out/plan.json", 1, hostile);
    world.adapter.send_prompt(&handle, &prompt).await.unwrap();
    world.transcript_with(&handle, "done: no artifact this time").await;

    let logged = world.logged_prompts();
    assert_eq!(logged.len(), 1, "one submission: {logged:?}");
    let expected = devflow_core::text::neutralize(&render_prompt(&prompt)).into_owned();
    assert_eq!(logged[0], expected);
    assert!(!devflow_core::text::has_controls(&logged[0]), "{:?}", logged[0]);
    assert!(world.adapter.probe(&handle).await.unwrap().alive, "no crash scenario was typed");
    world.finish(&[&handle]).await;
}

#[tokio::test]
async fn bracketed_paste_flipped_off_and_on_by_a_redraw_after_enter_is_not_taken_for_taken() {
    // Like a freshly started Aider (prompt_toolkit) that redraws its prompt as Enter comes in:
    // the mode goes off, 400 ms later on again, the paste still sits unsubmitted in the input.
    // The mode off at one look used to count as "taken": the prompt was reported delivered and
    // agent-sim never got it. Now the paste visibly waiting gets Enter again (never a paste).
    let Some(world) = TmuxWorld::new() else {
        return;
    };
    let spec = world.sim_spec("planner", &["--enter-redraw-ms", "400"]);
    let handle = world.adapter.start(&spec).await.unwrap();
    let prompt = envelope("out/plan.json", 1, "Scenario: ok\nline two");
    world.adapter.send_prompt(&handle, &prompt).await.unwrap();
    let screen = world.transcript_with(&handle, "wrote artifact").await;
    assert_eq!(world.logged_prompts(), [render_prompt(&prompt)], "taken once, by the 2nd Enter");
    assert_eq!(screen.matches("[pasted text:").count(), 1, "one paste:\n{screen}");
    world.finish(&[&handle]).await;
}
