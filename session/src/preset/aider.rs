//! The preset for Aider (`aider-chat`, observed at 0.86.2 in tmux by the `agents` helper:
//! /work/notes/agents.md).

use super::{Dialog, Preset};

/// Aider's questions are one line on its input line, ending `[Yes]:`.
const fn question(
    name: &'static str,
    pattern: &'static str,
    meaning: &'static str,
    avoid: &'static str,
) -> Dialog {
    // unknown: the keys that answer No (a typed `n` and Enter, by its source; not tried).
    Dialog { name, pattern, meaning, avoid, safe_to_answer: false, answer_keys: &[] }
}

pub static PRESET: Preset = Preset {
    name: "aider",
    programs: &["aider"],
    // `--yes-always` answers every question, so every flag after it closes one it should not
    // answer yes to: fetching URLs of the prompt (and installing Playwright for it), shell
    // commands, lint and test runs that send prompts of their own, commits, `.gitignore`.
    // The model flags (`--model`, `--openai-api-base`, …) are the workflow's.
    default_argv: &[
        "aider",
        "--edit-format",
        "whole",
        "--yes-always",
        "--no-detect-urls",
        "--disable-playwright",
        "--no-check-update",
        "--analytics-disable",
        "--no-show-model-warnings",
        "--no-show-release-notes",
        "--no-suggest-shell-commands",
        "--no-auto-commits",
        "--no-dirty-commits",
        "--no-gitignore",
        "--no-auto-lint",
        "--no-auto-test",
        "--map-tokens",
        "0",
    ],
    // The empty prompt line, the last line of the screen.
    input_ready: Some(r"^> ?$"),
    input_lines: 1,
    // A paste shows in full, each line prefixed `> `.
    paste_placeholder: None,
    // unknown: a line shown while it works; taking a prompt shows as the reply below it.
    working: None,
    dialogs: &[
        question(
            "gitignore",
            r"Add \.aider\* to \.gitignore",
            "Aider asks to add its files to the worktree's .gitignore",
            "`--no-gitignore`",
        ),
        question(
            "model-warnings",
            r"Open documentation url for more info\?",
            "Aider warns about an unknown model and offers to open a browser",
            "`--no-show-model-warnings`, or a `--model-metadata-file` with the model",
        ),
        question(
            "release-notes",
            r"see what's new in this version\?",
            "Aider offers its release notes",
            "`--no-show-release-notes`",
        ),
        question(
            "analytics",
            r"Allow collection of anonymous analytics",
            "Aider asks to collect analytics",
            "`--analytics-disable`",
        ),
        question(
            "add-url",
            r"Add URL to the chat\?",
            "Aider asks whether to fetch a URL it found in the prompt",
            "`--no-detect-urls`",
        ),
        question(
            "git-init",
            r"No git repo found, create one",
            "Aider asks to create a git repository",
            "run it in a git worktree, or `--no-git`",
        ),
    ],
    leaves_running: "nothing: one process, the pane's own",
};
