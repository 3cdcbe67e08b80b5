//! Prompt delivery into a pane: wait until it is ready, mark the pane, one bracketed paste of
//! neutralised text, wait until the paste visibly sits in the input, then Enter as a separate
//! key until the agent visibly takes it. "Pasted but never submitted" is the bug this file
//! exists to prevent; a second paste is the bug it must not introduce: once the paste may have
//! reached the agent, every failure is `prompt_delivery_unverified`, never a retry.

use std::time::Duration;

use tokio::time::Instant;

use devflow_core::{Code, Error, PromptEnvelope, Result};

use super::TmuxAdapter;
use super::launch::Launch;
use super::mark::{MARK_OPTION, PromptMark, Step};
use super::pane::{Pane, PaneView};
use super::screen::{Screen, Signs};
use super::server::failure;
use super::tap::TapState;
use crate::{PromptReceipt, render_prompt};

/// Why a paste did or did not go in.
enum Pasted {
    Yes,
    /// tmux refused it: nothing reached the agent.
    Refused(Error),
    /// tmux did not answer: the paste may have reached the agent.
    Unknown(Error),
}

impl TmuxAdapter {
    /// Delivers `envelope`'s prompt into `pane`, verified; see the trait for what errors mean.
    pub(super) async fn deliver(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let ready = self.wait_ready(pane, launch).await?;
        let signs = Signs::of(envelope);
        let tap_bytes = ready.view.tap.state().map_or(0, |state| state.bytes);
        self.set_mark(pane, &PromptMark::new(Step::Paste, &signs.marker, tap_bytes)).await?;
        match self.paste(pane, &render_prompt(envelope)).await {
            Pasted::Yes => {}
            Pasted::Refused(error) => return Err(error),
            Pasted::Unknown(error) => return Err(self.unverified(pane, launch, error).await),
        }
        // The text may be in the agent's input now: nothing below may be retried.
        let before = &ready.view;
        let submitted = async {
            let landed = self.wait_landed(pane, launch, &signs, before).await?;
            self.submit(pane, launch, &signs, landed).await
        };
        if let Err(error) = submitted.await {
            return Err(self.unverified(pane, launch, error).await);
        }
        self.after_taken(pane, &signs.marker).await;
        Ok(PromptReceipt {
            prompt_id: envelope.dedup_key.clone(),
            dialogs_answered: ready.answered,
        })
    }

    /// Writes what delivery is about to do onto the pane.
    pub(super) async fn set_mark(&self, pane: Pane<'_>, mark: &PromptMark) -> Result<()> {
        let value = mark.value();
        self.server.run_ok(&["set-option", "-p", "-t", pane.id, MARK_OPTION, &value]).await?;
        Ok(())
    }

    /// Takes the pane out of copy mode (a person scrolling back), where keys go to tmux.
    pub(super) async fn leave_modes(&self, pane: Pane<'_>) -> Result<()> {
        self.server.run_ok(&["copy-mode", "-q", "-t", pane.id]).await?;
        Ok(())
    }

    /// `load-buffer` from stdin (no quoting, no size limit of an argument), then `paste-buffer`
    /// bracketed (`-p`), keeping LF as LF (`-r`), deleting the buffer (`-d`). The one place
    /// text reaches a pane: it is neutralised here, so that nothing in it — the end-of-paste
    /// sequence above all — acts as a control sequence, whatever its source.
    async fn paste(&self, pane: Pane<'_>, text: &str) -> Pasted {
        let text = devflow_core::text::neutralize(text);
        let buffer = format!("devflow-{}", uuid::Uuid::new_v4().simple());
        let load = ["load-buffer", "-b", &buffer, "-"];
        match self.server.run_with_stdin(&load, Some(text.as_bytes())).await {
            Ok(Ok(_)) => {}
            Ok(Err(failed)) => return Pasted::Refused(failure(&load, &failed)),
            Err(error) => return Pasted::Refused(error),
        }
        let paste = ["paste-buffer", "-p", "-r", "-d", "-b", &buffer, "-t", pane.id];
        let refused = |error| async {
            let _ = self.server.run(&["delete-buffer", "-b", &buffer]).await;
            Pasted::Refused(error)
        };
        match self.run_input(pane, &paste).await {
            Ok(Ok(_)) => Pasted::Yes,
            Ok(Err(failed)) => refused(failure(&paste, &failed)).await,
            Err(error) if error.is(Code::LeaseLost) => refused(error).await,
            Err(error) => Pasted::Unknown(error),
        }
    }

    /// Waits until the paste visibly sits in the input: its placeholder, or its text, where the
    /// input box is, a marker line more on the screen than before, or — for a preset
    /// that knows no placeholder — any change of the screen. A paste that never shows is an
    /// error, and Enter is never pressed for it; nor for one a known dialog replaced once the
    /// screen settled.
    async fn wait_landed(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        signs: &Signs,
        before: &PaneView,
    ) -> Result<PaneView> {
        let matcher = launch.preset().matcher();
        let markers_before = Screen::new(&before.lines, matcher).marker_count(&signs.marker);
        let timeout_ms = self.config.paste_visible_timeout_ms;
        let landed = self
            .wait_for(pane, timeout_ms, |view| {
                let screen = Screen::new(&view.lines, matcher);
                screen.paste_in_input(signs)
                    || screen.marker_count(&signs.marker) > markers_before
                    || (matcher.paste_placeholder.is_none()
                        && view.screen_hash != before.screen_hash)
            })
            .await?;
        let Some(view) = landed else {
            let last = Screen::new(&before.lines, matcher).last_line().to_owned();
            return Err(Error::new(
                Code::PromptDeliveryUnverified,
                format!(
                    "the paste did not show in the input within {timeout_ms} ms, so Enter was not pressed (the screen ends with `{}`)",
                    devflow_core::text::neutralize_line(&last)
                ),
            ));
        };
        // A paste shows in steps; Enter goes in once the screen has stopped changing.
        let settled = self.wait_settled(pane, self.config.paste_visible_timeout_ms).await?;
        if settled.dead {
            return Ok(view);
        }
        // A dialog drawn after the agent looked ready took the screen and the paste with it:
        // Enter now would answer the dialog, and the agent never sees the prompt.
        let screen = Screen::new(&settled.lines, matcher);
        if let (false, Some((dialog, line))) = (screen.paste_in_input(signs), screen.dialog()) {
            return Err(Error::new(
                Code::PromptDeliveryUnverified,
                format!(
                    "the paste showed, then the dialog `{}` took its place (the screen shows `{}`), so Enter was not pressed",
                    dialog.name,
                    devflow_core::text::neutralize_line(line)
                ),
            ));
        }
        Ok(settled)
    }

    /// Presses Enter (only Enter), recording it on the pane in the same tmux command, until the
    /// agent shows it took the prompt: its working pattern, the input cleared of the paste, or
    /// bracketed paste turned off. Enter is pressed again only while the paste visibly waits in
    /// the input.
    pub(super) async fn submit(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        signs: &Signs,
        pasted: PaneView,
    ) -> Result<()> {
        let matcher = launch.preset().matcher();
        let mut view = pasted;
        let attempts = self.config.enter_attempts_max.max(1);
        let hold_ms = self.config.paste_off_hold_ms as i64;
        for attempt in 1..=attempts {
            if view.in_mode {
                self.leave_modes(pane).await?;
            }
            let tap_bytes = view.tap.state().map_or(0, |state| state.bytes);
            let mark = PromptMark::new(Step::Enter, &signs.marker, tap_bytes).value();
            let enter = [
                "set-option",
                "-p",
                "-t",
                pane.id,
                MARK_OPTION,
                &mark,
                ";",
                "send-keys",
                "-t",
                pane.id,
                "Enter",
            ];
            let enter_at_ms = crate::now_ms();
            self.run_input_ok(pane, &enter).await?;
            let zone_before: Vec<String> =
                Screen::new(&view.lines, matcher).zone().into_iter().map(str::to_owned).collect();
            let took = self
                .wait_for(pane, self.config.submit_verify_timeout_ms, |now| {
                    let screen = Screen::new(&now.lines, matcher);
                    let paste_off = now.tap.state().is_some_and(|tap| {
                        paste_off_since_enter(tap, enter_at_ms, hold_ms, crate::now_ms())
                    });
                    tracing::debug!(
                        pane = pane.id,
                        tap = ?now.tap,
                        zone = ?screen.zone(),
                        pending = screen.paste_in_input(signs),
                        "after Enter"
                    );
                    now.dead
                        || screen.working()
                        || paste_off
                        || (!screen.paste_in_input(signs) && screen.zone() != zone_before)
                })
                .await?;
            if let Some(now) = took {
                return if now.dead { Err(exited_after_enter(pane)) } else { Ok(()) };
            }
            view = self.observe(pane).await?;
            let still_pending = Screen::new(&view.lines, matcher).paste_in_input(signs);
            tracing::warn!(
                pane = pane.id,
                attempt,
                still_pending,
                "the agent did not react to Enter"
            );
            if !still_pending {
                break;
            }
        }
        let last = Screen::new(&view.lines, matcher).last_line().to_owned();
        Err(Error::new(
            Code::PromptDeliveryUnverified,
            format!(
                "the agent did not show that it took the prompt after Enter (pressed up to {attempts} times; the screen ends with `{}`)",
                devflow_core::text::neutralize_line(&last)
            ),
        ))
    }

    /// After a verified delivery: the mark says so, and the agent's processes are remembered
    /// (for disposal). Both best effort: the prompt is delivered whatever happens here.
    pub(super) async fn after_taken(&self, pane: Pane<'_>, marker: &str) {
        let view = self.observe(pane).await.ok();
        let tap_bytes = view.as_ref().and_then(|v| v.tap.state()).map_or(0, |s| s.bytes);
        let _ = self.set_mark(pane, &PromptMark::new(Step::Taken, marker, tap_bytes)).await;
        self.remember_processes(pane.session_id, view.and_then(|v| v.pid)).await;
    }

    /// Polls until the screen has not changed for `ready_settle_ms`, or the pane is dead. After
    /// `timeout_ms` it returns the last look anyway.
    pub(super) async fn wait_settled(&self, pane: Pane<'_>, timeout_ms: u64) -> Result<PaneView> {
        let settle_ms = self.config.ready_settle_ms as i64;
        let settled = self
            .wait_for(pane, timeout_ms, |view| {
                view.dead || view.quiet_ms(crate::now_ms()) >= settle_ms
            })
            .await?;
        match settled {
            Some(view) => Ok(view),
            None => self.observe(pane).await,
        }
    }

    /// Polls until the screen differs from `hash` (or the pane died): the new look, or `None`
    /// after `timeout_ms`.
    pub(super) async fn wait_changed(
        &self,
        pane: Pane<'_>,
        hash: &str,
        timeout_ms: u64,
    ) -> Result<Option<PaneView>> {
        self.wait_for(pane, timeout_ms, |view| view.dead || view.screen_hash != hash).await
    }

    /// Polls `pane` until `done` holds: that look, or `None` after `timeout_ms`.
    async fn wait_for(
        &self,
        pane: Pane<'_>,
        timeout_ms: u64,
        done: impl Fn(&PaneView) -> bool,
    ) -> Result<Option<PaneView>> {
        let start = Instant::now();
        loop {
            let view = self.observe(pane).await?;
            if done(&view) {
                return Ok(Some(view));
            }
            if start.elapsed() >= Duration::from_millis(timeout_ms) {
                return Ok(None);
            }
            self.pause().await;
        }
    }

    pub(super) async fn pause(&self) {
        tokio::time::sleep(Duration::from_millis(self.config.poll_ms)).await;
    }
}

/// Whether the tap shows that the agent stopped reading its input because of this Enter: it
/// turned bracketed paste off after the key went in (Aider does it for each message it takes)
/// and has kept it off for `hold_ms`. A mode that flips off and on again is no such sign: a
/// prompt_toolkit CLI does that whenever it prints above its prompt or redraws it (its
/// renderer's erase turns the mode off, the redraw on), with the paste still unsubmitted in
/// its input. One look at the mode off used to count, and a freshly started Aider that flips
/// it right after Enter would pass (issue 12: a repair prompt recorded that Aider's input still
/// held and the model never received).
fn paste_off_since_enter(tap: TapState, enter_at_ms: i64, hold_ms: i64, now_ms: i64) -> bool {
    !tap.paste_on && tap.mode_changed_ms >= enter_at_ms && now_ms - tap.mode_changed_ms >= hold_ms
}

fn exited_after_enter(pane: Pane<'_>) -> Error {
    Error::new(
        Code::PromptDeliveryUnverified,
        format!(
            "the agent in pane {pane} exited after Enter; it may or may not have taken the prompt"
        ),
    )
}

impl TmuxAdapter {
    /// What failed after the paste may have reached the agent: never recoverable, because a
    /// retry would paste the prompt a second time.
    /// A dialog the agent drew after it looked ready (Codex and Gemini CLI draw folder trust
    /// over their input box a moment after start) is named, with what keeps it away.
    pub(super) async fn unverified(&self, pane: Pane<'_>, launch: &Launch, error: Error) -> Error {
        let view = self.observe(pane).await.ok();
        let matcher = launch.preset().matcher();
        let dialog = view.as_ref().and_then(|v| Screen::new(&v.lines, matcher).dialog());
        let dialog_note = match dialog {
            Some((dialog, _)) => format!(
                "The screen now shows the dialog `{}` ({}): the paste may have gone into it. To keep it from showing next time: {}. ",
                dialog.name, dialog.meaning, dialog.avoid
            ),
            None => String::new(),
        };
        let message = match error.code() {
            Code::PromptDeliveryUnverified => {
                format!("prompt pasted into {pane}, then: {}", error.message())
            }
            _ => format!(
                "prompt pasted into {pane}, then its delivery could not be verified: {}",
                error.message()
            ),
        };
        Error::new(Code::PromptDeliveryUnverified, message).with_hint(format!(
            "the prompt may or may not have reached the agent, so devflow will not paste it again. {dialog_note}Look at the pane ({}): if the prompt waits in its input, press Enter there; if the agent never got it, paste it yourself. Then `devflow resume {}`",
            self.attach_command(),
            launch.run_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(paste_on: bool, mode_changed_ms: i64) -> TapState {
        TapState { paste_on, mode_changed_ms, ..TapState::new(0) }
    }

    #[test]
    fn only_paste_mode_turned_off_by_the_enter_and_kept_off_counts_as_taken() {
        let (enter, hold) = (10_000, 1_000);
        assert!(paste_off_since_enter(tap(false, 10_050), enter, hold, 11_050));
        assert!(!paste_off_since_enter(tap(false, 10_050), enter, hold, 10_500), "not held yet");
        assert!(!paste_off_since_enter(tap(true, 10_400), enter, hold, 12_000), "on again");
        assert!(!paste_off_since_enter(tap(false, 9_000), enter, hold, 12_000), "off before Enter");
    }
}
