//! The runner's retry budget, which the policy's site table draws each site's own from
//! (`policy.rs`, `rule`).

/// The runner's retry budget, which the site table draws each site's from: how often and how
/// patiently a recoverable failure is retried.
///
/// Defaults: 3 calls in all (the first and 2 retries), waits of 50 ms doubling up to 1,000 ms,
/// each wait varied by ±20 % so that parallel runs do not retry in lockstep.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Calls in all, the first included; 0 is treated as 1.
    pub attempts_max: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Relative spread of each wait, 0.0 ..= 1.0.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy { attempts_max: 3, backoff_initial_ms: 50, backoff_max_ms: 1_000, jitter: 0.2 }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry), given a jitter draw
    /// `unit` in -1.0 ..= 1.0.
    pub fn backoff_ms(&self, retry: u32, unit: f64) -> u64 {
        let doublings = retry.saturating_sub(1).min(32);
        let base =
            self.backoff_initial_ms.saturating_mul(1u64 << doublings).min(self.backoff_max_ms);
        let spread = self.jitter.clamp(0.0, 1.0) * unit.clamp(-1.0, 1.0);
        // Rounding a product of a u64 and a factor in 0.0 ..= 2.0: the cast cannot overflow
        // for any wait a person would configure.
        (base as f64 * (1.0 + spread)).round() as u64
    }
}
