//! One real-agent test's folder: the worktree (a git repository), a HOME per role configured as
//! the test asks, the workflow, `devflow-model-stub` and its log of what the model received.
//! Each role runs the preset's own argv (`devflow_session::preset`, what `devflow init --agent`
//! writes) with the CLI from `target/agents/bin/`, pointed at the stub.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::stub::{self, API_KEY};
use crate::support::{DEVFLOW, PLAN_SCHEMA, Run, distinct_roles, repo_root};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
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

    pub fn preset(self) -> &'static str {
        match self {
            Cli::ClaudeCode => "claude-code",
            Cli::Codex => "codex",
            Cli::Gemini => "gemini",
            Cli::Aider => "aider",
        }
    }
}

/// How much of the CLI's configuration the roles' HOMEs hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// Everything /work/notes/agents.md (and the examples' comments) say: no dialog.
    Complete,
    /// Nothing that avoids a dialog; only what keeps the CLI off the network (Claude Code's
    /// onboarding check, update checks, telemetry, Aider's price list): the first-run dialogs
    /// all show. The onboarding dialog itself (a call to the vendor) is left to the screen
    /// tests and doctor's.
    Nothing,
    /// Everything but the folder trust, which the roles let devflow answer.
    AllButTrust,
}

/// A phase of a real-agent workflow: its key, its role, the stub's script for its artifact
/// (`Model-Script:`), more lines for its instructions, and its artifact timeout.
pub struct Phase {
    pub key: &'static str,
    pub role: &'static str,
    pub script: &'static str,
    pub extra: &'static str,
    pub timeout_ms: u64,
}

impl Phase {
    pub fn new(key: &'static str, role: &'static str, script: &'static str) -> Phase {
        Phase { key, role, script, extra: "", timeout_ms: 30_000 }
    }
}

pub struct AgentWorld {
    pub cli: Cli,
    pub config: Config,
    pub(super) dir: tempfile::TempDir,
    bin: PathBuf,
    stub: Child,
    stub_url: String,
    pub(super) started: Instant,
}

impl AgentWorld {
    /// `None` after a loud SKIPPED when tmux or the CLI is missing (a failure under `CI=true`).
    pub fn new(cli: Cli, config: Config) -> Option<AgentWorld> {
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
        let (stub, stub_url) = stub::start(dir.path());
        let started = Instant::now();
        Some(AgentWorld { cli, config, dir, bin, stub, stub_url, started })
    }

    pub fn worktree(&self) -> PathBuf {
        self.dir.path().join("wt")
    }

    pub fn stub_url(&self) -> &str {
        &self.stub_url
    }

    pub fn home(&self, role: &str) -> PathBuf {
        self.dir.path().join(format!("home-{role}"))
    }

    /// The stub's log, one object per prompt the model received.
    pub fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("prompts.jsonl"));
        text.unwrap_or_default().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// The workflow of `phases`, each role with its own HOME configured as `self.config` says.
    pub fn workflow(&self, phases: &[Phase]) -> PathBuf {
        let wf = self.dir.path().join("wf");
        std::fs::write(wf.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
        let mut text = String::from("name = \"real-agents\"\n");
        for role in distinct_roles(phases.iter().map(|phase| phase.role)) {
            let home = self.home(role);
            super::config::write_home(self, &home);
            let (argv, env) = self.command(&home);
            text += &format!(
                "\n[roles.{role}]\npreset = \"{}\"\ncommand = {}\nenv = {{ {} }}\n",
                self.cli.preset(),
                toml_list(&argv),
                toml_env(&env)
            );
            // Only Claude Code's folder trust may be answered (the workflow file refuses the
            // others': see the Codex and Gemini presets).
            if self.config == Config::AllButTrust && self.cli == Cli::ClaudeCode {
                text += "answer_dialogs = [\"folder-trust\"]\n";
            }
        }
        for phase in phases {
            text += &format!(
                "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nartifact = \"out/{key}.json\"\n\
                 schema = \"plan.schema.json\"\ninstructions = '''\nWrite the {key}.\n{extra}\
                 Model-Script: {script}\n```json\n{{\"title\": \"{key}\", \"steps\": [\"one\", \"two\"]}}\n```\n'''\n\
                 \n[phases.wait]\ntimeout_ms = {timeout}\nstable_ms = 500\nmax_hung_ms = 60000\n",
                key = phase.key,
                role = phase.role,
                extra = phase.extra,
                script = phase.script,
                timeout = phase.timeout_ms,
            );
        }
        let path = wf.join("workflow.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The preset's argv with the installed CLI, and the environment that points it at the
    /// stub (for Aider, its model flags).
    fn command(&self, home: &Path) -> (Vec<String>, Vec<(String, String)>) {
        let preset = devflow_session::preset::by_name(self.cli.preset()).unwrap();
        let mut argv: Vec<String> = std::iter::once(self.bin.display().to_string())
            .chain(preset.default_argv[1..].iter().map(|word| word.to_string()))
            .collect();
        let home_s = home.display().to_string();
        let mut env = vec![("HOME".to_owned(), home_s.clone())];
        let mut put = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
        match self.cli {
            Cli::ClaudeCode => {
                put("ANTHROPIC_BASE_URL", &self.stub_url);
                put("ANTHROPIC_API_KEY", API_KEY);
                // devflow's tests run as root in CI.
                put("IS_SANDBOX", "1");
                put("DISABLE_AUTOUPDATER", "1");
                put("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
            }
            Cli::Codex => {
                put("CODEX_HOME", &format!("{home_s}/.codex"));
                put("STUB_API_KEY", API_KEY);
            }
            Cli::Gemini => {
                put("GEMINI_API_KEY", API_KEY);
                put("GOOGLE_GEMINI_BASE_URL", &self.stub_url);
            }
            Cli::Aider => {
                put("OPENAI_API_KEY", API_KEY);
                if self.config == Config::Nothing {
                    // Only the model and what keeps it off the network: its questions show.
                    argv.truncate(1);
                    argv.extend(["--no-check-update", "--analytics-disable"].map(String::from));
                }
                argv.extend(super::config::aider_model_flags(&home_s, &self.stub_url));
            }
        }
        (argv, env)
    }

    pub fn devflow(&self, args: &[&str], deadline: Duration) -> Run {
        finish_within(self.spawn(args), args, deadline)
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(DEVFLOW)
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
            .unwrap()
    }

    pub fn events(&self, run_id: &str) -> Vec<Value> {
        let run = self.devflow(&["events", run_id, "--json"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    pub fn status(&self, run_id: &str) -> Value {
        let run = self.devflow(&["status", run_id, "--json"], Duration::from_secs(60));
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(&run.stdout).unwrap()
    }
}

impl Drop for AgentWorld {
    /// Ends the agents: their process groups first (Gemini CLI outlives `kill-server`), then the
    /// tmux server by its socket, then the stub. Records the test's time for `cargo xtask test`.
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
        super::record_ran(self.cli, self.started.elapsed());
    }
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
pub fn finish_within(mut child: Child, args: &[&str], deadline: Duration) -> Run {
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
