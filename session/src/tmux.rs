//! The tmux adapter: agents in panes of devflow's private tmux server, one tmux session per run
//! and one window per role, every pane targeted by its id (`%N`).
//!
//! Files: `server` runs tmux, its looks at panes through `control` or in a `batch`; `spawn`
//! starts agents with their output `tap`; `pane` is one look at a pane and `screen` reads it
//! with the role's preset; `ready`, `deliver`, `mark` and `locate` deliver a prompt and find it
//! again after a crash, `fence` keeps a superseded driver's input out of the pane; `capture` is
//! the transcript;
//! `dispose` and `procs` end agents; `launch` and `state` are what is kept to start one again.

mod batch;
mod capture;
mod config;
mod control;
mod deliver;
mod dispose;
mod fence;
mod launch;
mod locate;
mod mark;
mod pane;
mod procs;
mod ready;
mod screen;
mod server;
mod spawn;
mod state;
pub mod tap;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use devflow_core::{Code, Error, PromptEnvelope, Result};

pub use config::TmuxConfig;
pub use server::clients_started;

use crate::{
    Capture, ProbeResult, PromptLocation, PromptReceipt, SessionAdapter, SessionHandle, SessionSpec,
};
use launch::{LAUNCH_OPTION, Launch, SESSION_ID_OPTION, session_name};
use pane::{Pane, ScreenMark, not_found};
use server::Server;
use spawn::Found;
use state::StateDir;

/// Agents in tmux panes. See the module docs.
#[derive(Debug)]
pub struct TmuxAdapter {
    server: Server,
    config: TmuxConfig,
    state: StateDir,
    /// The last screen seen of each pane.
    screens: Mutex<HashMap<String, ScreenMark>>,
    /// The launch record of each session, as read once.
    launches: Mutex<HashMap<String, Launch>>,
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
            state: StateDir::new(&config.state_dir),
            config,
            screens: Mutex::new(HashMap::new()),
            launches: Mutex::new(HashMap::new()),
            start_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The socket of devflow's tmux server: `tmux -S <socket> attach` shows the agents.
    pub fn socket_path(&self) -> &Path {
        self.server.socket()
    }

    /// How a person looks at the agents.
    fn attach_command(&self) -> String {
        format!("`tmux -S {} attach`", self.server.socket().display())
    }

    /// The launch record of the pane's session: remembered, from the state folder, or from the
    /// pane itself.
    async fn launch_of(&self, pane: Pane<'_>) -> Result<Launch> {
        if let Some(launch) = self.cached_launch(pane.session_id) {
            return Ok(launch);
        }
        let launch = match self.state.load_launch(pane.session_id)? {
            Some(launch) => launch,
            None => {
                let args = ["show-options", "-p", "-v", "-t", pane.id, LAUNCH_OPTION];
                match self.server.run(&args).await? {
                    Ok(json) => Launch::from_json(&json)?,
                    Err(failed) if failed.is_missing() => return Err(not_found(pane.id)),
                    Err(failed) => {
                        return Err(Error::new(
                            Code::SessionBackendFailed,
                            format!("pane {pane} has no launch record: {}", failed.stderr),
                        ));
                    }
                }
            }
        };
        self.lock_launches().insert(pane.session_id.to_owned(), launch.clone());
        Ok(launch)
    }

    fn cached_launch(&self, session_id: &str) -> Option<Launch> {
        self.lock_launches().get(session_id).cloned()
    }

    fn lock_launches(&self) -> std::sync::MutexGuard<'_, HashMap<String, Launch>> {
        self.launches.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self, session_id: &str) {
        self.lock_launches().remove(session_id);
        self.state.forget(session_id);
    }

    /// A probe of a pane that is gone: a crash of the session, not an error.
    fn gone(&self, error: &Error) -> ProbeResult {
        ProbeResult {
            alive: false,
            pane_active: false,
            last_output_at_ms: None,
            hint: Some(format!(
                "the session's tmux pane is gone ({}): its window was closed or devflow's tmux server stopped",
                error.message()
            )),
        }
    }
}

/// A handle from `#{pane_id} #{pane_pid} #{window_id}`.
fn created_handle(
    session_id: &str,
    session: &str,
    created: &str,
    fence: Option<i64>,
) -> Option<SessionHandle> {
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
        fence,
    })
}

/// The session's pane, as its handle records it.
fn pane_of(handle: &SessionHandle) -> Result<Pane<'_>> {
    let id = handle.tmux_pane.as_deref().filter(|pane| pane.starts_with('%'));
    let session_id = handle.session_id.as_str();
    let fence = handle.fence;
    id.map(|id| Pane { id, session_id, fence }).ok_or_else(|| {
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
        self.state.save_launch(&launch)?;
        self.lock_launches().insert(launch.session_id.clone(), launch.clone());
        // A start repeated after a crash adopts the pane the first one made.
        match self.find_started(&session, &spec.session_id, spec.fence).await? {
            Found::Pane(handle) => {
                self.claim(pane_of(&handle)?).await?;
                Ok(handle)
            }
            found => self.create(&launch, &session, spec.fence, found).await,
        }
    }

    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let pane = pane_of(handle)?;
        self.claim(pane).await?;
        let launch = self.launch_of(pane).await?;
        self.deliver(pane, &launch, envelope).await
    }

    async fn locate_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptLocation> {
        let pane = pane_of(handle)?;
        self.claim(pane).await?;
        let launch = self.launch_of(pane).await?;
        self.locate(pane, &launch, envelope).await
    }

    async fn submit_pending(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let pane = pane_of(handle)?;
        self.claim(pane).await?;
        let launch = self.launch_of(pane).await?;
        self.submit_waiting(pane, &launch, envelope).await
    }

    async fn probe(&self, handle: &SessionHandle) -> Result<ProbeResult> {
        let pane = match pane_of(handle) {
            Ok(pane) => pane,
            Err(error) => return Ok(self.gone(&error)),
        };
        let mut view = match self.observe(pane).await {
            Ok(view) => view,
            Err(error) if error.is(Code::SessionNotFound) => return Ok(self.gone(&error)),
            Err(error) => return Err(error),
        };
        // tmux marks a pane dead before it has reaped the agent; the exit status follows, mostly
        // (tmux 3.3a now and then never reaps it: then the status stays unknown).
        for _ in 0..DEAD_STATUS_POLLS {
            if !view.dead || view.dead_status.is_some() {
                break;
            }
            self.pause().await;
            view = self.observe(pane).await?;
        }
        if !view.dead {
            self.remember_processes(pane.session_id, view.pid).await;
        }
        Ok(ProbeResult {
            alive: !view.dead,
            pane_active: true,
            last_output_at_ms: Some(view.last_output_at_ms()),
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
        let adopted = SessionHandle {
            session_id: handle.session_id.clone(),
            tmux_session: Some(session.to_owned()),
            tmux_window: Some(window.to_owned()),
            tmux_pane: Some(pane.to_owned()),
            pane_pid: pid.parse().ok(),
            fence: handle.fence,
        };
        // Adopted: from now on an older driver's input cannot reach the pane.
        self.claim(pane_of(&adopted)?).await?;
        Ok(adopted)
    }

    async fn rebootstrap(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        match self.resume(handle).await {
            Ok(live) => {
                let launch = self.launch_of(pane_of(&live)?).await?;
                self.respawn(&live, &launch).await?;
                self.resume(&live).await
            }
            Err(error) if error.is(Code::SessionNotFound) => self.start_again(handle).await,
            Err(error) => Err(error),
        }
    }

    async fn capture(&self, handle: &SessionHandle, from_seq: i64) -> Result<Capture> {
        self.capture_pane(pane_of(handle)?, from_seq).await
    }

    async fn dispose(&self, handle: &SessionHandle) -> Result<()> {
        self.dispose_session(handle).await
    }

    async fn dispose_run(&self, run_id: &str) -> Result<usize> {
        self.dispose_all_of_run(run_id).await
    }
}
