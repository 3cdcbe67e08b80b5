//! The pane option `@devflow_prompt`: what delivery was about to do, written *before* it does
//! it, so that after a crash a new adapter can tell where a prompt got to
//! ([`super::TmuxAdapter::locate`]).
//!
//! Its value is `<step> <marker hex> <tap bytes>`: `paste` before the paste, `enter` together
//! with the Enter (one tmux command), `taken` once the agent showed it took the prompt; the
//! marker hex names the prompt (its `devflow-prompt` line), the byte count is what the pane's
//! tap had seen when the step began.

use crate::MARKER_PREFIX;

pub(super) const MARK_OPTION: &str = "@devflow_prompt";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Paste,
    Enter,
    Taken,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Paste => "paste",
            Step::Enter => "enter",
            Step::Taken => "taken",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PromptMark {
    pub step: Step,
    pub hex: String,
    pub tap_bytes: u64,
}

impl PromptMark {
    /// The mark for `marker` (a `devflow-prompt <hex>` line).
    pub fn new(step: Step, marker: &str, tap_bytes: u64) -> PromptMark {
        let hex = marker.strip_prefix(MARKER_PREFIX).unwrap_or(marker).to_owned();
        PromptMark { step, hex, tap_bytes }
    }

    pub fn parse(text: &str) -> Option<PromptMark> {
        let mut words = text.split_whitespace();
        let step = match words.next()? {
            "paste" => Step::Paste,
            "enter" => Step::Enter,
            "taken" => Step::Taken,
            _ => return None,
        };
        let hex = words.next()?.to_owned();
        let tap_bytes = words.next()?.parse().ok()?;
        Some(PromptMark { step, hex, tap_bytes })
    }

    pub fn value(&self) -> String {
        format!("{} {} {}", self.step.as_str(), self.hex, self.tap_bytes)
    }

    /// Whether this mark is about the prompt whose marker line is `marker`.
    pub fn is_for(&self, marker: &str) -> bool {
        marker.strip_prefix(MARKER_PREFIX) == Some(self.hex.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_name_their_prompt() {
        let mark = PromptMark::new(Step::Enter, "devflow-prompt 0123456789abcdef", 42);
        assert_eq!(mark.value(), "enter 0123456789abcdef 42");
        assert_eq!(PromptMark::parse(&mark.value()), Some(mark.clone()));
        assert!(mark.is_for("devflow-prompt 0123456789abcdef"));
        assert!(!mark.is_for("devflow-prompt 0123456789abcde0"));
        assert_eq!(PromptMark::parse(""), None);
        assert_eq!(PromptMark::parse("pasted x 1"), None);
    }
}
