//! The screens of the real CLIs, as the `agents` helper captured them in tmux (stripped of
//! escapes as `capture-pane -p` gives them; `preset/screens/`): each preset reads its CLI's
//! dialogs, its empty input box and its pastes as they really look.

use super::{Screen, Signs};
use crate::preset;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// Signs of the prompt whose marker shows on the screen (any, for a placeholder).
fn signs_on(screen: &[String]) -> Signs {
    let marker = screen
        .iter()
        .find_map(|line| line.find("devflow-prompt ").map(|at| line[at..at + 31].to_owned()))
        .unwrap_or_else(|| "devflow-prompt 0000000000000000".to_owned());
    Signs { marker, last_line: "Schema: plan.schema.json".to_owned() }
}

struct Cli {
    preset: &'static str,
    dialogs: &'static [(&'static str, &'static str)],
    ready: &'static str,
    pasted: &'static [&'static str],
    after: Option<&'static str>,
}

macro_rules! screen {
    ($name:literal) => {
        include_str!(concat!("../../preset/screens/", $name, ".txt"))
    };
}

const CLIS: &[Cli] = &[
    Cli {
        preset: "claude-code",
        dialogs: &[
            ("onboarding", screen!("claude-screen-0-offline-onboarding")),
            ("folder-trust", screen!("claude-screen-1-trust")),
            ("custom-api-key", screen!("claude-screen-2-api-key")),
            ("bypass-permissions", screen!("claude-screen-3-bypass")),
        ],
        ready: screen!("claude-screen-4-ready"),
        pasted: &[screen!("claude-screen-5-pasted"), screen!("claude-screen-6-pasted-short")],
        after: Some(screen!("claude-screen-7-after")),
    },
    Cli {
        preset: "codex",
        dialogs: &[
            ("sign-in", screen!("codex-screen-0-login")),
            ("folder-trust", screen!("codex-screen-1-trust")),
        ],
        ready: screen!("codex-screen-2-ready"),
        pasted: &[screen!("codex-screen-3-pasted-2kb"), screen!("codex-screen-4-pasted-short")],
        after: Some(screen!("codex-screen-5-after")),
    },
    Cli {
        preset: "gemini",
        dialogs: &[
            ("folder-trust", screen!("gemini-screen-1-trust")),
            ("auth-method", screen!("gemini-screen-2-auth-method")),
            ("api-key", screen!("gemini-screen-3-api-key")),
        ],
        ready: screen!("gemini-screen-4-ready"),
        pasted: &[
            screen!("gemini-screen-5-pasted-2kb"),
            screen!("gemini-screen-6-pasted-short-unsubmitted"),
        ],
        after: Some(screen!("gemini-screen-7-after")),
    },
    Cli {
        preset: "aider",
        dialogs: &[
            ("gitignore", screen!("aider-screen-1-gitignore")),
            ("model-warnings", screen!("aider-screen-2-model-warning-url")),
            ("release-notes", screen!("aider-screen-3-release-notes")),
        ],
        ready: screen!("aider-screen-4-ready"),
        pasted: &[screen!("aider-screen-5-pasted-2kb")],
        // Captured right after Enter, before the reply, it looks just like the paste: Aider's
        // taking shows as bracketed paste going off (the tap), then as its reply.
        after: None,
    },
];

#[test]
fn each_clis_dialogs_are_known_by_name() {
    for cli in CLIS {
        let matcher = preset::by_name(cli.preset).unwrap().matcher();
        for (name, text) in cli.dialogs {
            let screen = lines(text);
            let found = Screen::new(&screen, matcher).dialog().map(|(dialog, _)| dialog.name);
            assert_eq!(found, Some(*name), "{} {name}", cli.preset);
            assert!(!Screen::new(&screen, matcher).input_ready(), "{} {name}", cli.preset);
        }
    }
}

#[test]
fn each_clis_empty_input_box_is_ready_and_asks_nothing() {
    for cli in CLIS {
        let screen = lines(cli.ready);
        let screen = Screen::new(&screen, preset::by_name(cli.preset).unwrap().matcher());
        assert!(screen.input_ready(), "{}", cli.preset);
        assert!(screen.dialog().is_none() && screen.question().is_none(), "{}", cli.preset);
        assert!(!screen.working(), "{}", cli.preset);
    }
}

#[test]
fn each_clis_paste_is_seen_in_its_input_and_gone_once_taken() {
    for cli in CLIS {
        let matcher = preset::by_name(cli.preset).unwrap().matcher();
        for text in cli.pasted {
            let screen = lines(text);
            let signs = signs_on(&screen);
            assert!(
                Screen::new(&screen, matcher).paste_in_input(&signs),
                "{}:\n{text}",
                cli.preset
            );
        }
        if let Some(text) = cli.after {
            let screen = lines(text);
            let view = Screen::new(&screen, matcher);
            assert!(!view.paste_in_input(&signs_on(&screen)), "{}", cli.preset);
            assert!(view.input_ready(), "{}", cli.preset);
        }
    }
}
