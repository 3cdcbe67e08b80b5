//! The tmux adapter: agents in panes of devflow's private tmux server, one tmux session per run
//! and one window per role, every pane targeted by its id (`%N`).

mod capture;
mod deliver;
mod launch;
mod pane;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use devflow_core::{Code, Error, PromptEnvelope, Result};

use crate::{
    CAPTURE_BYTES_MAX, Capture, ProbeResult, PromptReceipt, SessionAdapter, SessionHandle,
    SessionSpec, render_prompt,
};
use capture::SEQ_BASE_OPTION;
use launch::{LAUNCH_OPTION, Launch, SESSION_ID_OPTION, session_name, window_name};
use pane::{Pane, ScreenMark, not_found};
use server::{Server, failure};

/// Where devflow's tmux server lives and how patient the adapter is with it.
#[derive(Debug, Clone)]
pub struct TmuxConfig {
    /// Holds devflow's `tmux.conf` and, unless `socket_path` says otherwise, the socket.
    pub state_dir: PathBuf,
    /// The server's socket (`tmux -S`); at most 107 bytes. Default: `<state_dir>/tmux.sock`.
    pub socket_path: Option<PathBuf>,
    /// The tmux program: a name looked up on `PATH`, or a path.
    pub tmux_bin: PathBuf,
    /// Environment set on every tmux client devflow runs (tests point `TMUX_TMPDIR` elsewhere).
    pub client_env: Vec<(String, String)>,
    /// Lines of history per pane, and so of transcript a pane can hold.
    pub history_limit: u32,
    pub width: u16,
    pub height: u16,
    /// Longest wait for one tmux command.
    pub command_timeout_ms: u64,
    /// Pause between two looks at a pane while waiting.
    pub poll_ms: u64,
    /// A screen unchanged this long is ready for a paste (and done showing one).
    pub ready_settle_ms: u64,
    /// Longest wait for a ready screen before pasting anyway.
    pub ready_timeout_ms: u64,
    /// Longest wait for the paste to show before pressing Enter anyway.
    pub paste_visible_timeout_ms: u64,
    /// Longest wait for the screen to react to one Enter.
    pub submit_verify_timeout_ms: u64,
    /// Enter presses before delivery counts as failed.
    pub enter_attempts_max: u32,
    /// Most transcript text one capture returns.
    pub capture_bytes_max: usize,
}

impl TmuxConfig {
    /// The defaults, with everything of the server under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> TmuxConfig {
        TmuxConfig {
            state_dir: state_dir.into(),
            socket_path: None,
            tmux_bin: PathBuf::from("tmux"),
            client_env: Vec::new(),
            history_limit: 50_000,
            width: 200,
            height: 50,
            command_timeout_ms: 10_000,
            poll_ms: 50,
            ready_settle_ms: 250,
            ready_timeout_ms: 15_000,
            paste_visible_timeout_ms: 5_000,
            submit_verify_timeout_ms: 3_000,
            enter_attempts_max: 3,
            capture_bytes_max: CAPTURE_BYTES_MAX,
        }
    }
}

/// Agents in tmux panes. See the module docs.
#[derive(Debug)]
pub struct TmuxAdapter {
    server: Server,
    config: TmuxConfig,
    /// The last screen seen of each pane.
    screens: Mutex<HashMap<String, ScreenMark>>,
    /// Starts one window at a time, so two roles of a run do not both create its session.
    start_lock: tokio::sync::Mutex<()>,
}

/// Looks at a dead pane, at most, while waiting for its exit status.
const DEAD_STATUS_POLLS: u32 = 10;

const CREATED_FORMAT: &str = "#{pane_id} #{pane_pid} #{window_id}";

impl TmuxAdapter {
    /// Finds tmux (`tmux_missing` with an install hint when it is not there) and writes devflow's
    /// config. The server itself starts with the first session.
    pub fn new(config: TmuxConfig) -> Result<TmuxAdapter> {
        let server = Server::prepare(&config)?;
        Ok(TmuxAdapter {
            server,
            config,
            screens: Mutex::new(HashMap::new()),
            start_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The socket of devflow's tmux server: `tmux -S <socket> attach` shows the agents.
    pub fn socket_path(&self) -> &Path {
        self.server.socket()
    }

    /// The pane of an already started session with this id in the run's tmux session.
    async fn find_started(&self, session: &str, session_id: &str) -> Result<Option<SessionHandle>> {
        let target = format!("={session}");
        let format = format!("{CREATED_FORMAT} #{{{SESSION_ID_OPTION}}}");
        let args = ["list-panes", "-s", "-t", &target, "-F", &format];
        let listing = match self.server.run(&args).await? {
            Ok(listing) => listing,
            Err(failed) if failed.is_missing() => return Ok(None),
            Err(failed) => return Err(failure(&args, &failed)),
        };
        Ok(listing.lines().find_map(|line| {
            let (created, id) = line.rsplit_once(' ')?;
            (id == session_id).then(|| created_handle(session_id, session, created)).flatten()
        }))
    }

    /// A new window for the session's role (creating the run's tmux session with its first one).
    async fn create(&self, launch: &Launch, session: &str) -> Result<SessionHandle> {
        let window = window_name(&launch.role_id);
        let (width, height) = (self.config.width.to_string(), self.config.height.to_string());
        let mut new_session: Vec<&str> =
            vec!["new-session", "-d", "-s", session, "-n", &window, "-x", &width, "-y", &height];
        let target = format!("={session}:");
        let mut new_window: Vec<&str> = vec!["new-window", "-d", "-t", &target, "-n", &window];
        let placement = launch.placement_args();
        let mut tail: Vec<&str> = placement.iter().map(String::as_str).collect();
        tail.extend(["-P", "-F", CREATED_FORMAT, "--"]);
        tail.extend(launch.argv.iter().map(String::as_str));
        new_session.extend(&tail);
        new_window.extend(&tail);

        let has_session =
            self.server.run(&["has-session", "-t", &format!("={session}")]).await?.is_ok();
        let mut created = if has_session {
            self.server.run(&new_window).await?
        } else {
            self.server.run(&new_session).await?
        };
        if matches!(&created, Err(failed) if failed.stderr.contains("duplicate session")) {
            created = self.server.run(&new_window).await?;
        }
        let created = created.map_err(|failed| failure(&new_window, &failed))?;
        let handle =
            created_handle(&launch.session_id, session, created.trim()).ok_or_else(|| {
                Error::new(
                    Code::SessionBackendFailed,
                    format!("tmux answered {created:?} to new-window"),
                )
            })?;
        let pane = handle.tmux_pane.as_deref().unwrap_or_default();
        let json = launch.to_json();
        let options = [
            "set-option",
            "-p",
            "-t",
            pane,
            SESSION_ID_OPTION,
            &launch.session_id,
            ";",
            "set-option",
            "-p",
            "-t",
            pane,
            LAUNCH_OPTION,
            &json,
        ];
        if let Err(error) = self.server.run_ok(&options).await {
            let _ = self.server.run(&["kill-pane", "-t", pane]).await;
            return Err(error);
        }
        Ok(handle)
    }
}

/// A handle from `#{pane_id} #{pane_pid} #{window_id}`.
fn created_handle(session_id: &str, session: &str, created: &str) -> Option<SessionHandle> {
    let mut fields = created.split(' ');
    let pane = fields.next().filter(|p| p.starts_with('%'))?;
    let pid = fields.next()?.parse().ok();
    let window = fields.next().filter(|w| w.starts_with('@'))?;
    Some(SessionHandle {
        session_id: session_id.to_owned(),
        tmux_session: Some(session.to_owned()),
        tmux_window: Some(window.to_owned()),
        tmux_pane: Some(pane.to_owned()),
        pane_pid: pid,
    })
}

/// The session's pane, as its handle records it.
fn pane_of(handle: &SessionHandle) -> Result<Pane<'_>> {
    let id = handle.tmux_pane.as_deref().filter(|pane| pane.starts_with('%'));
    let session_id = handle.session_id.as_str();
    id.map(|id| Pane { id, session_id }).ok_or_else(|| {
        Error::new(
            Code::SessionNotFound,
            format!("session {} has no tmux pane recorded", handle.session_id),
        )
    })
}

#[async_trait]
impl SessionAdapter for TmuxAdapter {
    fn backend(&self) -> &'static str {
        "tmux"
    }

    async fn start(&self, spec: &SessionSpec) -> Result<SessionHandle> {
        let launch = Launch::from_spec(spec)?;
        let session = session_name(&spec.run_id);
        let _guard = self.start_lock.lock().await;
        // A start repeated after a crash adopts the pane the first one made.
        if let Some(handle) = self.find_started(&session, &spec.session_id).await? {
            return Ok(handle);
        }
        self.create(&launch, &session).await
    }

    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let pane = pane_of(handle)?;
        self.deliver(pane, &render_prompt(envelope)).await?;
        Ok(PromptReceipt { prompt_id: envelope.dedup_key.clone() })
    }

    async fn probe(&self, handle: &SessionHandle) -> Result<ProbeResult> {
        let pane = pane_of(handle)?;
        let mut view = self.observe(pane).await?;
        // tmux marks a pane dead before it has reaped the agent; the exit status follows, mostly
        // (tmux 3.3a now and then never reaps it: then the status stays unknown).
        for _ in 0..DEAD_STATUS_POLLS {
            if !view.dead || view.dead_status.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(self.config.poll_ms)).await;
            view = self.observe(pane).await?;
        }
        Ok(ProbeResult {
            alive: !view.dead,
            pane_active: true,
            last_output_at_ms: Some(view.changed_at_ms),
            hint: view.dead.then(|| match view.dead_status {
                Some(status) => format!("pane_dead_status={status}"),
                None => "pane_dead_status=unknown".to_owned(),
            }),
        })
    }

    async fn resume(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        let pane = pane_of(handle)?.id;
        let format = format!(
            "#{{pane_id}} #{{pane_pid}} #{{window_id}} #{{session_name}} #{{{SESSION_ID_OPTION}}}"
        );
        let line = self.server.run_ok(&["display-message", "-p", "-t", pane, &format]).await?;
        let fields: Vec<&str> = line.trim_end().splitn(5, ' ').collect();
        let [found, pid, window, session, session_id] = fields[..] else {
            return Err(not_found(pane));
        };
        let same_session = handle.tmux_session.as_deref().is_none_or(|s| s == session);
        if found != pane || session_id != handle.session_id || !same_session {
            return Err(not_found(pane));
        }
        Ok(SessionHandle {
            session_id: handle.session_id.clone(),
            tmux_session: Some(session.to_owned()),
            tmux_window: Some(window.to_owned()),
            tmux_pane: Some(pane.to_owned()),
            pane_pid: pid.parse().ok(),
        })
    }

    async fn rebootstrap(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        let handle = self.resume(handle).await?;
        let pane = pane_of(&handle)?.id;
        let args = ["show-options", "-p", "-v", "-t", pane, LAUNCH_OPTION];
        let launch = match self.server.run(&args).await? {
            Ok(json) => Launch::from_json(&json)?,
            Err(failed) if failed.is_missing() => return Err(not_found(pane)),
            Err(failed) => {
                return Err(Error::new(
                    Code::SessionBackendFailed,
                    format!("pane {pane} has no launch record: {}", failed.stderr),
                ));
            }
        };
        let base = self.next_seq_base(pane).await?.to_string();
        let placement = launch.placement_args();
        let mut respawn: Vec<&str> = vec![
            "clear-history",
            "-t",
            pane,
            ";",
            "set-option",
            "-p",
            "-t",
            pane,
            SEQ_BASE_OPTION,
            &base,
            ";",
            "respawn-pane",
            "-k",
            "-t",
            pane,
        ];
        respawn.extend(placement.iter().map(String::as_str));
        respawn.push("--");
        respawn.extend(launch.argv.iter().map(String::as_str));
        self.server.run_ok(&respawn).await?;
        self.resume(&handle).await
    }

    async fn capture(&self, handle: &SessionHandle, from_seq: i64) -> Result<Capture> {
        self.capture_pane(pane_of(handle)?, from_seq).await
    }

    async fn dispose(&self, handle: &SessionHandle) -> Result<()> {
        // Only a pane that is still this session's is killed: after a tmux restart, ids are reused.
        let handle = match self.resume(handle).await {
            Ok(handle) => handle,
            Err(error) if error.is(Code::SessionNotFound) => return Ok(()),
            Err(error) => return Err(error),
        };
        let window = handle.tmux_window.as_deref().unwrap_or_default();
        // Killing a run's last window ends its tmux session, and the last session the server.
        match self.server.run(&["kill-window", "-t", window]).await? {
            Ok(_) => {}
            Err(failed) if failed.is_missing() => {}
            Err(failed) => return Err(failure(&["kill-window"], &failed)),
        }
        if let Some(pane) = &handle.tmux_pane {
            self.screens.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(pane);
        }
        Ok(())
    }
}
