//! The time, as an argument: every part of devflow that needs the wall clock is handed a
//! [`Clock`], so that tests can run the artifact wait and the lease on a clock of their own.
//!
//! [`SystemClock`] is the one place devflow reads the system's wall clock (`now_ms`); a lint
//! (`clippy.toml`) keeps `SystemTime::now` out of everywhere else. Intervals — how long to wait,
//! when a wait gives up — are tokio's `Instant`s, which tokio's paused test clock drives.

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// The system's wall clock in epoch milliseconds, for the few places that are handed no
/// [`Clock`] (a row's creation time written by the database layer).
#[allow(clippy::disallowed_methods)] // the one reading of the wall clock
pub fn now_ms() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system clock is after 1970");
    i64::try_from(elapsed.as_millis()).expect("epoch milliseconds fit in i64")
}
