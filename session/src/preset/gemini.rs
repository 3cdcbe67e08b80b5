//! The preset for Gemini CLI (`@google/gemini-cli`, observed at 0.61.0 in tmux by the `agents`
//! helper: /work/notes/agents.md).

use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "gemini",
    programs: &["gemini"],
    // Edits are approved without a question; shell commands still ask (`--yolo` would approve
    // everything).
    default_argv: &["gemini", "--approval-mode", "auto_edit"],
    input_ready: Some(r"^\s*>\s+Type your message or @path/to/file"),
    // The spinner line, a rule, the input line, a rule, the footer, a note.
    input_lines: 6,
    paste_placeholder: Some(r"\[Pasted Text: \d+ lines\]"),
    // ` ⠋ Thinking... (esc to cancel, 0s)`
    working: Some(r"esc to cancel"),
    dialogs: &[
        Dialog {
            name: "folder-trust",
            pattern: r"Do you trust the files in this folder\?",
            meaning: "Gemini CLI asks whether to trust the worktree (it restarts itself after)",
            avoid: "`{\"<worktree>\": \"TRUST_FOLDER\"}` in ~/.gemini/trustedFolders.json",
            safe_to_answer: true,
            // "1. Trust folder" is the selected choice.
            answer_keys: &["Enter"],
        },
        Dialog {
            name: "auth-method",
            pattern: r"How would you like to authenticate",
            meaning: "Gemini CLI asks how to authenticate",
            avoid: "`security.auth.selectedType = \"gemini-api-key\"` in ~/.gemini/settings.json",
            safe_to_answer: false,
            answer_keys: &[],
        },
        Dialog {
            name: "api-key",
            pattern: r"Enter Gemini API Key",
            meaning: "Gemini CLI asks for an API key to store",
            avoid: "`security.auth.selectedType = \"gemini-api-key\"` in ~/.gemini/settings.json (GEMINI_API_KEY is then used)",
            safe_to_answer: false,
            answer_keys: &[],
        },
    ],
    leaves_running: "its two node processes ignore SIGHUP and survive `kill-window` and `kill-server`",
};
