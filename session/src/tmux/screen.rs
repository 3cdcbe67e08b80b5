//! Reading a pane's screen with its preset: the input box, a dialog, the paste, work going on.
//! Pure functions of the screen's lines, so they are tested without tmux.
//!
//! The *input zone* is the screen's last `input_lines` non-blank lines (the preset's): where
//! the input box is drawn, with what a CLI draws below it. The input-ready pattern, a pasted
//! placeholder and the working pattern are looked for there, so that the same text higher up
//! — in the agent's history — does not count.

use devflow_core::PromptEnvelope;

use crate::preset::{self, Dialog, Matcher};
use crate::{prompt_marker, render_prompt};

/// What shows a prompt's paste on a screen: its marker line (its first) and its last line.
#[derive(Debug, Clone)]
pub(super) struct Signs {
    pub marker: String,
    pub last_line: String,
}

impl Signs {
    pub fn of(envelope: &PromptEnvelope) -> Signs {
        let text = render_prompt(envelope);
        let last = text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default();
        Signs {
            marker: prompt_marker(envelope),
            last_line: devflow_core::text::neutralize(last.trim()).into_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Screen<'a> {
    lines: &'a [String],
    matcher: &'static Matcher,
}

impl<'a> Screen<'a> {
    pub fn new(lines: &'a [String], matcher: &'static Matcher) -> Screen<'a> {
        Screen { lines, matcher }
    }

    /// The last `input_lines` non-blank lines, top to bottom.
    pub fn zone(&self) -> Vec<&'a str> {
        let mut zone: Vec<&str> = self
            .lines
            .iter()
            .rev()
            .map(String::as_str)
            .filter(|line| !line.trim().is_empty())
            .take(self.matcher.preset.input_lines.max(1))
            .collect();
        zone.reverse();
        zone
    }

    /// The input box shows (always, for a preset that does not know it).
    pub fn input_ready(&self) -> bool {
        match &self.matcher.input_ready {
            None => true,
            Some(regex) => self.zone().iter().any(|line| regex.is_match(line)),
        }
    }

    /// A known dialog of the preset and the line that shows it. Looked for only where the
    /// input box is not showing, so that a dialog's words echoed in the agent's history do
    /// not count.
    pub fn dialog(&self) -> Option<(&'static Dialog, &'a str)> {
        if self.matcher.input_ready.is_some() && self.input_ready() {
            return None;
        }
        // The lowest match is the dialog now: questions asked and answered on the input line
        // (Aider's) stay on the screen above it.
        self.lines.iter().rev().find_map(|line| {
            let (dialog, _) =
                self.matcher.dialogs.iter().find(|(_, regex)| regex.is_match(line))?;
            Some((*dialog, line.trim()))
        })
    }

    /// A screen that asks something where the preset's input box should be: the line that
    /// shows it. Only for presets that know their input box.
    pub fn question(&self) -> Option<String> {
        if self.matcher.input_ready.is_none() || self.input_ready() {
            return None;
        }
        let lines: Vec<&str> = self.lines.iter().map(String::as_str).collect();
        preset::looks_like_question(&lines)
    }

    /// The preset's paste placeholder shows in the input zone.
    pub fn placeholder_in_input(&self) -> bool {
        let Some(regex) = &self.matcher.paste_placeholder else {
            return false;
        };
        self.zone().iter().any(|line| regex.is_match(line))
    }

    /// The paste sits in the input: its placeholder in the input zone, or its text there (its
    /// marker or last line) while the input box is not empty — once an agent took a prompt
    /// its empty input box is back, and the same lines are its history.
    pub fn paste_in_input(&self, signs: &Signs) -> bool {
        if self.placeholder_in_input() {
            return true;
        }
        let zone = self.zone();
        let text = zone.iter().any(|line| {
            line.contains(&signs.marker) || line.trim_end().ends_with(&signs.last_line)
        });
        text && (self.matcher.input_ready.is_none() || !self.input_ready())
    }

    /// How often the marker line shows anywhere on the screen.
    pub fn marker_count(&self, marker: &str) -> usize {
        self.lines.iter().filter(|line| line.contains(marker)).count()
    }

    /// The preset's working pattern shows in the input zone.
    pub fn working(&self) -> bool {
        let Some(regex) = &self.matcher.working else {
            return false;
        };
        self.zone().iter().any(|line| regex.is_match(line))
    }

    /// The last non-blank line, for a hint.
    pub fn last_line(&self) -> &'a str {
        self.lines.iter().rev().find(|line| !line.trim().is_empty()).map_or("", |l| l.trim())
    }
}

#[cfg(test)]
mod real;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn sim() -> &'static Matcher {
        preset::by_name("agent-sim").unwrap().matcher()
    }

    #[test]
    fn the_input_box_counts_only_at_the_bottom() {
        let ready = lines("agent-sim ready\nagent-sim> ");
        assert!(Screen::new(&ready, sim()).input_ready());
        let working = lines(
            "agent-sim> [pasted text: 3 lines, 40 bytes]\nreceived prompt: 3 lines\nworking… (1/3)",
        );
        let screen = Screen::new(&working, sim());
        assert!(!screen.input_ready() && screen.working());
        assert!(!screen.placeholder_in_input(), "the placeholder is history now");
        let generic = lines("anything at all");
        assert!(Screen::new(&generic, preset::GENERIC.matcher()).input_ready());
    }

    #[test]
    fn dialogs_known_and_unknown_are_found_where_the_input_box_is_not() {
        let trust = lines(
            "Do you trust the files in this folder?\n❯ 1. Yes, I trust this folder\n  2. No, exit",
        );
        let screen = Screen::new(&trust, sim());
        let (dialog, line) = screen.dialog().unwrap();
        assert_eq!((dialog.name, line), ("trust", "Do you trust the files in this folder?"));
        assert!(screen.question().is_some());

        let unknown = lines("Really delete everything? (y/n)");
        let screen = Screen::new(&unknown, sim());
        assert!(screen.dialog().is_none());
        assert_eq!(screen.question().as_deref(), Some("Really delete everything? (y/n)"));

        let echoed = lines("user: Do you trust the files in this folder?\nagent-sim> ");
        assert!(Screen::new(&echoed, sim()).dialog().is_none());
        assert!(Screen::new(&unknown, preset::GENERIC.matcher()).question().is_none());
    }

    fn signs() -> Signs {
        let marker = "devflow-prompt 0123456789abcdef".to_owned();
        Signs { marker, last_line: "Schema: plan.v1".to_owned() }
    }

    #[test]
    fn the_paste_is_seen_in_the_input_by_its_placeholder() {
        let signs = signs();
        let pasted = lines("agent-sim ready\nagent-sim> [pasted text: 9 lines, 300 bytes]");
        let screen = Screen::new(&pasted, sim());
        assert!(screen.paste_in_input(&signs) && !screen.input_ready());
        let taken = lines(&format!(
            "agent-sim> [pasted text: 9 lines]\nuser: {}\nwrote artifact\nagent-sim> ",
            signs.marker
        ));
        let screen = Screen::new(&taken, sim());
        assert!(!screen.paste_in_input(&signs) && screen.input_ready());
        assert_eq!(screen.marker_count(&signs.marker), 1);
        assert_eq!(screen.last_line(), "agent-sim>");
    }

    #[test]
    fn a_paste_shown_as_text_waits_until_the_empty_input_box_is_back() {
        let aider = preset::by_name("aider").unwrap().matcher();
        let signs = signs();
        let pasted = lines(&format!("> {}\n> Plan it.\n> Schema: plan.v1", signs.marker));
        assert!(Screen::new(&pasted, aider).paste_in_input(&signs));
        let taken =
            lines(&format!("> {}\n> Schema: plan.v1\nApplied edit to plan.json\n>", signs.marker));
        assert!(!Screen::new(&taken, aider).paste_in_input(&signs));
        let claude = preset::by_name("claude-code").unwrap().matcher();
        let boxed = lines("──────\n❯ [Pasted text #1 +8 lines]\n──────\n  paste again to expand");
        assert!(Screen::new(&boxed, claude).paste_in_input(&signs));
        let echoed = lines(&format!(
            "❯ {}\n  Schema: plan.v1\n──────\n❯ \n──────\n  ⏵⏵ bypass",
            signs.marker
        ));
        let screen = Screen::new(&echoed, claude);
        assert!(screen.input_ready() && !screen.paste_in_input(&signs));
    }
}
