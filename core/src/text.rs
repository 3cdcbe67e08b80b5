//! Text that devflow hands to a terminal: nothing in it may act as a control sequence.
//!
//! Prompts are pasted into an agent's terminal, and ids, notes and messages are printed to a
//! person's. Text from a workflow, a reviewer's note or an agent's own artifact could carry the
//! end-of-paste sequence `ESC [ 2 0 1 ~` and turn the rest of a paste into keystrokes, or
//! recolour and rewrite a person's screen. [`neutralize`] keeps newline and tab and shows every
//! other control character as its visible Unicode picture, so the text still says what was
//! there but no terminal acts on it.

use std::borrow::Cow;

/// `text` with every control character except `\n` and `\t` replaced by a visible stand-in:
/// C0 controls by their Unicode control pictures (`ESC` becomes `␛`), DEL by `␡`, C1 controls
/// (U+0080–U+009F, which some terminals also obey) by `�`. A `\r\n` pair becomes `\n`.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hostile) {
        return Cow::Borrowed(text);
    }
    let text = text.replace("\r\n", "\n");
    Cow::Owned(text.chars().map(|c| if is_hostile(c) { stand_in(c) } else { c }).collect())
}

/// [`neutralize`], and newlines and tabs shown as `␊` and `␉` too: for a value printed inside one
/// line (an id, a name).
pub fn neutralize_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if c.is_control() { stand_in(c) } else { c }).collect())
}

/// Whether `text` holds any control character other than `\n` and `\t`.
pub fn has_controls(text: &str) -> bool {
    text.chars().any(is_hostile)
}

fn is_hostile(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

fn stand_in(c: char) -> char {
    match c as u32 {
        code @ 0x00..=0x1f => char::from_u32(0x2400 + code).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ => '\u{fffd}',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_newlines_and_tabs_pass_unchanged() {
        let text = "Plan it.\n\tStep one — ünïcode ✓";
        assert!(matches!(neutralize(text), Cow::Borrowed(_)));
        assert_eq!(neutralize(text), text);
    }

    #[test]
    fn the_end_of_paste_sequence_and_every_other_control_is_defused() {
        let hostile = "a\x1b[201~\rrm -rf /\r\n\x07\x08\x7f\u{9b}201~";
        let safe = neutralize(hostile);
        assert_eq!(safe, "a\u{241b}[201~\u{240d}rm -rf /\n\u{2407}\u{2408}\u{2421}\u{fffd}201~");
        assert!(!has_controls(&safe), "{safe:?}");
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let out = neutralize(&c.to_string()).into_owned();
            assert!(out == "\n" || out == "\t" || !out.chars().any(char::is_control), "{c:?}");
        }
    }

    #[test]
    fn a_line_value_shows_its_newlines_and_tabs_too() {
        assert_eq!(neutralize_line("run\n1\t\x1b[31m"), "run\u{240a}1\u{2409}\u{241b}[31m");
        assert!(matches!(neutralize_line("run-1"), Cow::Borrowed(_)));
    }
}
