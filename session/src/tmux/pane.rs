//! One look at a pane — alive or dead, its pid and cursor, its screen, what its output tap last
//! recorded, and devflow's own marks on it — in one tmux command.
//!
//! The time of the last output comes from the tap ([`super::tap`]), which sees every byte even
//! while devflow is not running. For panes without a tap (started by an older devflow) the time
//! the screen last changed is kept per pane in memory and in the pane option `@devflow_screen`
//! (`<hash> <epoch ms>`), so a new adapter after a restart still knows how long a silent agent
//! has been silent.

use std::path::PathBuf;

use devflow_core::{Code, Error, Result, hash_bytes};

use super::TmuxAdapter;
use super::mark::{MARK_OPTION, PromptMark};
use super::tap::{self, TapState};
use crate::now_ms;

/// Pane option naming the file the pane's tap keeps its record in.
pub(super) const TAP_OPTION: &str = "@devflow_tap";
const SCREEN_OPTION: &str = "@devflow_screen";

const FORMAT: &str = "#{pane_id} #{pane_dead} #{pane_dead_status} #{pane_in_mode} #{cursor_x} #{cursor_y} #{pane_pid} #{@devflow_session_id}";

/// A session's pane: its id (`%N`) and the session it must still belong to. After a tmux
/// restart pane ids are handed out again, so every look at a pane checks whose it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pane<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    /// The lease epoch of the driver acting on the pane ([`super::fence`]); `None`: unfenced.
    pub fence: Option<i64>,
}

impl std::fmt::Display for Pane<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// What a pane's output tap says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tap {
    /// The pane has no tap (an older devflow started it): its paste mode is unknown.
    None,
    /// The pane has a tap that has written no record (yet).
    Silent,
    State(TapState),
}

impl Tap {
    pub fn state(&self) -> Option<TapState> {
        match self {
            Tap::State(state) => Some(*state),
            Tap::None | Tap::Silent => None,
        }
    }
}

/// One look at a pane.
#[derive(Debug, Clone)]
pub(super) struct PaneView {
    pub dead: bool,
    pub dead_status: Option<i32>,
    /// In copy mode or another mode, where keys go to tmux instead of the agent.
    pub in_mode: bool,
    pub pid: Option<i32>,
    /// The visible screen, one string per row, without escapes.
    pub lines: Vec<String>,
    /// Hash of the visible screen and the cursor position.
    pub screen_hash: String,
    /// Epoch ms at which `screen_hash` was first seen.
    pub changed_at_ms: i64,
    pub tap: Tap,
    /// What delivery last recorded on the pane.
    pub mark: Option<PromptMark>,
}

impl PaneView {
    /// The visible screen holds nothing but blanks.
    pub fn blank(&self) -> bool {
        self.lines.iter().all(|line| line.trim().is_empty())
    }

    /// How long the pane has shown no change: since its last output (by the tap) or since its
    /// screen last changed (as seen), whichever is longer — an agent that redraws the same
    /// screen over and over has still settled.
    pub fn quiet_ms(&self, now_ms: i64) -> i64 {
        let by_screen = now_ms - self.changed_at_ms;
        let by_tap = self.tap.state().map_or(0, |state| now_ms - state.last_output_ms);
        by_screen.max(by_tap)
    }

    /// Epoch ms of the last output: the tap's when it knows, else of the last screen change.
    pub fn last_output_at_ms(&self) -> i64 {
        self.tap.state().map_or(self.changed_at_ms, |state| state.last_output_ms)
    }
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
        let show = |format: &'static str| ["display-message", "-p", "-t", id, format, ";"];
        let options = ["#{@devflow_screen}", "#{@devflow_tap}", "#{@devflow_prompt}"];
        debug_assert_eq!(options[2], format!("#{{{MARK_OPTION}}}"));
        let mut args: Vec<&str> = show(FORMAT).to_vec();
        for option in options {
            args.extend(show(option));
        }
        args.extend(["capture-pane", "-p", "-t", id]);
        let output = self.server.run_ok(&args).await?;
        let mut rows = output.split('\n');
        let mut next = || rows.next().unwrap_or_default();
        let (first, screen_option, tap_option, mark_option) = (next(), next(), next(), next());
        let fields: Vec<&str> = first.splitn(8, ' ').collect();
        // display-message answers even for a missing pane, with empty fields.
        if fields.len() < 8 || fields[0] != id || fields[7] != pane.session_id {
            return Err(not_found(id));
        }
        let lines: Vec<String> = rows.map(str::to_owned).collect();
        let screen = lines.join("\n");
        let screen_hash = hash_bytes(format!("{} {}\n{screen}", fields[4], fields[5]).as_bytes());
        let tap = read_tap(tap_option);
        let stored = ScreenMark::parse(screen_option);
        let persist = tap == Tap::None;
        let changed_at_ms = self.remember_screen(id, &screen_hash, stored, persist).await?;
        Ok(PaneView {
            dead: fields[1] == "1",
            dead_status: fields[2].parse().ok(),
            in_mode: fields[3] == "1",
            pid: fields[6].parse().ok(),
            lines: trim_trailing_blank_rows(lines),
            screen_hash,
            changed_at_ms,
            tap,
            mark: PromptMark::parse(mark_option),
        })
    }

    /// Records `hash` as the pane's screen: returns when it first looked like that. With
    /// `persist` (a pane without a tap) a change is also written to the pane.
    async fn remember_screen(
        &self,
        pane: &str,
        hash: &str,
        stored: Option<ScreenMark>,
        persist: bool,
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
        if persist {
            let value = format!("{} {}", mark.hash, mark.changed_at_ms);
            // Best effort: losing the persisted mark only delays hang detection after a restart.
            let _ =
                self.server.run(&["set-option", "-p", "-t", pane, SCREEN_OPTION, &value]).await?;
        }
        Ok(mark.changed_at_ms)
    }
}

fn read_tap(option: &str) -> Tap {
    if option.trim().is_empty() {
        return Tap::None;
    }
    tap::read_state(&PathBuf::from(option)).map_or(Tap::Silent, Tap::State)
}

/// capture-pane ends with the newline of the last row.
fn trim_trailing_blank_rows(mut lines: Vec<String>) -> Vec<String> {
    while lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    lines
}

pub(super) fn not_found(pane: &str) -> Error {
    Error::new(Code::SessionNotFound, format!("tmux pane {pane} no longer exists"))
        .with_hint("the agent's pane was closed or the tmux server stopped; `devflow resume` starts a fresh agent")
}
