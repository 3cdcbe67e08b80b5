//! The pane transcript: settled lines of the whole history, numbered, stripped and bounded.
//!
//! A line's seq is `@devflow_seq_base` + its index in the joined (`-J`) capture + 1, so a capture
//! needs no memory of earlier ones: what the caller has is everything up to `from_seq`. A line is
//! settled once the cursor has left it (a live agent may still redraw the cursor line and the
//! rows below); in a dead pane every line is settled. Rebootstrap clears the history and moves
//! the base past every seq handed out before.

use devflow_core::Result;

use super::TmuxAdapter;
use super::pane::{Pane, not_found};
use crate::{Capture, TranscriptChunk, strip_ansi};

/// Pane option holding the seq base of the pane's current history.
pub(super) const SEQ_BASE_OPTION: &str = "@devflow_seq_base";

/// The most text one chunk holds; a capture is cut into chunks of about this size.
const CHUNK_BYTES_MAX: usize = 16 * 1024;

const FORMAT: &str = "#{pane_id} #{pane_dead} #{history_size} #{cursor_y} #{pane_height} #{@devflow_seq_base} #{@devflow_session_id}";

/// How a capture looked: what is needed to tell settled lines from the rest.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub dead: bool,
    pub cursor_y: usize,
    pub pane_height: usize,
}

/// How many leading `lines` (history then screen, joined) are settled.
pub(super) fn settled_count(lines: &[&str], layout: Layout) -> usize {
    if layout.dead {
        return lines.iter().rposition(|line| !line.trim().is_empty()).map_or(0, |last| last + 1);
    }
    let below_cursor = layout.pane_height.saturating_sub(layout.cursor_y + 1);
    lines.len().saturating_sub(below_cursor + 1)
}

/// Settled lines after `from_seq` as chunks, within `bytes_max`; `first_seq` is the seq of
/// `lines[0]`.
pub(super) fn chunks(
    lines: &[&str],
    first_seq: i64,
    from_seq: i64,
    bytes_max: usize,
) -> Vec<TranscriptChunk> {
    let skip = usize::try_from(from_seq.saturating_sub(first_seq).saturating_add(1)).unwrap_or(0);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut last_seq = 0;
    let mut total = 0;
    for (index, line) in lines.iter().enumerate().skip(skip) {
        let text = strip_ansi(line);
        let text = text.trim_end();
        total += text.len() + 1;
        if total > bytes_max {
            break;
        }
        current.push_str(text);
        current.push('\n');
        last_seq = first_seq + index as i64;
        if current.len() >= CHUNK_BYTES_MAX {
            out.push(TranscriptChunk { seq: last_seq, text: std::mem::take(&mut current) });
        }
    }
    if !current.is_empty() {
        out.push(TranscriptChunk { seq: last_seq, text: current });
    }
    out
}

impl TmuxAdapter {
    pub(super) async fn capture_pane(&self, pane: Pane<'_>, from_seq: i64) -> Result<Capture> {
        let id = pane.id;
        let display = ["display-message", "-p", "-t", id, FORMAT, ";"];
        let capture = ["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", id];
        let args: Vec<&str> = display.into_iter().chain(capture).collect();
        let output = self.server.run_ok(&args).await?;
        let (first, text) = output.split_once('\n').unwrap_or((output.as_str(), ""));
        let fields: Vec<&str> = first.split(' ').collect();
        if fields.len() < 7 || fields[0] != id || fields[6] != pane.session_id {
            return Err(not_found(id));
        }
        let layout = Layout {
            dead: fields[1] == "1",
            cursor_y: fields[3].parse().unwrap_or(0),
            pane_height: fields[4].parse().unwrap_or(0),
        };
        let base: i64 = fields[5].parse().unwrap_or(0);
        let lines: Vec<&str> = text.lines().collect();
        let settled = &lines[..settled_count(&lines, layout)];
        Ok(Capture { chunks: chunks(settled, base + 1, from_seq, self.config.capture_bytes_max) })
    }

    /// A seq base past every seq the pane's current history can have handed out.
    pub(super) async fn next_seq_base(&self, pane: &str) -> Result<i64> {
        let format = "#{pane_id} #{history_size} #{pane_height} #{@devflow_seq_base}";
        let line = self.server.run_ok(&["display-message", "-p", "-t", pane, format]).await?;
        let fields: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
        if fields.first() != Some(&pane) || fields.len() < 4 {
            return Err(not_found(pane));
        }
        let number = |text: &str| text.parse::<i64>().unwrap_or(0);
        Ok(number(fields[3]) + number(fields[1]) + number(fields[2]) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: Layout = Layout { dead: false, cursor_y: 1, pane_height: 4 };

    #[test]
    fn the_cursor_line_and_below_are_not_settled_until_the_pane_is_dead() {
        let lines = ["history", "out 1", "agent-sim> typing", "", ""];
        assert_eq!(settled_count(&lines, LIVE), 2);
        let dead = Layout { dead: true, ..LIVE };
        assert_eq!(settled_count(&["a", "Pane is dead", "", ""], dead), 2);
        assert_eq!(settled_count(&["", ""], dead), 0);
    }

    #[test]
    fn chunks_start_after_from_seq_and_are_stripped() {
        let lines = ["one", "\x1b[1mtwo\x1b[0m   ", "three"];
        let all = chunks(&lines, 11, 0, 1 << 20);
        assert_eq!(all, [TranscriptChunk { seq: 13, text: "one\ntwo\nthree\n".into() }]);
        let later = chunks(&lines, 11, 12, 1 << 20);
        assert_eq!(later, [TranscriptChunk { seq: 13, text: "three\n".into() }]);
        assert!(chunks(&lines, 11, 13, 1 << 20).is_empty());
    }

    #[test]
    fn big_captures_are_split_and_bounded() {
        let line = "x".repeat(1_000);
        let lines: Vec<&str> = std::iter::repeat_n(line.as_str(), 100).collect();
        let all = chunks(&lines, 1, 0, 1 << 20);
        assert!(all.len() >= 6);
        assert!(all.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        assert_eq!(all.last().unwrap().seq, 100);
        assert_eq!(all.iter().map(|c| c.text.len()).sum::<usize>(), 100 * 1_001);

        let bounded = chunks(&lines, 1, 0, 10_500);
        assert_eq!(bounded.iter().map(|c| c.text.len()).sum::<usize>(), 10 * 1_001);
        assert_eq!(bounded.last().unwrap().seq, 10);
        let rest = chunks(&lines, 1, 10, 10_500);
        assert_eq!(rest.first().unwrap().text.lines().count(), 10);
        assert_eq!(rest.last().unwrap().seq, 20);
    }
}
