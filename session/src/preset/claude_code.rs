//! The preset for Claude Code (`@anthropic-ai/claude-code`, observed at 2.1.332 in tmux by the
//! `agents` helper: /work/notes/agents.md).

use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "claude-code",
    programs: &["claude"],
    // As root it refuses `--dangerously-skip-permissions` unless IS_SANDBOX=1 is set.
    default_argv: &["claude", "--dangerously-skip-permissions"],
    // The empty input box: `❯` and a no-break space, between two rules of `─`.
    input_ready: Some(r"^❯\s*$"),
    // A rule, the input line, a rule, the footer, and the spinner or a note above the box.
    input_lines: 5,
    paste_placeholder: Some(r"\[Pasted text #\d+ \+\d+ lines\]"),
    // The footer while it works: `… · esc to interrupt`.
    working: Some(r"esc to interrupt"),
    dialogs: &[
        Dialog {
            name: "onboarding",
            pattern: r"Unable to connect to Anthropic services",
            meaning: "Claude Code's first-run check could not reach the vendor's servers, and it exited",
            avoid: "`\"hasCompletedOnboarding\": true` in ~/.claude.json",
            safe_to_answer: false,
            answer_keys: &[],
        },
        Dialog {
            name: "folder-trust",
            pattern: r"Is this a project you created or one you trust\?",
            meaning: "Claude Code asks whether to trust the files of the worktree",
            avoid: "`projects[\"<worktree>\"].hasTrustDialogAccepted: true` in ~/.claude.json",
            safe_to_answer: true,
            // In 2.1.332 the selected choice is "No, exit" (it was "Yes" in 2.1.197).
            answer_keys: &["Down", "Enter"],
        },
        Dialog {
            name: "custom-api-key",
            pattern: r"Detected a custom API key",
            meaning: "Claude Code asks whether to use the API key of its environment (Enter answers No, and the key is stored as rejected)",
            avoid: "`customApiKeyResponses.approved` holding the key's last 20 characters in ~/.claude.json",
            safe_to_answer: false,
            answer_keys: &[],
        },
        Dialog {
            name: "bypass-permissions",
            pattern: r"running in Bypass Permissions mode",
            meaning: "Claude Code warns that it runs with every permission (Enter answers No, exit)",
            avoid: "`\"skipDangerousModePermissionPrompt\": true` in ~/.claude/settings.json",
            safe_to_answer: false,
            answer_keys: &[],
        },
    ],
    leaves_running: "nothing: one process, the pane's own",
};
