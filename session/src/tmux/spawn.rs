//! Starting an agent in a pane — a new window, or the same pane respawned — with its output
//! tap started in the same tmux command, before tmux reads a byte of the agent's output.
//!
//! tmux runs a command list without returning to its event loop between the commands, so the
//! `pipe-pane -O` that follows `new-window` or `respawn-pane` in one list is in place before the
//! agent's first output is read: a program that turns bracketed paste on in its first
//! microsecond is seen doing it (a tmux test holds this).

use devflow_core::{Code, Error, Result};

use super::capture::SEQ_BASE_OPTION;
use super::fence::LEASE_OPTION;
use super::launch::{LAUNCH_OPTION, Launch, SESSION_ID_OPTION, session_name, window_name};
use super::mark::MARK_OPTION;
use super::pane::TAP_OPTION;
use super::server::failure;
use super::{CREATED_FORMAT, TmuxAdapter, created_handle};
use crate::{SessionAdapter, SessionHandle};

/// What the run's tmux session holds of a session, as one listing saw it.
#[derive(Debug)]
pub(super) enum Found {
    /// The session's pane: it was started already.
    Pane(SessionHandle),
    /// The run's tmux session, without a pane of this session: a new window goes there.
    Elsewhere,
    /// No tmux session of the run (or no server): a new one is needed.
    Nothing,
}

impl TmuxAdapter {
    /// The pane of an already started session with this id in the run's tmux session, or
    /// whether that tmux session is there at all — which the start then needs not ask again.
    pub(super) async fn find_started(
        &self,
        session: &str,
        session_id: &str,
        fence: Option<i64>,
    ) -> Result<Found> {
        let target = format!("={session}");
        let format = format!("{CREATED_FORMAT} #{{{SESSION_ID_OPTION}}}");
        let args = ["list-panes", "-s", "-t", &target, "-F", &format];
        let listing = match self.server.run(&args).await? {
            Ok(listing) => listing,
            Err(failed) if failed.is_missing() => return Ok(Found::Nothing),
            Err(failed) => return Err(failure(&args, &failed)),
        };
        let pane = listing.lines().find_map(|line| {
            let (created, id) = line.rsplit_once(' ')?;
            (id == session_id)
                .then(|| created_handle(session_id, session, created, fence))
                .flatten()
        });
        Ok(pane.map_or(Found::Elsewhere, Found::Pane))
    }

    /// A new window for the session's role (creating the run's tmux session with its first
    /// one, when `found` saw none), its pane options (the claim of the driver starting it
    /// among them) and its tap set in the same tmux command.
    pub(super) async fn create(
        &self,
        launch: &Launch,
        session: &str,
        fence: Option<i64>,
        found: Found,
    ) -> Result<SessionHandle> {
        let window = window_name(&launch.role_id);
        let (width, height) = (self.config.width.to_string(), self.config.height.to_string());
        let tap_path = self.state.new_tap_path(&launch.session_id)?;
        let tap_file = tap_path.to_string_lossy().into_owned();
        let tap = self.tap_shell_command(&tap_file);
        let json = launch.to_json();
        // No `-d` on new-window: the commands after it act on the window it made.
        let target = format!("={session}:");
        let mut new_session: Vec<&str> =
            vec!["new-session", "-d", "-s", session, "-n", &window, "-x", &width, "-y", &height];
        let mut new_window: Vec<&str> = vec!["new-window", "-t", &target, "-n", &window];
        let placement = launch.placement_args(self.server.socket());
        let mut tail: Vec<&str> = placement.iter().map(String::as_str).collect();
        tail.extend(["-P", "-F", CREATED_FORMAT, "--"]);
        tail.extend(launch.argv.iter().map(String::as_str));
        tail.extend([";", "set-option", "-p", SESSION_ID_OPTION, &launch.session_id]);
        tail.extend([";", "set-option", "-p", LAUNCH_OPTION, &json]);
        tail.extend([";", "set-option", "-p", TAP_OPTION, &tap_file]);
        let epoch = fence.map(|epoch| epoch.to_string());
        if let Some(epoch) = &epoch {
            tail.extend([";", "set-option", "-p", LEASE_OPTION, epoch]);
        }
        tail.extend([";", "pipe-pane", "-O", &tap]);
        new_session.extend(&tail);
        new_window.extend(&tail);
        // The listing may be out of date by now (another process, a person): whichever
        // command it chose, a refusal that says the other was needed runs the other.
        let window_first = matches!(found, Found::Elsewhere);
        let mut created =
            self.server.run(if window_first { &new_window } else { &new_session }).await?;
        match &created {
            Err(failed) if !window_first && failed.stderr.contains("duplicate session") => {
                created = self.server.run(&new_window).await?;
            }
            Err(failed) if window_first && failed.is_missing() => {
                created = self.server.run(&new_session).await?;
            }
            _ => {}
        }
        let created = created.map_err(|failed| failure(&["new-window"], &failed))?;
        let first = created.lines().next().unwrap_or_default().trim();
        created_handle(&launch.session_id, session, first, fence).ok_or_else(|| {
            Error::new(
                Code::SessionBackendFailed,
                format!("tmux answered {created:?} to new-window"),
            )
        })
    }

    /// Starts the agent again in its pane: a fresh history, a fresh tap (piped right after the
    /// respawn, in the same tmux command), no prompt mark. Input, so fenced: a superseded
    /// driver does not restart the agent a newer one works with.
    pub(super) async fn respawn(&self, handle: &SessionHandle, launch: &Launch) -> Result<()> {
        let target = super::pane_of(handle)?;
        let pane = target.id;
        let base = self.next_seq_base(pane).await?.to_string();
        let tap_path = self.state.new_tap_path(&launch.session_id)?;
        let tap_file = tap_path.to_string_lossy().into_owned();
        let tap = self.tap_shell_command(&tap_file);
        let placement = launch.placement_args(self.server.socket());
        let mut respawn: Vec<&str> = vec!["clear-history", "-t", pane];
        respawn.extend([";", "set-option", "-p", "-t", pane, SEQ_BASE_OPTION, &base]);
        respawn.extend([";", "set-option", "-p", "-t", pane, TAP_OPTION, &tap_file]);
        respawn.extend([";", "set-option", "-p", "-u", "-t", pane, MARK_OPTION]);
        respawn.extend([";", "respawn-pane", "-k", "-t", pane]);
        respawn.extend(placement.iter().map(String::as_str));
        respawn.push("--");
        respawn.extend(launch.argv.iter().map(String::as_str));
        // After the respawn: tmux refuses to pipe a dead pane ("target pane has exited").
        respawn.extend([";", "pipe-pane", "-O", "-t", pane, &tap]);
        self.run_input_ok(target, &respawn).await?;
        self.state.remove_taps(&launch.session_id, Some(&tap_path));
        Ok(())
    }

    /// Rebootstrap of a session whose pane is gone: the agent starts again from its launch
    /// record, in a new window (and, if the server is gone too, a new server).
    pub(super) async fn start_again(&self, handle: &SessionHandle) -> Result<SessionHandle> {
        let Some(launch) = self
            .cached_launch(&handle.session_id)
            .or(self.state.load_launch(&handle.session_id)?)
        else {
            return Err(Error::new(
                Code::SessionNotFound,
                format!(
                    "the tmux pane of session {} is gone and devflow has no launch record to start it again",
                    handle.session_id
                ),
            )
            .with_hint(format!(
                "its launch record would be in {}; `devflow resume` starts a fresh agent for the role",
                self.config.state_dir.join("sessions").display()
            )));
        };
        let session = session_name(&launch.run_id);
        let _guard = self.start_lock.lock().await;
        match self.find_started(&session, &launch.session_id, handle.fence).await? {
            Found::Pane(found) => {
                self.respawn(&found, &launch).await?;
                self.resume(&found).await
            }
            found => self.create(&launch, &session, handle.fence, found).await,
        }
    }

    /// The shell command `pipe-pane` runs: the tap with its record file, quoted for `sh -c`.
    fn tap_shell_command(&self, tap_file: &str) -> String {
        let mut words: Vec<String> =
            self.config.tap_command.iter().map(|w| shell_quote(w)).collect();
        words.push(shell_quote(tap_file));
        // The tap's own complaints go nowhere a person would look; it has nothing to say
        // unless it cannot write its record, which shows as a pane that never gets ready.
        format!("exec {} 2>/dev/null", words.join(" "))
    }
}

/// `text` in single quotes for `sh`, inner single quotes as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_whole() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
