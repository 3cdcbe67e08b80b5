//! Ending agents: a session's whole process tree and what it started elsewhere
//! ([`super::procs`]), then its window; a run's agents all at once; and remembering an agent's
//! processes while they are its descendants, so that they are found when it ends.

use devflow_core::{Code, Result};

use super::TmuxAdapter;
use super::launch::{SOCKET_ENV, session_name};
use super::procs;
use super::server::failure;
use crate::{SessionAdapter, SessionHandle};

impl TmuxAdapter {
    /// SIGTERM, a grace, SIGKILL for everything of the session; then its window goes (a run's
    /// last window takes its tmux session with it, the last session the server).
    pub(super) async fn dispose_session(&self, handle: &SessionHandle) -> Result<()> {
        // Only a pane that is still this session's is killed: after a tmux restart, ids are reused.
        let live = match self.resume(handle).await {
            Ok(live) => Some(live),
            Err(error) if error.is(Code::SessionNotFound) => None,
            Err(error) => return Err(error),
        };
        let pane_pid =
            live.as_ref().and_then(|h| h.pane_pid).and_then(|pid| i32::try_from(pid).ok());
        let killed = self.end_processes(&handle.session_id, pane_pid).await;
        if killed > 0 {
            tracing::info!(session = %handle.session_id, killed, "agent processes needed SIGKILL");
        }
        if let Some(window) = live.as_ref().and_then(|h| h.tmux_window.as_deref()) {
            match self.server.run(&["kill-window", "-t", window]).await? {
                Ok(_) => {}
                Err(failed) if failed.is_missing() => {}
                Err(failed) => return Err(failure(&["kill-window"], &failed)),
            }
        }
        if let Some(pane) = live.as_ref().and_then(|h| h.tmux_pane.as_deref()) {
            self.screens.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(pane);
        }
        self.forget(&handle.session_id);
        Ok(())
    }

    /// Every agent of the run: the panes of its tmux session, the sessions devflow has launch
    /// records of, and strays that still carry the run's id in their environment.
    pub(super) async fn dispose_all_of_run(&self, run_id: &str) -> Result<usize> {
        let session = session_name(run_id);
        let format = "#{pane_id} #{pane_pid} #{window_id} #{@devflow_session_id}";
        let args = ["list-panes", "-s", "-t", &format!("={session}"), "-F", format];
        let listing = match self.server.run(&args).await? {
            Ok(listing) => listing,
            Err(failed) if failed.is_missing() => String::new(),
            Err(failed) => return Err(failure(&args, &failed)),
        };
        let mut handles: Vec<SessionHandle> = listing
            .lines()
            .filter_map(|line| {
                let (created, id) = line.rsplit_once(' ')?;
                super::created_handle(id, &session, created, None).filter(|_| !id.is_empty())
            })
            .collect();
        for launch in self.state.launches().into_iter().filter(|l| l.run_id == run_id) {
            if !handles.iter().any(|h| h.session_id == launch.session_id) {
                handles.push(SessionHandle::for_session(&launch.session_id));
            }
        }
        for handle in &handles {
            self.dispose(handle).await?;
        }
        let env = self.env_entries("DEVFLOW_RUN_ID", run_id);
        let strays = tokio::task::spawn_blocking(move || procs::agent_processes(None, &env, &[]))
            .await
            .unwrap_or_default();
        procs::terminate(&strays, self.config.dispose_grace_ms, self.config.poll_ms).await;
        Ok(handles.len())
    }

    /// Ends the session's processes; returns how many needed SIGKILL.
    async fn end_processes(&self, session_id: &str, pane_pid: Option<i32>) -> usize {
        let env = self.env_entries("DEVFLOW_SESSION_ID", session_id);
        let remembered = self.state.pids(session_id);
        let targets = tokio::task::spawn_blocking(move || {
            procs::agent_processes(pane_pid, &env, &remembered)
        })
        .await
        .unwrap_or_default();
        procs::terminate(&targets, self.config.dispose_grace_ms, self.config.poll_ms).await
    }

    /// The environment entries that mark the agent processes of `key=value` on this server.
    fn env_entries(&self, key: &str, value: &str) -> Vec<String> {
        let socket = self.server.socket().to_string_lossy();
        vec![format!("{key}={value}"), format!("{SOCKET_ENV}={socket}")]
    }

    /// Remembers the pane's agent and its descendants (best effort).
    pub(super) async fn remember_processes(&self, session_id: &str, pane_pid: Option<i32>) {
        let Some(pid) = pane_pid else {
            return;
        };
        let seen =
            tokio::task::spawn_blocking(move || procs::descendants(pid)).await.unwrap_or_default();
        if let Err(error) = self.state.remember_pids(session_id, &seen) {
            tracing::debug!(%error, "the agent's processes were not remembered");
        }
    }
}
