//! Prompt delivery into a pane: one bracketed paste, then Enter as a separate key until the agent
//! visibly takes it. "Pasted but never submitted" is the bug this file exists to prevent; a
//! second paste is the bug it must not introduce.

use std::time::Duration;

use tokio::time::Instant;

use devflow_core::{Class, Code, Error, Result};

use super::TmuxAdapter;
use super::pane::{Pane, PaneView};
use super::server::failure;
use crate::now_ms;

impl TmuxAdapter {
    /// Pastes `text` into `pane` once and submits it.
    pub(super) async fn deliver(&self, pane: Pane<'_>, text: &str) -> Result<()> {
        let ready = self.wait_settled(pane, true, self.config.ready_timeout_ms).await?;
        if ready.dead {
            return Err(Error::new(
                Code::SessionUnavailable,
                format!("the agent in pane {pane} has exited"),
            )
            .with_hint("rebootstrap the session before sending it a prompt"));
        }
        self.leave_modes(pane, &ready).await?;
        self.paste(pane, text).await?;
        // The text is in the agent's input now. Whatever fails from here on must not be
        // retried by pasting again, so no error below is recoverable.
        self.submit(pane, &ready).await.map_err(|error| match error.class() {
            Class::Recoverable => Error::new(
                Code::PromptSendExhausted,
                format!("prompt pasted into {pane}, then: {}", error.message()),
            ),
            _ => error,
        })
    }

    /// Takes the pane out of copy mode (a person scrolling back), where Enter would go to tmux.
    async fn leave_modes(&self, pane: Pane<'_>, view: &PaneView) -> Result<()> {
        if view.in_mode {
            self.server.run_ok(&["copy-mode", "-q", "-t", pane.id]).await?;
        }
        Ok(())
    }

    /// `load-buffer` from stdin (no quoting, no size limit of an argument), then `paste-buffer`
    /// bracketed (`-p`), keeping LF as LF (`-r`), deleting the buffer (`-d`).
    async fn paste(&self, pane: Pane<'_>, text: &str) -> Result<()> {
        let buffer = format!("devflow-{}", uuid::Uuid::new_v4().simple());
        let load = ["load-buffer", "-b", &buffer, "-"];
        self.server
            .run_with_stdin(&load, Some(text.as_bytes()))
            .await?
            .map_err(|f| failure(&load, &f))?;
        let paste = ["paste-buffer", "-p", "-r", "-d", "-b", &buffer, "-t", pane.id];
        if let Err(failed) = self.server.run(&paste).await? {
            let _ = self.server.run(&["delete-buffer", "-b", &buffer]).await;
            return Err(failure(&paste, &failed));
        }
        Ok(())
    }

    /// Waits for the paste to show, then sends Enter and watches the screen for the agent's
    /// reaction, re-sending Enter (only Enter) a bounded number of times.
    async fn submit(&self, pane: Pane<'_>, before_paste: &PaneView) -> Result<()> {
        if self
            .wait_changed(pane, &before_paste.screen_hash, self.config.paste_visible_timeout_ms)
            .await?
            .is_none()
        {
            tracing::warn!(pane = pane.id, "the paste did not show on screen; submitting anyway");
        }
        let mut view = self.wait_settled(pane, false, self.config.paste_visible_timeout_ms).await?;
        for attempt in 1..=self.config.enter_attempts_max.max(1) {
            self.leave_modes(pane, &view).await?;
            self.server.run_ok(&["send-keys", "-t", pane.id, "Enter"]).await?;
            if self
                .wait_changed(pane, &view.screen_hash, self.config.submit_verify_timeout_ms)
                .await?
                .is_some()
            {
                return Ok(());
            }
            tracing::warn!(pane = pane.id, attempt, "the agent did not react to Enter");
            view = self.observe(pane).await?;
        }
        Err(Error::new(
            Code::PromptSendExhausted,
            format!(
                "prompt pasted into {pane} but the agent did not react to {} Enter key presses",
                self.config.enter_attempts_max.max(1)
            ),
        )
        .with_hint(format!("look at the pane: tmux -S {} attach", self.server.socket().display())))
    }

    /// Polls until the screen has not changed for `ready_settle_ms` (and, with `need_text`, is
    /// not blank), or the pane is dead. After `timeout_ms` it returns the last look anyway.
    async fn wait_settled(
        &self,
        pane: Pane<'_>,
        need_text: bool,
        timeout_ms: u64,
    ) -> Result<PaneView> {
        let start = Instant::now();
        loop {
            let view = self.observe(pane).await?;
            let quiet_ms = now_ms() - view.changed_at_ms;
            let settled =
                quiet_ms >= self.config.ready_settle_ms as i64 && !(need_text && view.blank);
            if view.dead || settled {
                return Ok(view);
            }
            if start.elapsed() >= Duration::from_millis(timeout_ms) {
                tracing::warn!(pane = pane.id, timeout_ms, "the pane did not settle; going on");
                return Ok(view);
            }
            self.pause().await;
        }
    }

    /// Polls until the screen differs from `hash` (or the pane died): the new look, or `None`
    /// after `timeout_ms`.
    async fn wait_changed(
        &self,
        pane: Pane<'_>,
        hash: &str,
        timeout_ms: u64,
    ) -> Result<Option<PaneView>> {
        let start = Instant::now();
        loop {
            let view = self.observe(pane).await?;
            if view.dead || view.screen_hash != hash {
                return Ok(Some(view));
            }
            if start.elapsed() >= Duration::from_millis(timeout_ms) {
                return Ok(None);
            }
            self.pause().await;
        }
    }

    async fn pause(&self) {
        tokio::time::sleep(Duration::from_millis(self.config.poll_ms)).await;
    }
}
