//! The preset for Claude Code (`@anthropic-ai/claude-code`, observed at 2.1.332 in tmux by the
//! `agents` helper: /work/notes/agents.md), and the checks of its configuration: `~/.claude.json`
//! (`$CLAUDE_CONFIG_DIR/.claude.json` where that is set) and `~/.claude/settings.json`.

use std::path::PathBuf;

use serde_json::Value;

use super::setup::{Avoided, Finding, Setup, git_top, read_json};
use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "claude-code",
    programs: &["claude"],
    // Bypass mode works unattended; WebFetch and WebSearch are denied so that it fetches no URL
    // it finds in a prompt (deny rules hold in every permission mode). As root it refuses
    // bypass mode unless IS_SANDBOX=1 is set.
    default_argv: &[
        "claude",
        "--dangerously-skip-permissions",
        "--disallowedTools",
        "WebFetch WebSearch",
    ],
    // The empty input box: `❯` and a no-break space, between two rules of `─`.
    input_ready: Some(r"^❯\s*$"),
    // A rule, the input line, a rule, the footer, and the spinner or a note above the box.
    input_lines: 5,
    first_prompt_settle_ms: 0,
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
            avoided: onboarding_avoided,
        },
        Dialog {
            name: "folder-trust",
            pattern: r"Is this a project you created or one you trust\?",
            meaning: "Claude Code asks whether to trust the files of the worktree",
            avoid: "`projects[\"<worktree>\"].hasTrustDialogAccepted: true` in ~/.claude.json",
            safe_to_answer: true,
            // In 2.1.332 the selected choice is "No, exit" (it was "Yes" in 2.1.197).
            answer_keys: &["Down", "Enter"],
            avoided: trust_avoided,
        },
        Dialog {
            name: "custom-api-key",
            pattern: r"Detected a custom API key",
            meaning: "Claude Code asks whether to use the API key of its environment (Enter answers No, and the key is stored as rejected)",
            avoid: "`customApiKeyResponses.approved` holding the key's last 20 characters in ~/.claude.json",
            safe_to_answer: false,
            answer_keys: &[],
            avoided: api_key_avoided,
        },
        Dialog {
            name: "bypass-permissions",
            pattern: r"running in Bypass Permissions mode",
            meaning: "Claude Code warns that it runs with every permission (Enter answers No, exit)",
            avoid: "`\"skipDangerousModePermissionPrompt\": true` in ~/.claude/settings.json",
            safe_to_answer: false,
            answer_keys: &[],
            avoided: bypass_avoided,
        },
    ],
    leaves_running: "nothing: one process, the pane's own",
    version_args: &["--version"],
    tested_version: Some("2.1.332"),
    requirements,
};

/// How many characters of an API key Claude Code stores to remember its answer.
const KEY_TAIL_CHARS: usize = 20;

/// The folder of Claude Code's own files: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
fn config_dir(setup: &Setup) -> Result<PathBuf, Finding> {
    match setup.var("CLAUDE_CONFIG_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => setup.in_home(".claude"),
    }
}

/// `.claude.json` (in `$CLAUDE_CONFIG_DIR`, else in HOME; the legacy `.config.json` of the
/// config folder where only that exists), and what it holds.
fn global_config(setup: &Setup) -> Result<(PathBuf, Value), String> {
    let base = match setup.var("CLAUDE_CONFIG_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => setup.home().ok_or("HOME is not set, so ~/.claude.json cannot be found")?,
    };
    let file = base.join(".claude.json");
    let legacy = config_dir(setup).map_err(|f| f.text)?.join(".config.json");
    let path = if !file.exists() && legacy.exists() { legacy } else { file };
    let value = read_json(&path)?.unwrap_or(Value::Null);
    Ok((path, value))
}

fn onboarding_avoided(setup: &Setup) -> Avoided {
    let (path, config) = match global_config(setup) {
        Ok(found) => found,
        Err(why) => return Avoided::No(why),
    };
    match config["hasCompletedOnboarding"] == true {
        true => Avoided::Yes(format!("hasCompletedOnboarding in {}", path.display())),
        false => Avoided::No(format!(
            "set \"hasCompletedOnboarding\": true in {} (offline, the check exits Claude Code)",
            path.display()
        )),
    }
}

fn trust_avoided(setup: &Setup) -> Avoided {
    if setup.var("CLAUDE_CODE_SANDBOXED").is_some() {
        return Avoided::Yes("CLAUDE_CODE_SANDBOXED is set".to_owned());
    }
    let (path, config) = match global_config(setup) {
        Ok(found) => found,
        Err(why) => return Avoided::No(why),
    };
    // Trust is looked up for the folder and its parents up to the repository's top (all the
    // way up outside a repository), as Claude Code 2.1 does.
    let worktree = setup.worktree_real();
    let top = git_top(&worktree);
    for folder in worktree.ancestors() {
        let key = folder.to_string_lossy();
        if config["projects"][key.as_ref()]["hasTrustDialogAccepted"] == true {
            return Avoided::Yes(format!(
                "projects[\"{key}\"].hasTrustDialogAccepted in {}",
                path.display()
            ));
        }
        if top.as_deref() == Some(folder) {
            break;
        }
    }
    Avoided::No(format!(
        "set projects[\"{}\"].hasTrustDialogAccepted: true in {}",
        worktree.display(),
        path.display()
    ))
}

fn api_key_avoided(setup: &Setup) -> Avoided {
    let Some(key) = setup.var("ANTHROPIC_API_KEY") else {
        return Avoided::Yes("ANTHROPIC_API_KEY is not set".to_owned());
    };
    let tail: String = {
        let chars: Vec<char> = key.chars().collect();
        chars[chars.len().saturating_sub(KEY_TAIL_CHARS)..].iter().collect()
    };
    let (path, config) = match global_config(setup) {
        Ok(found) => found,
        Err(why) => return Avoided::No(why),
    };
    let holds = |list: &str| {
        config["customApiKeyResponses"][list]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k.as_str() == Some(tail.as_str())))
    };
    let fix = format!(
        "add the last {KEY_TAIL_CHARS} characters of ANTHROPIC_API_KEY to customApiKeyResponses.approved in {}",
        path.display()
    );
    if holds("rejected") {
        return Avoided::No(format!(
            "the key is stored as rejected (customApiKeyResponses.rejected) and Claude Code will not use it: remove it there and {fix}"
        ));
    }
    match holds("approved") {
        true => Avoided::Yes(format!("the key is approved in {}", path.display())),
        false => Avoided::No(fix),
    }
}

/// Whether the argv starts it in bypass-permissions mode.
fn bypass(setup: &Setup) -> bool {
    setup.has_flag("--dangerously-skip-permissions")
        || setup.flag_value("--permission-mode") == Some("bypassPermissions")
}

fn bypass_avoided(setup: &Setup) -> Avoided {
    if !bypass(setup) {
        return Avoided::Yes("not started in bypass-permissions mode".to_owned());
    }
    let path = match config_dir(setup) {
        Ok(dir) => dir.join("settings.json"),
        Err(finding) => return Avoided::No(finding.text),
    };
    match read_json(&path) {
        Err(why) => Avoided::No(why),
        Ok(Some(settings)) if settings["skipDangerousModePermissionPrompt"] == true => {
            Avoided::Yes(format!("skipDangerousModePermissionPrompt in {}", path.display()))
        }
        Ok(_) => Avoided::No(format!(
            "set \"skipDangerousModePermissionPrompt\": true in {}",
            path.display()
        )),
    }
}

fn requirements(setup: &Setup) -> Vec<Finding> {
    let mut findings = Vec::new();
    if bypass(setup) && setup.root {
        findings.push(match setup.var("IS_SANDBOX") {
            Some("1") => Finding::ok("runs as root in bypass mode with IS_SANDBOX=1"),
            _ => Finding::fail(
                "as root Claude Code refuses --dangerously-skip-permissions and exits: set IS_SANDBOX = \"1\" in the role's env (only in a sandbox or container)",
            ),
        });
    }
    let denied = setup.flag_value("--disallowedTools").or(setup.flag_value("--disallowed-tools"));
    if bypass(setup) && !denied.is_some_and(|tools| tools.contains("WebFetch")) {
        findings.push(Finding::warn(
            "in bypass mode it fetches any URL it finds (WebFetch) without asking: add --disallowedTools \"WebFetch WebSearch\"",
        ));
    }
    findings.push(match setup.var("ANTHROPIC_BASE_URL") {
        Some(url) => Finding::ok(format!("model endpoint ANTHROPIC_BASE_URL={url}")),
        None => Finding::ok("model endpoint: Anthropic's (ANTHROPIC_BASE_URL is not set)"),
    });
    let logged_in = config_dir(setup).is_ok_and(|dir| dir.join(".credentials.json").exists());
    let keyed =
        ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"].iter().any(|k| setup.var(k).is_some());
    if !keyed && !logged_in {
        findings.push(Finding::fail(
            "neither ANTHROPIC_API_KEY nor a login (~/.claude/.credentials.json): Claude Code will ask to log in; set ANTHROPIC_API_KEY in the role's env or yours",
        ));
    }
    if setup.var("DISABLE_AUTOUPDATER").is_none() {
        findings.push(Finding::warn(
            "it may update itself while it runs: set DISABLE_AUTOUPDATER = \"1\" in the role's env",
        ));
    }
    findings
}
