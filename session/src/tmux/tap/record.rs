//! The tap's state: what a pane's output stream has said so far, in a few bytes — bracketed
//! paste on or off, how many bytes, when the last came — and its fixed-width record on disk.

/// The bracketed-paste mode of a pane, read off its output stream across chunk boundaries:
/// the last `CSI ? … 2004 h` after the last `CSI ? … 2004 l` (a private-mode list such as
/// `CSI ? 1049 ; 2004 h` counts), and a full reset (`ESC c`) turns it off, as in tmux.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModeTracker {
    parse: Parse,
    params: Vec<u8>,
    pub paste_on: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Parse {
    #[default]
    Ground,
    Escape,
    Csi,
    Private,
}

/// Longest private-mode parameter list kept; a longer one is not a mode change devflow needs.
const PARAMS_BYTES_MAX: usize = 32;

impl ModeTracker {
    /// Feeds output bytes; returns whether the mode changed.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let before = self.paste_on;
        for &byte in bytes {
            self.step(byte);
        }
        before != self.paste_on
    }

    fn step(&mut self, byte: u8) {
        self.parse = match (self.parse, byte) {
            (_, 0x1b) => Parse::Escape,
            (Parse::Escape, b'[') => Parse::Csi,
            (Parse::Escape, b'c') => {
                self.paste_on = false;
                Parse::Ground
            }
            (Parse::Csi, b'?') => {
                self.params.clear();
                Parse::Private
            }
            (Parse::Private, b'0'..=b'9' | b';') if self.params.len() < PARAMS_BYTES_MAX => {
                self.params.push(byte);
                Parse::Private
            }
            (Parse::Private, b'h' | b'l') => {
                if self.params.split(|&b| b == b';').any(|param| param == b"2004") {
                    self.paste_on = byte == b'h';
                }
                Parse::Ground
            }
            _ => Parse::Ground,
        };
    }
}

/// What the tap last wrote about its pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapState {
    /// Bracketed paste is on: a paste arrives as one paste, not as typed lines.
    pub paste_on: bool,
    /// Output bytes seen since the tap started (with the pane's agent).
    pub bytes: u64,
    /// Epoch ms of the last output; the tap's start while there was none.
    pub last_output_ms: i64,
    /// Epoch ms of the last change of `paste_on` (the tap's start while there was none).
    pub mode_changed_ms: i64,
    pub started_ms: i64,
}

const MAGIC: &str = "devflow-tap 1";

/// Every record has this length, so an update overwrites the last one in place.
pub const RECORD_BYTES: usize = MAGIC.len() + 2 + 21 + 16 * 3 + 17 + 1;

impl TapState {
    pub fn new(now_ms: i64) -> TapState {
        TapState {
            paste_on: false,
            bytes: 0,
            last_output_ms: now_ms,
            mode_changed_ms: now_ms,
            started_ms: now_ms,
        }
    }

    /// The fixed-width line, ending in a checksum of what precedes it, so that a reader that
    /// catches the tap in the middle of a write sees a bad record instead of a wrong one.
    pub fn encode(&self) -> String {
        let body = format!(
            "{MAGIC} {} {:020} {:015} {:015} {:015}",
            u8::from(self.paste_on),
            self.bytes,
            self.last_output_ms.max(0),
            self.mode_changed_ms.max(0),
            self.started_ms.max(0),
        );
        let line = format!("{body} {:016x}\n", checksum(body.as_bytes()));
        debug_assert_eq!(line.len(), RECORD_BYTES);
        line
    }

    /// `None` for anything but a whole, intact record.
    pub fn decode(bytes: &[u8]) -> Option<TapState> {
        let text = std::str::from_utf8(bytes.get(..RECORD_BYTES)?).ok()?;
        let (body, sum) = text.strip_suffix('\n')?.rsplit_once(' ')?;
        if u64::from_str_radix(sum, 16).ok()? != checksum(body.as_bytes()) {
            return None;
        }
        let mut fields = body.strip_prefix(MAGIC)?.split_whitespace();
        let paste_on = match fields.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let mut number = || fields.next()?.parse::<i64>().ok();
        let bytes = u64::try_from(number()?).ok()?;
        Some(TapState {
            paste_on,
            bytes,
            last_output_ms: number()?,
            mode_changed_ms: number()?,
            started_ms: number()?,
        })
    }
}

/// FNV-1a, 64 bits: enough to tell a torn record from a whole one.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_after(chunks: &[&[u8]]) -> bool {
        let mut tracker = ModeTracker::default();
        for chunk in chunks {
            tracker.feed(chunk);
        }
        tracker.paste_on
    }

    #[test]
    fn the_last_2004_wins_even_split_across_reads() {
        assert!(mode_after(&[b"hello \x1b[?2004h"]));
        assert!(mode_after(&[b"\x1b[?20", b"04h"]));
        assert!(mode_after(&[b"\x1b", b"[", b"?", b"2004", b"h"]));
        assert!(!mode_after(&[b"\x1b[?2004h text \x1b[?2004l"]));
        assert!(mode_after(&[b"\x1b[?2004l", b"\x1b[?1049;2004h"]));
        assert!(!mode_after(&[b"\x1b[?2004h\x1bc"]), "a full reset turns it off");
        assert!(!mode_after(&[b"\x1b[?20041h \x1b[2004h \x1b[?1004h"]), "other modes");
        assert!(!mode_after(&[b"\x1b[?20\x1b[?2004l04h"]), "an interrupted sequence");
    }

    #[test]
    fn records_round_trip_and_torn_ones_are_refused() {
        let state = TapState {
            paste_on: true,
            bytes: 123_456,
            last_output_ms: 1_764_000_000_123,
            mode_changed_ms: 1_764_000_000_001,
            started_ms: 1_764_000_000_000,
        };
        let line = state.encode();
        assert_eq!(line.len(), RECORD_BYTES);
        assert_eq!(TapState::decode(line.as_bytes()), Some(state));
        assert_eq!(TapState::new(5).encode().len(), RECORD_BYTES);

        let mut torn = line.clone().into_bytes();
        torn[30] = if torn[30] == b'9' { b'8' } else { b'9' };
        assert_eq!(TapState::decode(&torn), None);
        assert_eq!(TapState::decode(&line.as_bytes()[..20]), None);
        assert_eq!(TapState::decode(b""), None);
    }
}
