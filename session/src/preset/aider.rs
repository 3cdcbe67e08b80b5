//! The preset for Aider (`aider-chat`, observed at 0.86.2 in tmux by the `agents` helper:
//! /work/notes/agents.md), and the checks of its flags: Aider keeps no dialog-avoiding state in
//! files, so everything is the argv (or its `AIDER_…` variables).

use super::setup::{Avoided, Finding, Setup};
use super::{Dialog, Preset};

/// Aider's questions are one line on its input line, ending `[Yes]:`.
const fn question(
    name: &'static str,
    pattern: &'static str,
    meaning: &'static str,
    avoid: &'static str,
    avoided: fn(&Setup) -> Avoided,
) -> Dialog {
    // unknown: the keys that answer No (a typed `n` and Enter, by its source; not tried).
    Dialog { name, pattern, meaning, avoid, safe_to_answer: false, answer_keys: &[], avoided }
}

pub static PRESET: Preset = Preset {
    name: "aider",
    programs: &["aider"],
    // `--yes-always` answers every question, so every flag after it closes one it should not
    // answer yes to: fetching URLs of the prompt (and installing Playwright for it), shell
    // commands, installing an update, lint and test runs that send prompts of their own,
    // commits, `.gitignore`. The model flags (`--model`, `--openai-api-base`, …) and the
    // ones that shape its work (`--edit-format`, `--map-tokens`) are the workflow's.
    default_argv: &[
        "aider",
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
    ],
    // The empty prompt line, the last line of the screen.
    input_ready: Some(r"^> ?$"),
    input_lines: 1,
    first_prompt_settle_ms: 0,
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
            |s| by_flag(s, "gitignore", "with --yes-always it writes .gitignore into the worktree"),
        ),
        question(
            "model-warnings",
            r"Open documentation url for more info\?",
            "Aider warns about an unknown model and offers to open a browser",
            "`--no-show-model-warnings`, or a `--model-metadata-file` with the model",
            model_warnings_avoided,
        ),
        question(
            "release-notes",
            r"see what's new in this version\?",
            "Aider offers its release notes",
            "`--no-show-release-notes`",
            |s| by_flag(s, "show-release-notes", "with --yes-always it shows them"),
        ),
        question(
            "analytics",
            r"Allow collection of anonymous analytics",
            "Aider asks to collect analytics",
            "`--analytics-disable`",
            analytics_avoided,
        ),
        question(
            "add-url",
            r"Add URL to the chat\?",
            "Aider asks whether to fetch a URL it found in the prompt",
            "`--no-detect-urls`",
            |s| {
                by_flag(
                    s,
                    "detect-urls",
                    "with --yes-always it fetches every URL of a prompt, and may install Playwright to do it",
                )
            },
        ),
        question(
            "git-init",
            r"No git repo found, create one",
            "Aider asks to create a git repository",
            "run it in a git worktree, or `--no-git`",
            git_avoided,
        ),
    ],
    leaves_running: "nothing: one process, the pane's own",
    version_args: &["--version"],
    tested_version: Some("0.86.2"),
    requirements,
};

/// Whether Aider's boolean option `name` is on: `--name` / `--no-name` in the argv (the last
/// wins), else its variable `AIDER_NAME` (`true`/`false`), else `default`.
fn option(setup: &Setup, name: &str, default: bool) -> bool {
    let (on, off) = (format!("--{name}"), format!("--no-{name}"));
    let last = setup.argv.iter().skip(1).rev().find(|word| **word == on || **word == off);
    if let Some(word) = last {
        return *word == on;
    }
    let var = format!("AIDER_{}", name.to_uppercase().replace('-', "_"));
    match setup.var(&var).map(str::to_ascii_lowercase).as_deref() {
        Some("true" | "1" | "yes" | "on") => true,
        Some("false" | "0" | "no" | "off") => false,
        _ => default,
    }
}

/// A question that `--no-NAME` keeps away.
fn by_flag(setup: &Setup, name: &str, with_yes: &str) -> Avoided {
    if !option(setup, name, true) {
        return Avoided::Yes(format!("--no-{name}"));
    }
    let yes = match option(setup, "yes-always", false) {
        true => format!(" ({with_yes})"),
        false => String::new(),
    };
    Avoided::No(format!("add --no-{name}{yes}"))
}

fn model_warnings_avoided(setup: &Setup) -> Avoided {
    let model = setup.flag_value("--model").unwrap_or_default();
    let file = setup.flag_value("--model-metadata-file");
    let text = file.and_then(|file| std::fs::read_to_string(file).ok()).unwrap_or_default();
    if !model.is_empty() && text.contains(&format!("\"{model}\"")) {
        return Avoided::Yes(format!("{model} is in {}", file.unwrap_or_default()));
    }
    by_flag(setup, "show-model-warnings", "with --yes-always it opens a browser")
}

fn analytics_avoided(setup: &Setup) -> Avoided {
    match option(setup, "analytics-disable", false) || !option(setup, "analytics", true) {
        true => Avoided::Yes("--analytics-disable".to_owned()),
        false => Avoided::No("add --analytics-disable".to_owned()),
    }
}

fn git_avoided(setup: &Setup) -> Avoided {
    if !option(setup, "git", true) {
        return Avoided::Yes("--no-git".to_owned());
    }
    match super::setup::git_top(&setup.worktree_real()) {
        Some(top) => {
            Avoided::Yes(format!("the worktree is in the git repository {}", top.display()))
        }
        None => {
            Avoided::No("make the worktree a git repository (git init), or add --no-git".to_owned())
        }
    }
}

/// What `--yes-always` would agree to that it must not, and the settings that keep a run clean.
fn requirements(setup: &Setup) -> Vec<Finding> {
    let mut findings = Vec::new();
    let yes = option(setup, "yes-always", false);
    let agrees = [
        ("suggest-shell-commands", "runs the shell commands it suggests"),
        ("check-update", "installs the update it finds (pip install)"),
    ];
    if yes {
        for (name, what) in agrees {
            if option(setup, name, true) {
                findings
                    .push(Finding::fail(format!("with --yes-always it {what}: add --no-{name}")));
            }
        }
        if !option(setup, "disable-playwright", false) {
            findings.push(Finding::fail(
                "with --yes-always it agrees to install Playwright (apt-get as root) to fetch a page: add --disable-playwright",
            ));
        }
    } else {
        findings.push(Finding::warn(
            "without --yes-always it asks before it creates or edits a file, and devflow stops at every question: add --yes-always with the flags `devflow init --agent aider` writes",
        ));
    }
    if option(setup, "auto-lint", true) {
        findings.push(Finding::warn(
            "it lints what it writes and sends prompts of its own (\"Fix lint errors\") to the model: add --no-auto-lint",
        ));
    }
    if option(setup, "auto-commits", true) {
        findings.push(Finding::warn("it commits its edits on its own: add --no-auto-commits"));
    }
    if ["--openai-api-key", "--anthropic-api-key", "--api-key"].iter().any(|f| setup.has_flag(f)) {
        findings.push(Finding::warn(
            "an API key is in the argv, which the workflow and devflow's database keep: put it in the role's env (OPENAI_API_KEY, ANTHROPIC_API_KEY, …) instead",
        ));
    }
    if let Some(url) = setup.flag_value("--openai-api-base").or(setup.var("OPENAI_API_BASE")) {
        findings.push(Finding::ok(format!("model endpoint {url}")));
    }
    for file in config_files(setup) {
        findings.push(Finding::warn(format!(
            "{} exists and may change these options; doctor reads only the argv and AIDER_ variables",
            file.display()
        )));
    }
    findings
}

/// Aider's YAML config files that exist: `--config`, else `.aider.conf.yml` in HOME, the
/// repository's top and the worktree.
fn config_files(setup: &Setup) -> Vec<std::path::PathBuf> {
    if let Some(file) = setup.flag_value("--config").or(setup.flag_value("-c")) {
        return vec![file.into()];
    }
    let worktree = setup.worktree_real();
    let mut folders = vec![worktree.clone()];
    folders.extend(super::setup::git_top(&worktree));
    folders.extend(setup.home());
    let mut files: Vec<_> =
        folders.iter().map(|dir| dir.join(".aider.conf.yml")).filter(|f| f.exists()).collect();
    files.dedup();
    files
}
