//! The preset for Codex CLI (`@openai/codex`, observed at 0.171.0 in tmux by the `agents`
//! helper: /work/notes/agents.md), and the checks of its configuration:
//! `$CODEX_HOME/config.toml` (`~/.codex/config.toml` where CODEX_HOME is not set).

use std::path::{Path, PathBuf};

use super::setup::{Avoided, Finding, Setup, git_top};
use super::{Dialog, Preset};

pub static PRESET: Preset = Preset {
    name: "codex",
    programs: &["codex"],
    // `--full-auto` no longer exists; `-s workspace-write -a never` is the unattended pair (its
    // shell runs sandboxed: it writes only the workspace and has no network).
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
    // Codex 0.171 draws its input box, then ~300 ms later (on an idle machine) its sign-in
    // or folder-trust dialog over it: the first paste waits until the box held still 1.5 s.
    first_prompt_settle_ms: 1_500,
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
            avoided: sign_in_avoided,
        },
        Dialog {
            name: "folder-trust",
            pattern: r"Trust this folder\?",
            meaning: "Codex asks whether to trust the worktree",
            avoid: "`[projects.\"<worktree>\"] trust_level = \"trusted\"` in $CODEX_HOME/config.toml",
            // Not answered, even on opt-in: with Codex 0.171 answering it ("1. Trust and
            // continue", Enter) left the next paste unverified in the real-agent tests — the
            // screen went on redrawing and the model never got the prompt. Trust is configured
            // instead (`devflow init --agent codex`, `devflow doctor` names the line).
            safe_to_answer: false,
            answer_keys: &[],
            avoided: trust_avoided,
        },
    ],
    leaves_running: "without --no-daemon, two setsid'd app-server daemons that outlive the pane and the tmux server",
    version_args: &["--version"],
    tested_version: Some("0.171.0"),
    requirements,
};

/// `$CODEX_HOME/config.toml` and what it holds (an empty table when it does not exist).
fn config(setup: &Setup) -> Result<(PathBuf, toml::Table), String> {
    let home = match setup.var("CODEX_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => setup.in_home(".codex").map_err(|finding| finding.text)?,
    };
    let path = home.join("config.toml");
    let table = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|error| format!("{} is not valid TOML ({error})", path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    Ok((path, table))
}

/// The provider `model_provider` names, when it is one of the file's `[model_providers]`.
fn custom_provider(table: &toml::Table) -> Option<(&str, &toml::Table)> {
    let name = table.get("model_provider")?.as_str()?;
    let provider = table.get("model_providers")?.get(name)?.as_table()?;
    Some((name, provider))
}

fn sign_in_avoided(setup: &Setup) -> Avoided {
    let (path, table) = match config(setup) {
        Ok(found) => found,
        Err(why) => return Avoided::No(why),
    };
    if let Some((name, _)) = custom_provider(&table) {
        return Avoided::Yes(format!("model_provider = \"{name}\" in {}", path.display()));
    }
    if path.with_file_name("auth.json").exists() {
        return Avoided::Yes(format!("signed in ({})", path.with_file_name("auth.json").display()));
    }
    Avoided::No(format!(
        "add to {} a provider — model_provider = \"NAME\" and [model_providers.NAME] with base_url, env_key = \"VAR\" (the variable holding its key) and wire_api = \"responses\" — or sign in once with `codex login`",
        path.display()
    ))
}

/// Where Codex keys a folder's trust: the folder itself, and the top of its repository — for
/// a linked git worktree, the main checkout's (its `.git` file points into `.git/worktrees/`).
fn trust_keys(worktree: &Path) -> Vec<PathBuf> {
    let mut keys = vec![worktree.to_path_buf()];
    if let Some(top) = git_top(worktree) {
        let main = std::fs::read_to_string(top.join(".git")).ok().and_then(|text| {
            let gitdir = top.join(text.trim().strip_prefix("gitdir:")?.trim());
            let worktrees = gitdir.parent()?;
            let main = worktrees.parent()?.parent()?;
            (worktrees.file_name()? == "worktrees").then(|| main.to_path_buf())
        });
        let top = main.unwrap_or(top);
        keys.push(std::fs::canonicalize(&top).unwrap_or(top));
    }
    keys.dedup();
    keys
}

fn trust_avoided(setup: &Setup) -> Avoided {
    let (path, table) = match config(setup) {
        Ok(found) => found,
        Err(why) => return Avoided::No(why),
    };
    let keys = trust_keys(&setup.worktree_real());
    let projects = table.get("projects").and_then(toml::Value::as_table);
    for key in &keys {
        let key = key.to_string_lossy();
        let level = projects
            .and_then(|projects| projects.get(key.as_ref()))
            .and_then(|project| project.get("trust_level"))
            .and_then(toml::Value::as_str);
        if level == Some("trusted") {
            return Avoided::Yes(format!("[projects.\"{key}\"] is trusted in {}", path.display()));
        }
    }
    let key = keys.last().expect("the worktree is a key").display();
    Avoided::No(format!(
        "add [projects.\"{key}\"] with trust_level = \"trusted\" to {}",
        path.display()
    ))
}

fn requirements(setup: &Setup) -> Vec<Finding> {
    let mut findings = Vec::new();
    if setup.has_flag("--full-auto") {
        findings.push(Finding::fail(
            "Codex CLI 0.171 has no --full-auto and exits at once: use -s workspace-write -a never",
        ));
    }
    if !setup.has_flag("--no-daemon") {
        findings.push(Finding::warn(
            "without --no-daemon it starts two app-server daemons that outlive the run: add --no-daemon",
        ));
    }
    let sandbox = setup.flag_value("-s").or(setup.flag_value("--sandbox"));
    let unsandboxed = sandbox == Some("danger-full-access")
        || setup.has_flag("--dangerously-bypass-approvals-and-sandbox")
        || setup.has_flag("--yolo");
    if unsandboxed {
        findings.push(Finding::warn(
            "its shell runs without a sandbox: it may install packages and reach the network; use -s workspace-write -a never",
        ));
    }
    match config(setup) {
        Err(why) => findings.push(Finding::fail(why)),
        Ok((path, table)) => {
            if let Some(finding) = provider_key(&path, &table, setup) {
                findings.push(finding);
            }
        }
    }
    findings
}

/// The custom provider's endpoint, and whether the variable it reads its key from is set.
fn provider_key(path: &Path, table: &toml::Table, setup: &Setup) -> Option<Finding> {
    let (name, provider) = custom_provider(table)?;
    let url = provider.get("base_url").and_then(toml::Value::as_str).unwrap_or("(no base_url)");
    let Some(var) = provider.get("env_key").and_then(toml::Value::as_str) else {
        return Some(Finding::ok(format!("model endpoint: provider {name} at {url}")));
    };
    Some(match setup.var(var) {
        Some(_) => Finding::ok(format!("model endpoint: provider {name} at {url}, key in {var}")),
        None => Finding::fail(format!(
            "the provider {name} of {} reads its key from {var}, which is set neither in the role's env nor in yours",
            path.display()
        )),
    })
}
