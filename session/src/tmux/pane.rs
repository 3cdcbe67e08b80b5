//! What a pane looks like right now: alive or dead, its pid, and when its screen last changed.
//!
//! The time of the last change is kept per pane in memory and in the pane option
//! `@devflow_screen` (`<hash> <epoch ms>`), so a new adapter after a devflow restart still knows
//! how long a silent agent has been silent.

use devflow_core::{Code, Error, Result, hash_bytes};

use super::TmuxAdapter;
use crate::now_ms;

const FORMAT: &str = "#{pane_id} #{pane_dead} #{pane_dead_status} #{pane_in_mode} #{cursor_x} #{cursor_y} #{@devflow_session_id} #{@devflow_screen}";

/// A session's pane: its id (`%N`) and the session it must still belong to. After a tmux
/// restart pane ids are handed out again, so every look at a pane checks whose it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pane<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
}

impl std::fmt::Display for Pane<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// One look at a pane.
#[derive(Debug, Clone)]
pub(super) struct PaneView {
    pub dead: bool,
    pub dead_status: Option<i32>,
    /// In copy mode or another mode, where keys go to tmux instead of the agent.
    pub in_mode: bool,
    /// Hash of the visible screen and the cursor position.
    pub screen_hash: String,
    /// Epoch ms at which `screen_hash` was first seen.
    pub changed_at_ms: i64,
    /// The visible screen holds nothing but blanks.
    pub blank: bool,
}

/// The last screen seen of a pane and when it first looked like that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScreenMark {
    pub hash: String,
    pub changed_at_ms: i64,
}

impl ScreenMark {
    fn parse(text: &str) -> Option<ScreenMark> {
        let (hash, ms) = text.trim().split_once(' ')?;
        Some(ScreenMark { hash: hash.to_owned(), changed_at_ms: ms.parse().ok()? })
    }
}

impl TmuxAdapter {
    /// Looks at `pane`: `session_not_found` when it (or the server) is gone, or is another
    /// session's now.
    pub(super) async fn observe(&self, pane: Pane<'_>) -> Result<PaneView> {
        let id = pane.id;
        let args = ["display-message", "-p", "-t", id, FORMAT, ";", "capture-pane", "-p", "-t", id];
        let output = self.server.run_ok(&args).await?;
        let (first, screen) = output.split_once('\n').unwrap_or((output.as_str(), ""));
        let fields: Vec<&str> = first.splitn(8, ' ').collect();
        // display-message answers even for a missing pane, with empty fields.
        if fields.len() < 8 || fields[0] != id || fields[6] != pane.session_id {
            return Err(not_found(id));
        }
        let screen_hash = hash_bytes(format!("{} {}\n{screen}", fields[4], fields[5]).as_bytes());
        let changed_at_ms =
            self.remember_screen(id, &screen_hash, ScreenMark::parse(fields[7])).await?;
        Ok(PaneView {
            dead: fields[1] == "1",
            dead_status: fields[2].parse().ok(),
            in_mode: fields[3] == "1",
            screen_hash,
            changed_at_ms,
            blank: screen.trim().is_empty(),
        })
    }

    /// Records `hash` as the pane's screen: returns when it first looked like that.
    async fn remember_screen(
        &self,
        pane: &str,
        hash: &str,
        stored: Option<ScreenMark>,
    ) -> Result<i64> {
        let known = {
            let screens = self.screens.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            screens.get(pane).cloned().or(stored)
        };
        if let Some(mark) = known.filter(|mark| mark.hash == hash) {
            return Ok(mark.changed_at_ms);
        }
        let mark = ScreenMark { hash: hash.to_owned(), changed_at_ms: now_ms() };
        self.screens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(pane.to_owned(), mark.clone());
        let value = format!("{} {}", mark.hash, mark.changed_at_ms);
        // Best effort: losing the persisted mark only delays hang detection after a restart.
        let _ =
            self.server.run(&["set-option", "-p", "-t", pane, "@devflow_screen", &value]).await?;
        Ok(mark.changed_at_ms)
    }
}

pub(super) fn not_found(pane: &str) -> Error {
    Error::new(Code::SessionNotFound, format!("tmux pane {pane} no longer exists"))
        .with_hint("the agent's pane was closed or the tmux server stopped; `devflow resume` starts a fresh agent")
}
