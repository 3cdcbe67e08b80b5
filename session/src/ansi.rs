//! Stripping ANSI/VT control sequences and stray control characters from terminal text.

/// `text` without escape sequences (CSI, OSC, DCS/SOS/PM/APC strings, two- and three-byte
/// escapes, C1 controls) and without control characters other than `\n` and `\t`. A `\r`
/// before `\n` is dropped; a lone `\r` becomes `\n`, which is how it displayed.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => skip_escape(&mut chars),
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_escape(chars: &mut Chars<'_>) {
    match chars.next() {
        Some('[') => skip_csi(chars),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_string(chars),
        // Charset designations and the like: ESC, one intermediate, one final byte.
        Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%' | ' ') => {
            chars.next();
        }
        // Any other two-byte escape (ESC 7, ESC =, ESC M, …), or a lone ESC at the end.
        _ => {}
    }
}

/// Parameters and intermediates (0x20–0x3F), up to and including the final byte (0x40–0x7E).
fn skip_csi(chars: &mut Chars<'_>) {
    for c in chars.by_ref() {
        if ('\x40'..='\x7e').contains(&c) {
            return;
        }
        if !('\x20'..='\x3f').contains(&c) {
            // Not a CSI byte at all: the sequence was cut; drop what was read.
            return;
        }
    }
}

/// A control string ends with BEL or ST (`ESC \` or 0x9C).
fn skip_string(chars: &mut Chars<'_>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_ansi;

    #[test]
    fn strips_colors_cursor_moves_and_modes() {
        let text = "\x1b[1;32mgreen\x1b[0m \x1b[2K\x1b[10;4Hmoved\x1b[?2004h\x1b[?25l done";
        assert_eq!(strip_ansi(text), "green moved done");
    }

    #[test]
    fn strips_osc_dcs_and_short_escapes() {
        let text = "a\x1b]0;title\x07b\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\c\x1bPq#0\x1b\\d\x1b(Be\x1b7f\x1b=g";
        assert_eq!(strip_ansi(text), "ablinkcdefg");
    }

    #[test]
    fn keeps_text_tabs_newlines_and_unicode_and_drops_other_controls() {
        let text = "naïve\tcafé ✓\r\nline\u{7}\u{8} two\rthree\u{9b}31mred";
        assert_eq!(strip_ansi(text), "naïve\tcafé ✓\nline two\nthreered");
    }

    #[test]
    fn a_cut_sequence_at_the_end_is_dropped() {
        assert_eq!(strip_ansi("ok\x1b[12"), "ok");
        assert_eq!(strip_ansi("ok\x1b"), "ok");
        assert_eq!(strip_ansi("ok\x1b]0;never ends"), "ok");
    }
}
