//! Asking the terminal where a prompt got to, after devflow was killed between marking the
//! session `BUSY` and recording the prompt as sent — and submitting one that waits in the input.
//!
//! The pane's `@devflow_prompt` mark ([`super::mark`]) says which step delivery had begun; the
//! screen and the history say what came of it:
//!
//! | mark for this prompt | the pane shows | location |
//! | --- | --- | --- |
//! | none (or another prompt's) | — | `Absent`: the paste never started |
//! | `taken` | — | `Taken` |
//! | `enter` | the working pattern in the input zone | `Taken` |
//! | `paste` or `enter` | the paste in the input (its placeholder, or its text while the box is not empty) | `Pending` |
//! | `enter` | the marker in the history above the input | `Taken` |
//! | `paste` | no output at all since the mark | `Absent`: the paste never reached the agent |
//! | anything else | | `Unknown`, with what was seen |

use devflow_core::{Code, Error, PromptEnvelope, Result};

use super::TmuxAdapter;
use super::launch::Launch;
use super::mark::Step;
use super::pane::Pane;
use super::screen::{Screen, Signs};
use crate::{PromptLocation, PromptReceipt};

impl TmuxAdapter {
    pub(super) async fn locate(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        envelope: &PromptEnvelope,
    ) -> Result<PromptLocation> {
        let signs = Signs::of(envelope);
        let view = self.observe(pane).await?;
        let Some(mark) = view.mark.clone().filter(|mark| mark.is_for(&signs.marker)) else {
            return Ok(PromptLocation::Absent);
        };
        if mark.step == Step::Taken {
            return Ok(PromptLocation::Taken);
        }
        let screen = Screen::new(&view.lines, launch.preset().matcher());
        if mark.step == Step::Enter && screen.working() {
            return Ok(PromptLocation::Taken);
        }
        if screen.paste_in_input(&signs) && !view.dead {
            return Ok(PromptLocation::Pending);
        }
        let zone_lines = launch.preset().input_lines;
        let in_history = self.history_mentions(pane, &signs.marker, zone_lines).await?;
        let output_since = view.tap.state().map(|tap| tap.bytes.saturating_sub(mark.tap_bytes));
        match (mark.step, in_history, output_since) {
            (Step::Enter, true, _) => Ok(PromptLocation::Taken),
            (Step::Paste, false, Some(0)) => Ok(PromptLocation::Absent),
            _ => Ok(PromptLocation::Unknown(unknown_note(
                mark.step,
                in_history,
                output_since,
                view.dead,
                &screen,
            ))),
        }
    }

    /// Enter for a prompt that waits in the input (as [`TmuxAdapter::locate`] found it).
    pub(super) async fn submit_waiting(
        &self,
        pane: Pane<'_>,
        launch: &Launch,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt> {
        let signs = Signs::of(envelope);
        let view = self.observe(pane).await?;
        let ours = view.mark.as_ref().is_some_and(|mark| mark.is_for(&signs.marker));
        let screen = Screen::new(&view.lines, launch.preset().matcher());
        if !ours || view.dead || !screen.paste_in_input(&signs) {
            return Err(Error::new(
                Code::PromptDeliveryUnverified,
                format!(
                    "the prompt {} is not waiting in the input of pane {pane}; nothing was sent",
                    signs.marker
                ),
            )
            .with_hint(format!("look at the pane: {}", self.attach_command())));
        }
        if let Err(error) = self.submit(pane, launch, &signs, view).await {
            return Err(self.unverified(pane, launch, error).await);
        }
        self.after_taken(pane, &signs.marker).await;
        Ok(PromptReceipt::new(envelope.dedup_key.clone()))
    }

    /// Whether the pane's history or screen holds the marker line above the input zone (its
    /// last `zone_lines` non-blank lines).
    async fn history_mentions(
        &self,
        pane: Pane<'_>,
        marker: &str,
        zone_lines: usize,
    ) -> Result<bool> {
        let args = ["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", pane.id];
        let text = self.server.run_ok(&args).await?;
        let lines: Vec<&str> = text.lines().collect();
        let mut zone_start = lines.len();
        let mut seen = 0;
        while zone_start > 0 && seen < zone_lines.max(1) {
            zone_start -= 1;
            if !lines[zone_start].trim().is_empty() {
                seen += 1;
            }
        }
        Ok(lines[..zone_start].iter().any(|line| line.contains(marker)))
    }
}

/// What a person reads when the terminal cannot tell where the prompt is.
fn unknown_note(
    step: Step,
    in_history: bool,
    output_since: Option<u64>,
    dead: bool,
    screen: &Screen<'_>,
) -> String {
    let step = if step == Step::Paste { "paste" } else { "Enter" };
    let history = if in_history {
        "its marker is in the pane's history although Enter was never pressed"
    } else {
        "its marker is not in the pane's history"
    };
    let output = match output_since {
        Some(bytes) => format!("the agent printed {bytes} bytes since"),
        None => "how much the agent printed since is not known".to_owned(),
    };
    let exited = if dead { "; the agent has exited" } else { "" };
    format!(
        "devflow had begun the {step} step of this prompt; the paste is not in the input, {history}, {output}{exited}; the screen ends with `{}`",
        devflow_core::text::neutralize_line(screen.last_line())
    )
}
