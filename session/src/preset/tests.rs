//! The presets' patterns compile and match the screens they were written from.

use super::*;

#[test]
fn every_pattern_compiles_and_names_are_unique() {
    for preset in ALL {
        let matcher = preset.matcher();
        assert_eq!(matcher.dialogs.len(), preset.dialogs.len());
        assert_eq!(ALL.iter().filter(|p| p.name == preset.name).count(), 1, "{}", preset.name);
        for dialog in preset.dialogs {
            let described = [dialog.name, dialog.pattern, dialog.meaning, dialog.avoid];
            assert!(described.iter().all(|text| !text.is_empty()), "{}", dialog.name);
        }
    }
    assert!(GENERIC.input_ready.is_none() && GENERIC.dialogs.is_empty());
}

#[test]
fn a_preset_is_chosen_by_its_programs_basename() {
    let argv = |words: &[&str]| AgentCommand::Argv(words.iter().map(|w| w.to_string()).collect());
    assert_eq!(for_command(&argv(&["/usr/local/bin/claude", "--x"])).name, "claude-code");
    assert_eq!(for_command(&argv(&["codex"])).name, "codex");
    assert_eq!(for_command(&argv(&["gemini"])).name, "gemini");
    assert_eq!(for_command(&argv(&["aider", "--model", "m"])).name, "aider");
    assert_eq!(for_command(&argv(&["devflow", "agent-sim"])).name, "agent-sim");
    assert_eq!(for_command(&argv(&["/t/devflow-agent-sim", "--log", "l"])).name, "agent-sim");
    assert_eq!(for_command(&argv(&["devflow", "run"])).name, "generic");
    assert_eq!(for_command(&AgentCommand::Shell("aider --yes-always".into())).name, "aider");
    assert_eq!(for_command(&argv(&[])).name, "generic");
    assert_eq!(by_name("claude-code").unwrap().name, "claude-code");
    assert!(by_name("claude").is_none());
}

#[test]
fn questions_are_told_from_ordinary_screens() {
    let trust = ["Do you trust this folder?", "❯ 1. Yes, I trust this folder", "  2. No, exit"];
    assert_eq!(looks_like_question(&trust).as_deref(), Some("❯ 1. Yes, I trust this folder"));
    assert!(looks_like_question(&["Overwrite the file? (y/N)"]).is_some());
    assert!(looks_like_question(&["Overwrite the file? [Y/n]"]).is_some());
    assert!(looks_like_question(&["Continue? (y/n)"]).is_some());
    assert!(looks_like_question(&["Add URL to the chat? (Y)es/(N)o [Yes]:"]).is_some());
    assert!(looks_like_question(&["│ › 1. Trust and continue"]).is_some());
    let plain = ["agent-sim ready (pid 1, in /w)", "1. first step of a plan", "agent-sim> "];
    assert!(looks_like_question(&plain).is_none());
}

#[test]
fn the_agent_sim_preset_matches_agent_sim() {
    let m = by_name("agent-sim").unwrap().matcher();
    assert!(m.input_ready.as_ref().unwrap().is_match("agent-sim> "));
    assert!(
        m.paste_placeholder
            .as_ref()
            .unwrap()
            .is_match("agent-sim> [pasted text: 9 lines, 300 bytes]")
    );
    assert!(m.working.as_ref().unwrap().is_match("working… (1/3)"));
    let (trust, regex) = &m.dialogs[0];
    assert_eq!(trust.name, "trust");
    assert!(regex.is_match("Do you trust the files in this folder?"));
}

#[test]
fn claude_codes_placeholder_is_known() {
    let m = by_name("claude-code").unwrap().matcher();
    assert!(m.paste_placeholder.as_ref().unwrap().is_match("│ > [Pasted text #1 +8 lines]   │"));
}
