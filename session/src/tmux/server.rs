//! devflow's private tmux server: its socket and config, and running one tmux client command.
//!
//! Every tmux invocation of devflow goes through [`Server::run`], which always passes `-S` and
//! `-f`, so the user's default server is never started or touched. Commands that are safe to
//! run twice (the looks at panes, their options) go to the server's [`Control`] client with
//! `control_mode`, and start no process; without it they share tmux clients with the others
//! that come meanwhile ([`Batch`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use devflow_core::{Code, Error, Result};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::TmuxConfig;
use super::batch::Batch;
use super::control::{Control, routable};

/// What to tell a person whose machine has no tmux.
const INSTALL_HINT: &str = "install tmux (apt-get install tmux / brew install tmux)";

/// Longest socket path a Unix socket address holds (108 bytes with the terminating NUL).
const SOCKET_PATH_BYTES_MAX: usize = 107;

#[derive(Debug, Clone)]
pub(super) struct Server {
    client: Client,
    conf: PathBuf,
    timeout: Duration,
    control: Option<Arc<Control>>,
    batch: Arc<Batch>,
}

/// How many tmux clients this process has started: what watching its agents costs in
/// processes (`devflow worker` says it when it stops; `cargo xtask bench scale` reads it).
static CLIENTS_STARTED: AtomicU64 = AtomicU64::new(0);

/// How many tmux clients this process has started so far.
pub fn clients_started() -> u64 {
    CLIENTS_STARTED.load(Ordering::Relaxed)
}

/// The tmux socket and program a batch runs with.
type BatchKey = (PathBuf, PathBuf);

/// The batch of every adapter of this process on one socket, run with one tmux program.
static BATCHES: LazyLock<Mutex<HashMap<BatchKey, Weak<Batch>>>> = LazyLock::new(Default::default);

fn shared_batch(client: &Client) -> Arc<Batch> {
    let mut batches = BATCHES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    batches.retain(|_, batch| batch.strong_count() > 0);
    let key = (client.socket.clone(), client.bin.clone());
    if let Some(batch) = batches.get(&key).and_then(Weak::upgrade) {
        return batch;
    }
    let batch = Arc::new(Batch::default());
    batches.insert(key, Arc::downgrade(&batch));
    batch
}

/// A tmux command that ran and failed; `stderr` says why.
#[derive(Debug)]
pub(super) struct Failed {
    pub stderr: String,
}

impl Failed {
    /// The target (pane, window, session) or the whole server is gone.
    pub fn is_missing(&self) -> bool {
        let text = self.stderr.as_str();
        text.contains("can't find")
            || text.contains("no server running")
            || text.contains("error connecting")
            || text.contains("server exited")
    }
}

impl Server {
    /// Finds tmux, creates the state directory and writes devflow's own config into it.
    pub fn prepare(config: &TmuxConfig) -> Result<Server> {
        let bin = find_binary(&config.tmux_bin)?;
        std::fs::create_dir_all(&config.state_dir).map_err(|e| fs_error(&config.state_dir, e))?;
        let socket =
            config.socket_path.clone().unwrap_or_else(|| config.state_dir.join("tmux.sock"));
        if socket.as_os_str().len() > SOCKET_PATH_BYTES_MAX {
            return Err(Error::new(
                Code::InvalidInput,
                format!(
                    "tmux socket path {} is longer than {SOCKET_PATH_BYTES_MAX} bytes",
                    socket.display()
                ),
            )
            .with_hint("set a shorter tmux state directory or socket path"));
        }
        let conf = config.state_dir.join("tmux.conf");
        std::fs::write(&conf, conf_text(config)).map_err(|e| fs_error(&conf, e))?;
        let client = Client {
            bin,
            socket,
            env: config.client_env.clone(),
            env_removed: config.client_env_removed.clone(),
        };
        let control = config.control_mode.then(|| {
            let starter = client.clone();
            Control::shared(&client.socket, Box::new(move || starter.start_control()))
        });
        let batch = shared_batch(&client);
        let timeout = Duration::from_millis(config.command_timeout_ms);
        Ok(Server { client, conf, timeout, control, batch })
    }

    pub fn socket(&self) -> &Path {
        &self.client.socket
    }

    /// Runs `tmux -S <socket> -f <conf> <args…>`: its stdout, or why it failed. `Err(Error)` is
    /// for a tmux that cannot be run at all (missing, timed out).
    pub async fn run(&self, args: &[&str]) -> Result<Result<String, Failed>> {
        self.run_with_stdin(args, None).await
    }

    pub async fn run_with_stdin(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Result<String, Failed>> {
        if stdin.is_none()
            && let Some(control) = &self.control
            && let Some(answer) = control.run(args, self.timeout).await
        {
            return Ok(answer);
        }
        if stdin.is_none() && routable(args) {
            return self.batch.run(self, args).await;
        }
        self.run_alone(args, stdin).await
    }

    /// Runs `args` as a tmux client of its own.
    pub async fn run_alone(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Result<String, Failed>> {
        let mut command = Command::from(self.client.command());
        command
            .arg("-f")
            .arg(&self.conf)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = async {
            let mut child = command.spawn()?;
            if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(bytes).await?;
                pipe.shutdown().await?;
            }
            child.wait_with_output().await
        };
        let output = match tokio::time::timeout(self.timeout, run).await {
            Err(_) => {
                return Err(Error::new(
                    Code::SessionUnavailable,
                    format!(
                        "tmux {} did not finish within {} ms",
                        args.first().unwrap_or(&""),
                        self.timeout.as_millis()
                    ),
                ));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing(&self.client.bin));
            }
            Ok(Err(e)) => {
                return Err(Error::new(Code::SessionUnavailable, "cannot run tmux").with_source(e));
            }
            Ok(Ok(output)) => output,
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            Ok(Ok(stdout))
        } else {
            Ok(Err(Failed { stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned() }))
        }
    }

    /// [`Server::run`] where any failure is an error: a missing target is `session_not_found`,
    /// anything else `session_unavailable` (tmux busy, a race with the agent exiting).
    pub async fn run_ok(&self, args: &[&str]) -> Result<String> {
        self.run(args).await?.map_err(|failed| failure(args, &failed))
    }
}

/// How every tmux client of the server starts: the program, the socket, the environment.
#[derive(Debug, Clone)]
struct Client {
    bin: PathBuf,
    socket: PathBuf,
    env: Vec<(String, String)>,
    env_removed: Vec<String>,
}

impl Client {
    /// `tmux -S <socket>`, in devflow's client environment (no `TMUX`: never the user's server).
    // The one place devflow starts a tmux client (ARCHITECTURE.md, "Processes").
    #[allow(clippy::disallowed_methods)]
    fn command(&self) -> std::process::Command {
        // Every command built here is started: counted once, here.
        CLIENTS_STARTED.fetch_add(1, Ordering::Relaxed);
        let mut command = std::process::Command::new(&self.bin);
        command
            .arg("-S")
            .arg(&self.socket)
            .env_remove("TMUX")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for name in &self.env_removed {
            command.env_remove(name);
        }
        command
    }

    /// `tmux -S <socket> -N -C attach-session -f ignore-size`: a client that leaves window sizes
    /// to the people attached. (Not `no-output` as well: it makes tmux 3.3a's server crash more
    /// often when sessions end under the client; the `%output` lines it sends instead, of the one
    /// session it is attached to, are skipped.) It attaches to a session
    /// because tmux ends an unattached client after its first command; with no session (or no
    /// server) it exits at once and the commands take clients of their own.
    fn start_control(&self) -> std::io::Result<std::process::Child> {
        self.command()
            // -N: attach-session would start a server when there is none — one without
            // devflow's config, which the next new-session would then join.
            .args(["-N", "-C", "attach-session", "-f", "ignore-size"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
    }
}

/// The error for a failed tmux command.
pub(super) fn failure(args: &[&str], failed: &Failed) -> Error {
    let code = if failed.is_missing() { Code::SessionNotFound } else { Code::SessionUnavailable };
    Error::new(code, format!("tmux {} failed: {}", args.first().unwrap_or(&""), failed.stderr))
}

/// devflow's tmux config: read once, by the command that starts the server.
fn conf_text(config: &TmuxConfig) -> String {
    format!(
        "# Written by devflow for its private tmux server; the user's ~/.tmux.conf is not read.\n\
         set -g remain-on-exit on\n\
         set -g history-limit {history}\n\
         set -g default-size {width}x{height}\n\
         set -g exit-empty on\n\
         set -g automatic-rename off\n\
         set -g allow-rename off\n\
         set -g status off\n",
        history = config.history_limit,
        width = config.width,
        height = config.height,
    )
}

/// `bin` itself when it names a path, else the first match on `PATH`.
fn find_binary(bin: &Path) -> Result<PathBuf> {
    if bin.components().count() > 1 {
        return if bin.is_file() { Ok(bin.to_owned()) } else { Err(missing(bin)) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(bin))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| missing(bin))
}

fn missing(bin: &Path) -> Error {
    Error::new(Code::TmuxMissing, format!("tmux not found ({})", bin.display()))
        .with_hint(INSTALL_HINT)
}

fn fs_error(path: &Path, error: std::io::Error) -> Error {
    Error::new(Code::SessionBackendFailed, format!("cannot prepare {}", path.display()))
        .with_source(error)
}
