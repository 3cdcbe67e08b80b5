//! One place for the end-to-end helpers: a worktree with its own tmux server, the devflow
//! binary run in it with deadlines, workflows written for a test, agent-sim's prompt log.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use devflow_db::testing::TestDb;
use serde_json::Value;

pub const DEVFLOW: &str = env!("CARGO_BIN_EXE_devflow");
/// Longest a driving command may take in these tests.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// A worktree, its tmux server, and the database a test drives runs on.
pub struct World {
    dir: tempfile::TempDir,
    /// `--db` for every command; `None` uses the default SQLite file in the worktree.
    pub db_url: Option<String>,
    _test_db: Option<TestDb>,
}

impl World {
    /// The default database (`.devflow/devflow.db` in the worktree).
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["wt", "tmux-tmpdir", "wf", "config"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        World { dir, db_url: None, _test_db: None }
    }

    /// Every backend `devflow_db::testing` offers: SQLite, and PostgreSQL when
    /// `DEVFLOW_TEST_DATABASE_URL` is set (under CI=true it must be).
    pub async fn on_every_backend() -> Vec<(String, World)> {
        let mut worlds = Vec::new();
        for test_db in devflow_db::testing::backends().await {
            let mut world = World::new();
            world.db_url = Some(test_db.url.clone());
            let name = test_db.name.to_owned();
            world._test_db = Some(test_db);
            worlds.push((name, world));
        }
        worlds
    }

    /// The URL of the database the world's commands use (the default SQLite file when `db_url`
    /// is `None`), for a test that opens it itself.
    pub fn database_url(&self) -> String {
        let default =
            || format!("sqlite://{}", self.worktree().join(".devflow/devflow.db").display());
        self.db_url.clone().unwrap_or_else(default)
    }

    pub fn worktree(&self) -> PathBuf {
        self.dir.path().join("wt")
    }

    /// `XDG_CONFIG_HOME` of every command: `devflow/notify.toml` in it is the user's file.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn sim_log(&self) -> PathBuf {
        self.dir.path().join("agent-sim.log")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DEVFLOW);
        command
            .args(args)
            .current_dir(self.worktree())
            .env("TMUX_TMPDIR", self.dir.path().join("tmux-tmpdir"))
            // The user's own settings (`notify.toml`) are the test's, never the real user's.
            .env("XDG_CONFIG_HOME", self.config_dir())
            .env("DEVFLOW_AGENT_SIM_LOG", self.sim_log())
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            // The git devflow runs for managed worktrees sees no configuration of the machine's.
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("DEVFLOW_DATABASE_URL")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = &self.db_url {
            command.env("DEVFLOW_DATABASE_URL", url);
        }
        command
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// Runs devflow to its end (killed and failed past [`COMMAND_DEADLINE`]).
    pub fn devflow(&self, args: &[&str]) -> Run {
        finish(self.spawn(args), args)
    }

    /// Writes a workflow file with `phases` (each role `agent-sim` of that name) and the plan schema.
    pub fn workflow(&self, phases: &[Phase]) -> PathBuf {
        let wf = self.dir.path().join("wf");
        std::fs::write(wf.join("plan.schema.json"), PLAN_SCHEMA).unwrap();
        let mut text = String::from("name = \"e2e\"\n");
        for role in distinct_roles(phases.iter().map(|phase| phase.role)) {
            text += &format!(
                "\n[roles.{role}]\ncommand = [\"devflow\", \"agent-sim\", \"--work-ms\", \"60\"]\n"
            );
        }
        for phase in phases {
            text += &format!(
                "\n[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nartifact = \"out/{key}.json\"\nschema = \"plan.schema.json\"\ninstructions = '''\n{instructions}'''\n",
                key = phase.key,
                role = phase.role,
                instructions = phase.instructions,
            );
            if let Some(gate) = phase.gate {
                text += &format!("approval_gate = \"{gate}\"\n");
            }
            text += &format!(
                "\n[phases.wait]\ntimeout_ms = {}\nstable_ms = {}\npoll_ms = 20\n",
                phase.timeout_ms, phase.stable_ms
            );
        }
        let path = wf.join("workflow.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `status RUN --json`.
    pub fn status(&self, run_id: &str) -> Value {
        let run = self.devflow(&["status", run_id, "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(&run.stdout).unwrap()
    }

    /// `events RUN --json`, one object per line.
    pub fn events(&self, run_id: &str) -> Vec<Value> {
        let run = self.devflow(&["events", run_id, "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    /// The run's event types, in order.
    pub fn event_kinds(&self, run_id: &str) -> Vec<String> {
        let events = self.events(run_id);
        events.iter().map(|event| event["type"].as_str().unwrap().to_owned()).collect()
    }

    /// Every prompt agent-sim received, in order.
    pub fn prompts(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.sim_log()).unwrap_or_default();
        text.lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["prompt"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    pub fn artifact(&self, key: &str) -> Value {
        let path = self.worktree().join("out").join(format!("{key}.json"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }
}

impl World {
    /// The panes of this worktree's tmux server: each agent's pid; none without a server.
    pub fn panes(&self) -> Vec<String> {
        let socket = self.worktree().join(".devflow").join("tmux.sock");
        let listed = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["list-panes", "-a", "-F", "#{pane_pid}"])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect()
    }
}

impl Drop for World {
    /// Stops this worktree's tmux server (and so its agents).
    fn drop(&mut self) {
        kill_tmux(&self.worktree());
    }
}

/// Stops the tmux server of `worktree` (by its socket, never by name).
pub fn kill_tmux(worktree: &Path) {
    let socket = worktree.join(".devflow").join("tmux.sock");
    let _ = Command::new("tmux")
        .arg("-S")
        .arg(&socket)
        .arg("kill-server")
        .stderr(Stdio::null())
        .status();
}

/// The roles of a workflow's phases, each once, in the order they first appear (a workflow
/// plan/build/plan declares two roles).
pub fn distinct_roles(roles: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    let mut distinct: Vec<&'static str> = Vec::new();
    for role in roles {
        if !distinct.contains(&role) {
            distinct.push(role);
        }
    }
    distinct
}

/// A phase of a test workflow.
pub struct Phase {
    pub key: &'static str,
    pub role: &'static str,
    pub instructions: String,
    pub gate: Option<&'static str>,
    pub timeout_ms: u64,
    /// Longer than the gap between two chunks of a `slow` agent.
    pub stable_ms: u64,
}

impl Phase {
    /// A phase whose agent plays `scenario` and, asked to repair, `repair` (default ok).
    pub fn new(key: &'static str, scenario: &str) -> Phase {
        Phase {
            key,
            role: "agent",
            instructions: instructions(key, scenario, "ok", ""),
            gate: None,
            timeout_ms: 30_000,
            stable_ms: 150,
        }
    }
}

pub fn instructions(key: &str, scenario: &str, repair: &str, extra: &str) -> String {
    format!(
        "Write the {key} plan.\nScenario: {scenario}\nRepair-Scenario: {repair}\n{extra}\n```json\n{{\"title\": \"{key}\", \"steps\": [\"one\", \"two\"]}}\n```\n"
    )
}

pub const PLAN_SCHEMA: &str = r#"{"type": "object", "required": ["title", "steps"], "properties": {"title": {"type": "string", "minLength": 1}, "steps": {"type": "array", "items": {"type": "string"}}}}"#;

/// A finished devflow command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn finish(mut child: Child, args: &[&str]) -> Run {
    // Both pipes are read while the child runs: a child that fills one (a debug log passes
    // 64 KiB quickly) would otherwise block on it until the deadline.
    let (stdout, stderr) = (child.stdout.take().map(drain), child.stderr.take().map(drain));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("devflow {args:?} took longer than {COMMAND_DEADLINE:?}: {}", drained(stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code: status.code().unwrap_or(-1), stdout: drained(stdout), stderr: drained(stderr) }
}

/// A thread that reads `pipe` to its end.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn drained(reader: Option<std::thread::JoinHandle<String>>) -> String {
    reader.map(|reader| reader.join().unwrap()).unwrap_or_default()
}

/// Polls `check` until it holds or `deadline` passes.
pub fn eventually(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}
