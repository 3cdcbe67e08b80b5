//! Real agents: the four CLIs that `cargo xtask agents install` puts in `target/agents/`, each
//! pointed at `devflow-model-stub` with the dialog-free configuration of /work/notes/agents.md
//! (a throwaway HOME per role), driven by `devflow run` in real tmux through two phases, one of
//! them repaired once. The stub's log is the ground truth: every prompt devflow recorded reached
//! the model exactly once, and none that it did not record.
//!
//! Without the CLIs (or tmux) these tests say SKIPPED loudly; under `CI=true` they fail.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{DEVFLOW, PLAN_SCHEMA, Run, repo_root};

/// Longest one `devflow run` may take here: two phases, each with a 30 s artifact wait that may
/// time out once before its repair.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// The fake key every CLI gets; Claude Code approves a key by its last 20 characters.
const API_KEY: &str = "sk-ant-api03-devflow-fake-key-0123456789abcdefghij";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cli {
    ClaudeCode,
    Codex,
    Gemini,
    Aider,
}

impl Cli {
    fn bin_name(self) -> &'static str {
        match self {
            Cli::ClaudeCode => "claude",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
            Cli::Aider => "aider",
        }
    }
}

#[test]
fn claude_code_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::ClaudeCode);
}

#[test]
fn codex_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Codex);
}

#[test]
fn gemini_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Gemini);
}

#[test]
fn aider_runs_two_phases_with_one_repair() {
    two_phases_with_one_repair(Cli::Aider);
}

fn two_phases_with_one_repair(cli: Cli) {
    let Some(world) = AgentWorld::new(cli) else { return };
    let workflow = world.workflow();
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "real"], RUN_DEADLINE);
    let report = world.report(&run);
    assert_eq!(run.code, 0, "{cli:?}: the run did not complete\n{report}");
    let events = world.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["artifact.invalid", "prompt.repaired", "artifact.validated", "run.completed"] {
        assert!(kinds.contains(&kind), "{cli:?}: no {kind} in {kinds:?}\n{report}");
    }
    world.assert_model_saw_each_recorded_prompt_once(&events, &report);
}

/// One test's folder: the worktree, a HOME per role, the workflow, the stub and its log.
struct AgentWorld {
    cli: Cli,
    dir: tempfile::TempDir,
    bin: PathBuf,
    stub: Child,
    stub_url: String,
}

impl AgentWorld {
    /// `None` after a loud SKIPPED when tmux or the CLI is missing (a failure under `CI=true`).
    fn new(cli: Cli) -> Option<AgentWorld> {
        let bin = repo_root().join("target/agents/bin").join(cli.bin_name());
        let tmux = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        let missing = if !tmux {
            Some("tmux is not installed".to_owned())
        } else if !bin.exists() {
            Some(format!("{} is missing; run `cargo xtask agents install`", bin.display()))
        } else {
            None
        };
        if let Some(why) = missing {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true: {why}");
            eprintln!(
                "\n\n*** SKIPPED: the real-agent test for {cli:?} did not run: {why} ***\n\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for sub in ["wt", "wf", "tmux-tmpdir", "capture"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        git_init(&dir.path().join("wt"));
        let (stub, stub_url) = start_stub(dir.path());
        let world = AgentWorld { cli, dir, bin, stub, stub_url };
        for role in ["planner", "reviewer"] {
            world.configure_home(&world.home(role));
        }
        Some(world)
    }

    fn worktree(&self) -> PathBuf {
        self.dir.path().join("wt")
    }

    fn home(&self, role: &str) -> PathBuf {
        self.dir.path().join(format!("home-{role}"))
    }

    fn stub_log(&self) -> PathBuf {
        self.dir.path().join("prompts.jsonl")
    }

    /// The stub's log, one object per prompt the model received.
    fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.stub_log()).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// The two-phase workflow: the planner's first artifact is invalid, its repair valid; the
    /// reviewer's valid at once.
    fn workflow(&self) -> PathBuf {
        let wf = self.dir.path().join("wf");
        std::fs::write(wf.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
        let mut text = String::from("name = \"real-agents\"\n");
        for role in ["planner", "reviewer"] {
            let (argv, env) = self.command(&self.home(role));
            text += &format!(
                "\n[roles.{role}]\ncommand = {}\nenv = {{ {} }}\n",
                toml_list(&argv),
                toml_env(&env)
            );
        }
        for (key, role, script) in
            [("plan", "planner", "invalid, ok"), ("review", "reviewer", "ok")]
        {
            text += &format!(
                "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nartifact = \"out/{key}.json\"\n\
                 schema = \"plan.schema.json\"\ninstructions = '''\nWrite the {key}.\n\
                 Model-Script: {script}\n```json\n{{\"title\": \"{key}\", \"steps\": [\"one\", \"two\"]}}\n```\n'''\n\
                 \n[phases.wait]\ntimeout_ms = 30000\nstable_ms = 500\nmax_hung_ms = 60000\n"
            );
        }
        let path = wf.join("workflow.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The agent's argv and environment, pointed at the stub (see /work/notes/agents.md).
    fn command(&self, home: &Path) -> (Vec<String>, Vec<(String, String)>) {
        let bin = self.bin.to_str().unwrap().to_owned();
        let home_s = home.to_str().unwrap().to_owned();
        let mut env = vec![("HOME".to_owned(), home_s.clone())];
        let mut put = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
        let args: Vec<&str> = match self.cli {
            Cli::ClaudeCode => {
                put("ANTHROPIC_BASE_URL", &self.stub_url);
                put("ANTHROPIC_API_KEY", API_KEY);
                put("IS_SANDBOX", "1");
                put("DISABLE_AUTOUPDATER", "1");
                put("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
                vec!["--dangerously-skip-permissions"]
            }
            Cli::Codex => {
                put("CODEX_HOME", &format!("{home_s}/.codex"));
                put("STUB_API_KEY", API_KEY);
                vec!["--no-daemon", "--no-alt-screen", "-s", "workspace-write", "-a", "never"]
            }
            Cli::Gemini => {
                put("GEMINI_API_KEY", API_KEY);
                put("GOOGLE_GEMINI_BASE_URL", &self.stub_url);
                vec!["--approval-mode", "auto_edit"]
            }
            Cli::Aider => return (aider_argv(&bin, &home_s, &self.stub_url), env),
        };
        (std::iter::once(bin).chain(args.into_iter().map(str::to_owned)).collect(), env)
    }

    /// The files that let the CLI start without a first-run dialog.
    fn configure_home(&self, home: &Path) {
        let wt = self.worktree();
        let wt = wt.to_str().unwrap();
        let write = |path: &str, text: String| {
            let path = home.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        match self.cli {
            Cli::ClaudeCode => {
                let key_tail = &API_KEY[API_KEY.len() - 20..];
                write(".claude.json", serde_json::json!({
                    "hasCompletedOnboarding": true,
                    "customApiKeyResponses": { "approved": [key_tail], "rejected": [] },
                    "projects": { wt: { "hasTrustDialogAccepted": true } },
                }).to_string());
                write(".claude/settings.json", r#"{"skipDangerousModePermissionPrompt": true}"#.into());
            }
            Cli::Codex => write(".codex/config.toml", format!(
                "model = \"stub-model\"\nmodel_provider = \"stub\"\ncheck_for_update_on_startup = false\n\n\
                 [model_providers.stub]\nname = \"devflow model stub\"\nbase_url = \"{}/v1\"\n\
                 env_key = \"STUB_API_KEY\"\nwire_api = \"responses\"\n\n[projects.\"{wt}\"]\ntrust_level = \"trusted\"\n",
                self.stub_url
            )),
            Cli::Gemini => {
                write(".gemini/settings.json", serde_json::json!({
                    "security": { "auth": { "selectedType": "gemini-api-key" } },
                    "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false },
                    "privacy": { "usageStatisticsEnabled": false },
                    "telemetry": { "enabled": false },
                }).to_string());
                write(".gemini/trustedFolders.json", serde_json::json!({ wt: "TRUST_FOLDER" }).to_string());
            }
            Cli::Aider => write("stub-model.metadata.json", serde_json::json!({ "openai/stub-model": {
                "max_input_tokens": 200000, "max_output_tokens": 8192, "input_cost_per_token": 0,
                "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat",
            }}).to_string()),
        }
    }

    fn devflow(&self, args: &[&str], deadline: Duration) -> Run {
        let child = Command::new(DEVFLOW)
            .args(args)
            .current_dir(self.worktree())
            .env("TMUX_TMPDIR", self.dir.path().join("tmux-tmpdir"))
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            .env_remove("DEVFLOW_DATABASE_URL")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        finish_within(child, args, deadline)
    }

    fn events(&self) -> Vec<Value> {
        let run = self.devflow(&["events", "real", "--json"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// Every prompt event devflow recorded reached the model once, and the model saw no other:
    /// matched by marker where devflow's events carry one, else counted per artifact path.
    fn assert_model_saw_each_recorded_prompt_once(&self, events: &[Value], report: &str) {
        let received = self.received();
        let prompts: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "prompt.sent" || e["type"] == "prompt.repaired")
            .collect();
        assert_eq!(prompts.len(), received.len(), "recorded vs received prompts\n{report}");
        for prompt in &prompts {
            if let Some(marker) = prompt["payload"]["marker"].as_str() {
                let seen = received.iter().filter(|r| r["marker"] == marker).count();
                assert_eq!(seen, 1, "{marker} reached the model {seen} times\n{report}");
            }
        }
        for key in ["plan", "review"] {
            let path = format!("{}/out/{key}.json", self.worktree().display());
            let recorded = prompts.iter().filter(|e| e["phase_key"] == key).count();
            let seen = received.iter().filter(|r| r["artifact"] == path.as_str()).count();
            assert_eq!(
                recorded, seen,
                "phase {key}: recorded {recorded}, the model saw {seen}\n{report}"
            );
        }
    }

    /// What to read when a run went wrong: devflow's output, its events, the model's log, and
    /// each agent's screen.
    fn report(&self, run: &Run) -> String {
        let events = self.devflow(&["events", "real"], Duration::from_secs(60));
        let mut text = format!(
            "devflow exit {}\n--- stdout\n{}\n--- stderr\n{}\n--- events\n{}\n--- the model received\n",
            run.code, run.stdout, run.stderr, events.stdout
        );
        for line in self.received() {
            let first =
                line["prompt"].as_str().unwrap_or_default().lines().next().unwrap_or_default();
            text += &format!("{} {} {} {first:?}\n", line["api"], line["artifact"], line["marker"]);
        }
        for (pane, screen) in self.screens() {
            text += &format!("--- screen of {pane}\n{screen}\n");
        }
        text
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(self.worktree().join(".devflow/tmux.sock"));
        command
    }

    /// Each pane of the run's tmux server: its window name, and its screen as plain text.
    fn screens(&self) -> Vec<(String, String)> {
        let listing =
            self.tmux().args(["list-panes", "-a", "-F", "#{pane_id} #{window_name}"]).output();
        let listing =
            listing.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        listing
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(id, name)| {
                let screen = self.tmux().args(["capture-pane", "-p", "-t", id]).output().unwrap();
                (name.to_owned(), String::from_utf8_lossy(&screen.stdout).trim_end().to_owned())
            })
            .collect()
    }
}

impl Drop for AgentWorld {
    /// Ends the agents: their process groups first (Gemini CLI outlives `kill-server`), then the
    /// tmux server by its socket, then the stub.
    fn drop(&mut self) {
        let pids = self.tmux().args(["list-panes", "-a", "-F", "#{pane_pid}"]).output();
        let pids =
            pids.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        for pid in pids.lines().filter(|pid| pid.parse::<u32>().is_ok()) {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.tmux().arg("kill-server").stderr(Stdio::null()).status();
        let _ = self.stub.kill();
        let _ = self.stub.wait();
    }
}

/// Aider's argv: pointed at the stub, and every option that would let it fetch, install, lint,
/// commit or ask turned off (/work/notes/agents.md, "Aider").
fn aider_argv(bin: &str, home: &str, url: &str) -> Vec<String> {
    let api_base = format!("{url}/v1");
    let input_history = format!("{home}/aider.input.history");
    let chat_history = format!("{home}/aider.chat.history.md");
    let metadata = format!("{home}/stub-model.metadata.json");
    [
        bin,
        "--model",
        "openai/stub-model",
        "--openai-api-base",
        &api_base,
        "--openai-api-key",
        API_KEY,
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
        "--input-history-file",
        &input_history,
        "--chat-history-file",
        &chat_history,
        "--model-metadata-file",
        &metadata,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Starts `devflow-model-stub` (built beside the devflow binary, or built now) on a free port.
fn start_stub(dir: &Path) -> (Child, String) {
    let stub = stub_binary();
    let port_file = dir.join("stub.url");
    let child = Command::new(&stub)
        .arg("--port-file")
        .arg(&port_file)
        .arg("--log")
        .arg(dir.join("prompts.jsonl"))
        .arg("--capture")
        .arg(dir.join("capture"))
        .args(["--max-seconds", "900", "--parent-pid", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", stub.display()));
    let started = Instant::now();
    while !port_file.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "the stub wrote no port file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = std::fs::read_to_string(&port_file).unwrap().trim().to_owned();
    (child, url)
}

fn stub_binary() -> PathBuf {
    let stub = Path::new(DEVFLOW).with_file_name("devflow-model-stub");
    if !stub.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "devflow-model-stub"])
            .current_dir(repo_root())
            .status()
            .unwrap();
        assert!(status.success(), "cannot build devflow-model-stub");
    }
    stub
}

fn git_init(worktree: &Path) {
    for args in [
        &["init", "-q"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
    ] {
        let status = Command::new("git").args(args).current_dir(worktree).status().unwrap();
        assert!(status.success(), "git {args:?}");
    }
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| toml_string(item)).collect();
    format!("[{}]", quoted.join(", "))
}

fn toml_env(env: &[(String, String)]) -> String {
    let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {}", toml_string(v))).collect();
    pairs.join(", ")
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Waits for a devflow command; past `deadline` it is killed and reported as exit -1, so that
/// the caller's report still shows what the agents showed.
fn finish_within(mut child: Child, args: &[&str], deadline: Duration) -> Run {
    let started = Instant::now();
    let mut killed = false;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline && !killed {
            let _ = child.kill();
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if killed {
        stderr += &format!("\n(devflow {args:?} was killed after {deadline:?})");
    }
    Run {
        code: if killed { -1 } else { output.status.code().unwrap_or(-1) },
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}
