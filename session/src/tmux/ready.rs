//! Waiting until a pane is ready for a paste: bracketed paste on (by its tap), a settled,
//! non-blank screen, the preset's input box showing — and stopping, before anything is pasted,
//! at a dialog: answered where the workflow allows it and the preset marks it safe, otherwise
//! `agent_needs_input` that quotes it. A pane that never gets ready is `agent_not_ready`.

use tokio::time::Instant;

use devflow_core::{Code, Error, Result};

use super::TmuxAdapter;
use super::launch::Launch;
use super::pane::{Pane, PaneView, Tap};
use super::screen::Screen;
use crate::now_ms;
use crate::preset::Dialog;

/// A pane ready for a paste, and the dialogs answered on the way.
#[derive(Debug)]
pub(super) struct Ready {
    pub view: PaneView,
    pub answered: Vec<String>,
}

impl TmuxAdapter {
    /// Waits (up to `ready_timeout_ms`) until `pane` is ready for a paste. Nothing is pasted
    /// here, so every error leaves a retry safe.
    pub(super) async fn wait_ready(&self, pane: Pane<'_>, launch: &Launch) -> Result<Ready> {
        let matcher = launch.preset().matcher();
        let start = Instant::now();
        let mut answered: Vec<String> = Vec::new();
        loop {
            let view = self.observe(pane).await?;
            let screen = Screen::new(&view.lines, matcher);
            if let (true, Some((dialog, line))) = (view.dead, screen.dialog()) {
                // It exited at a first-run step (Claude Code's onboarding check offline).
                return Err(self.needs_input(pane, launch, Some(dialog), line, &answered));
            }
            if view.dead {
                return Err(Error::new(
                    Code::SessionUnavailable,
                    format!("the agent in pane {pane} has exited; nothing was pasted"),
                )
                .with_hint("rebootstrap the session before sending it a prompt"));
            }
            if view.in_mode {
                self.leave_modes(pane).await?;
                continue;
            }
            let settled = view.quiet_ms(now_ms()) >= self.settle_ms(launch, &view) as i64;
            if settled && !view.blank() {
                if let Some((dialog, line)) = screen.dialog() {
                    if !self.may_answer(dialog, launch) || answered.iter().any(|a| a == dialog.name)
                    {
                        return Err(self.needs_input(pane, launch, Some(dialog), line, &answered));
                    }
                    self.answer(pane, dialog, &view).await?;
                    answered.push(dialog.name.to_owned());
                    continue;
                }
                if let Some(line) = screen.question() {
                    return Err(self.needs_input(pane, launch, None, &line, &answered));
                }
                if paste_mode_on(view.tap) && screen.input_ready() {
                    return Ok(Ready { view, answered });
                }
            }
            if start.elapsed().as_millis() >= u128::from(self.config.ready_timeout_ms) {
                return Err(self.not_ready(pane, launch, &view, &screen, settled, &answered));
            }
            self.pause().await;
        }
    }

    /// How long the screen must have held still: longer before the first prompt into the pane
    /// (no prompt mark on it yet) for a preset that draws a dialog over its input box a moment
    /// after drawing the box.
    fn settle_ms(&self, launch: &Launch, view: &PaneView) -> u64 {
        let first_prompt = view.mark.is_none();
        settle_window_ms(
            self.config.ready_settle_ms,
            launch.preset().first_prompt_settle_ms,
            first_prompt,
        )
    }

    fn may_answer(&self, dialog: &Dialog, launch: &Launch) -> bool {
        dialog.safe_to_answer
            && !dialog.answer_keys.is_empty()
            && launch.answer_dialogs.iter().any(|name| name == dialog.name)
    }

    /// Sends the dialog's answer and waits (bounded) for the screen to react.
    async fn answer(&self, pane: Pane<'_>, dialog: &Dialog, before: &PaneView) -> Result<()> {
        tracing::info!(
            pane = pane.id,
            dialog = dialog.name,
            "answering a dialog the workflow allows"
        );
        let mut keys = vec!["send-keys", "-t", pane.id];
        keys.extend(dialog.answer_keys);
        self.run_input_ok(pane, &keys).await?;
        let timeout_ms = self.config.submit_verify_timeout_ms;
        self.wait_changed(pane, &before.screen_hash, timeout_ms).await?;
        Ok(())
    }

    fn needs_input(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        dialog: Option<&Dialog>,
        line: &str,
        answered: &[String],
    ) -> Error {
        let (what, avoid) = match dialog {
            Some(d) => (format!("{} (`{}`)", d.meaning, d.name), d.avoid.to_owned()),
            None => (
                "a question devflow does not know".to_owned(),
                format!("configure {} so that it starts at its input box", launch.preset().name),
            ),
        };
        let again = match dialog {
            Some(d) if answered.iter().any(|a| a == d.name) => " again, after devflow answered it",
            _ => "",
        };
        let opt_in = match dialog {
            Some(d) if d.safe_to_answer && !d.answer_keys.is_empty() => format!(
                " Or let devflow answer it for this role (the dialog `{}` is safe to answer for a throwaway worktree).",
                d.name
            ),
            _ => String::new(),
        };
        // The hint names the dialog too: a person reading the gate (or a script) knows which
        // of the preset's dialogs it is, not only what the screen shows.
        let named = dialog.map(|d| format!("the dialog `{}`: ", d.name)).unwrap_or_default();
        Error::new(
            Code::AgentNeedsInput,
            format!(
                "the agent in pane {pane} shows a dialog{again} instead of its input box: {what}; nothing was pasted{}",
                answered_note(answered)
            ),
        )
        .with_hint(format!(
            "the screen shows {named}`{}`. To keep it from showing next time: {avoid}. To answer it now: {}, answer it, detach (Ctrl-b d), then `devflow resume {}`.{opt_in}",
            devflow_core::text::neutralize_line(line),
            self.attach_command(),
            launch.run_id
        ))
    }

    fn not_ready(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        view: &PaneView,
        screen: &Screen<'_>,
        settled: bool,
        answered: &[String],
    ) -> Error {
        let mut missing = Vec::new();
        match view.tap {
            Tap::Silent => missing.push(format!(
                "devflow's output tap for the pane never reported (is `{}` runnable?)",
                self.config.tap_command.join(" ")
            )),
            Tap::State(state) if !state.paste_on => {
                missing.push("bracketed paste never turned on".to_owned());
            }
            _ => {}
        }
        if !settled {
            missing.push("the screen never settled".to_owned());
        } else if view.blank() {
            missing.push("the screen stayed blank".to_owned());
        }
        if let (false, Some(pattern)) = (screen.input_ready(), launch.preset().input_ready) {
            missing.push(format!(
                "the input box `{pattern}` never showed (the screen ends with `{}`)",
                devflow_core::text::neutralize_line(screen.last_line())
            ));
        }
        Error::new(
            Code::AgentNotReady,
            format!(
                "the agent in pane {pane} was not ready for a prompt within {} ms; nothing was pasted{}",
                self.config.ready_timeout_ms,
                answered_note(answered)
            ),
        )
        .with_hint(format!(
            "{}. Look at it: {}, then `devflow resume {}`",
            missing.join("; "),
            self.attach_command(),
            launch.run_id
        ))
    }
}

/// The adapter's settle window, or the preset's first-prompt window where that is longer and
/// no prompt went into the pane yet.
fn settle_window_ms(ready_settle_ms: u64, first_prompt_settle_ms: u64, first_prompt: bool) -> u64 {
    match first_prompt {
        true => ready_settle_ms.max(first_prompt_settle_ms),
        false => ready_settle_ms,
    }
}

/// Bracketed paste is on, or cannot be known (a pane without a tap).
fn paste_mode_on(tap: Tap) -> bool {
    match tap {
        Tap::None => true,
        Tap::Silent => false,
        Tap::State(state) => state.paste_on,
    }
}

fn answered_note(answered: &[String]) -> String {
    if answered.is_empty() {
        String::new()
    } else {
        format!(" (devflow answered: {})", answered.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::settle_window_ms;

    #[test]
    fn the_presets_first_prompt_window_counts_before_the_first_prompt_only() {
        // Codex and Gemini CLI: 1.5 s before the first prompt, the adapter's 250 ms after it.
        assert_eq!(settle_window_ms(250, 1_500, true), 1_500);
        assert_eq!(settle_window_ms(250, 1_500, false), 250);
        // The longer window wins; a preset without one (0) takes the adapter's.
        assert_eq!(settle_window_ms(2_000, 1_500, true), 2_000);
        assert_eq!(settle_window_ms(250, 0, true), 250);
    }
}
