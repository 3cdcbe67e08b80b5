//! The tmux adapter (devflow-session's) in real tmux driving agent-sim, both run as a workflow
//! runs them (`devflow agent-sim`, `devflow tmux-tap`), which is why these tests live with the
//! `devflow` binary rather than in the session crate. Each test has its own private server (socket in a tempdir) and
//! its own `TMUX_TMPDIR`, and checks that no default server socket ever appeared there.

mod batch;
mod control;
mod delivery;
mod disposal;
mod fence;
mod lifecycle;
mod locate;
mod lost;
mod readiness;
mod support;

use std::path::{Path, PathBuf};

use devflow_core::Code;
use devflow_session::tmux::{TmuxAdapter, TmuxConfig};
use devflow_session::{AgentCommand, SessionAdapter, SessionHandle, SessionSpec};

use support::eventually;

/// agent-sim and the pane tap, as a workflow runs them: `devflow agent-sim`, `devflow tmux-tap`.
const DEVFLOW: &str = env!("CARGO_BIN_EXE_devflow");

/// One private tmux server with agent-sim as every role's agent.
pub struct TmuxWorld {
    dir: tempfile::TempDir,
    pub adapter: TmuxAdapter,
}

impl TmuxWorld {
    /// `None` (after a loud SKIPPED) when tmux is not installed; under `CI=true` that fails.
    pub fn new() -> Option<TmuxWorld> {
        TmuxWorld::with_config(|_| {})
    }

    /// [`TmuxWorld::new`] with the adapter's config adjusted by `adjust`.
    pub fn with_config(adjust: impl FnOnce(&mut TmuxConfig)) -> Option<TmuxWorld> {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tmux-tmpdir", "worktree", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut config = config(dir.path());
        adjust(&mut config);
        match TmuxAdapter::new(config) {
            Ok(adapter) => Some(TmuxWorld { dir, adapter }),
            Err(error) if error.is(Code::TmuxMissing) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "tmux is required in CI: {error}"
                );
                eprintln!(
                    "\n\n*** SKIPPED: tmux is not installed, the tmux tests did not run ({error}) ***\n\n"
                );
                None
            }
            Err(error) => panic!("{error}"),
        }
    }

    /// A second adapter on the same server, as after a devflow restart.
    pub fn restarted_adapter(&self) -> TmuxAdapter {
        self.restarted_adapter_with(|_| {})
    }

    /// [`TmuxWorld::restarted_adapter`] with its config adjusted by `adjust`.
    pub fn restarted_adapter_with(&self, adjust: impl FnOnce(&mut TmuxConfig)) -> TmuxAdapter {
        let mut config = config(self.dir.path());
        adjust(&mut config);
        TmuxAdapter::new(config).unwrap()
    }

    pub fn worktree(&self) -> PathBuf {
        self.dir.path().join("worktree")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent-sim.jsonl")
    }

    pub fn spec(&self, role_id: &str) -> SessionSpec {
        self.sim_spec(role_id, &[])
    }

    /// agent-sim logging to [`TmuxWorld::log_path`], with `extra` flags.
    pub fn sim_spec(&self, role_id: &str, extra: &[&str]) -> SessionSpec {
        let log = self.log_path().to_string_lossy().into_owned();
        let mut argv = vec![DEVFLOW.to_owned(), "agent-sim".into(), "--log".into(), log];
        argv.push("--work-ms".into());
        argv.push("150".into());
        argv.extend(extra.iter().map(|arg| arg.to_string()));
        self.spec_for(role_id, AgentCommand::Argv(argv))
    }

    /// A role whose agent is `script`, run by `sh -c` in the worktree (the generic preset).
    pub fn shell_spec(&self, role_id: &str, script: &str) -> SessionSpec {
        self.spec_for(role_id, AgentCommand::Shell(script.to_owned()))
    }

    fn spec_for(&self, role_id: &str, command: AgentCommand) -> SessionSpec {
        SessionSpec {
            session_id: self.adapter.reserve_session_id(),
            run_id: "run-1".to_owned(),
            role_id: role_id.to_owned(),
            cwd: self.worktree(),
            command,
            env: vec![("DEVFLOW_TEST_MARK".to_owned(), "set".to_owned())],
            expected_artifact_path: "out/plan.json".to_owned(),
            expected_schema: "plan.v1".to_owned(),
            instructions: String::new(),
            preset: None,
            answer_dialogs: Vec::new(),
            fence: None,
        }
    }

    pub async fn start(&self, role_id: &str) -> SessionHandle {
        self.adapter.start(&self.spec(role_id)).await.unwrap()
    }

    /// Every line agent-sim logged (prompts, and input it got while a dialog showed).
    pub fn log_entries(&self) -> Vec<serde_json::Value> {
        let Ok(text) = std::fs::read_to_string(self.log_path()) else {
            return Vec::new();
        };
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// Every prompt agent-sim logged, in order.
    pub fn logged_prompts(&self) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.log_path()) else {
            return Vec::new();
        };
        text.lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                entry["prompt"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// Polls the transcript until it contains `needle`; returns the whole transcript.
    pub async fn transcript_with(&self, handle: &SessionHandle, needle: &str) -> String {
        eventually(&format!("{needle:?} in the transcript"), async || {
            let text = self.adapter.capture(handle, 0).await.unwrap().text();
            text.contains(needle).then_some(text)
        })
        .await
    }

    /// Disposes `handles` and checks the user's default tmux server was never involved.
    pub async fn finish(self, handles: &[&SessionHandle]) {
        for handle in handles {
            self.adapter.dispose(handle).await.unwrap();
        }
        let stray: Vec<_> =
            std::fs::read_dir(self.dir.path().join("tmux-tmpdir")).unwrap().collect();
        assert!(stray.is_empty(), "a default tmux socket appeared: {stray:?}");
    }
}

impl TmuxWorld {
    /// Runs a tmux command on the world's server, as a person at the terminal would.
    pub fn tmux(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.adapter.socket_path())
            .args(args)
            .env("TMUX_TMPDIR", self.dir.path().join("tmux-tmpdir"))
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for TmuxWorld {
    fn drop(&mut self) {
        // Best effort, so that a failed test leaves no server behind.
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(self.adapter.socket_path())
            .arg("kill-server")
            .env("TMUX_TMPDIR", self.dir.path().join("tmux-tmpdir"))
            .env_remove("TMUX")
            .output();
    }
}

fn config(dir: &Path) -> TmuxConfig {
    let mut config = TmuxConfig::new(dir.join("state"));
    config.tap_command = vec![DEVFLOW.to_owned(), "tmux-tap".to_owned()];
    config.client_env =
        vec![("TMUX_TMPDIR".to_owned(), dir.join("tmux-tmpdir").to_string_lossy().into_owned())];
    config.width = 120;
    config.height = 40;
    config
}

#[test]
fn a_missing_tmux_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TmuxConfig::new(dir.path());
    config.tmux_bin = PathBuf::from("/nonexistent/bin/tmux");
    let error = TmuxAdapter::new(config).unwrap_err();
    assert!(error.is(Code::TmuxMissing));
    assert!(error.recovery_hint().unwrap().contains("apt-get install tmux"), "{error}");
}
