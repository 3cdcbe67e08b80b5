//! Times as people read them: local wall-clock time, and how long ago ("3 min ago").
//! Stored times are epoch milliseconds; JSON keeps them so.

use chrono::{Local, LocalResult, TimeZone};

/// `2026-12-02 16:39:05` in the local time zone (`TZ`, else the system's).
pub fn local(epoch_ms: i64) -> String {
    match Local.timestamp_millis_opt(epoch_ms) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
            at.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        LocalResult::None => format!("{epoch_ms} ms"),
    }
}

/// How long before `now_ms` the time `epoch_ms` was: `just now`, `42 s ago`, `3 min ago`,
/// `2 h ago`, `5 days ago` (a time in the future, from another clock, reads `just now`).
pub fn age(now_ms: i64, epoch_ms: i64) -> String {
    let seconds = (now_ms - epoch_ms).max(0) / 1000;
    match seconds {
        0..5 => "just now".to_owned(),
        5..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        _ => match seconds / 86_400 {
            1 => "1 day ago".to_owned(),
            days => format!("{days} days ago"),
        },
    }
}

/// A length of time: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 07 min`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}
