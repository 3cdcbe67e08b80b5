//! The preset for Codex CLI (`@openai/codex`, observed at 0.171.0 in tmux by the `agents`
//! helper: /work/notes/agents.md).

use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "codex",
    programs: &["codex"],
    // `--full-auto` no longer exists; `-s workspace-write -a never` is the unattended pair.
    // `--no-daemon` keeps its app-server daemons from starting (they outlive the pane);
    // `--no-alt-screen` keeps the transcript in tmux's history.
    default_argv: &[
        "codex",
        "--no-daemon",
        "--no-alt-screen",
        "-s",
        "workspace-write",
        "-a",
        "never",
    ],
    input_ready: Some(r"^› Ask Codex to do anything"),
    // `• Working (…)` above the input, the input, two footer lines.
    input_lines: 5,
    // Pastes over 1,000 characters; shorter ones show as their text.
    paste_placeholder: Some(r"\[Pasted Content \d+ chars\]"),
    working: Some(r"esc to interrupt"),
    dialogs: &[
        Dialog {
            name: "sign-in",
            pattern: r"Choose how you want to use Codex",
            meaning: "Codex asks how to sign in (Enter starts a browser login)",
            avoid: "a `[model_providers.NAME]` with `env_key`, and `model_provider = \"NAME\"`, in $CODEX_HOME/config.toml",
            safe_to_answer: false,
            answer_keys: &[],
        },
        Dialog {
            name: "folder-trust",
            pattern: r"Trust this folder\?",
            meaning: "Codex asks whether to trust the worktree",
            avoid: "`[projects.\"<worktree>\"] trust_level = \"trusted\"` in $CODEX_HOME/config.toml",
            safe_to_answer: true,
            // "1. Trust and continue" is the selected choice.
            answer_keys: &["Enter"],
        },
    ],
    leaves_running: "without --no-daemon, two setsid'd app-server daemons that outlive the pane and the tmux server",
};
