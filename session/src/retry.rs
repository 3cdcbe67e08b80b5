//! Bounded retries of recoverable errors, with exponential backoff and jitter.

use std::future::Future;
use std::time::Duration;

use devflow_core::{Class, Result};
use rand::Rng;

/// How often and how patiently a recoverable failure is retried.
///
/// Defaults: 3 attempts in all (the first call and 2 retries), waits of 50 ms doubling up to
/// 1,000 ms, each wait varied by ±20 % so that parallel sessions do not retry in lockstep.
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

/// Runs `f` until it succeeds, fails with an error that is not recoverable, or the budget is
/// spent. Fatal and human_required errors return at once; after the budget the last
/// (recoverable) error is returned unchanged, and the caller's policy turns it into a gate.
pub async fn retry_recoverable<T, F, Fut>(op: &str, policy: &RetryPolicy, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts_max = policy.attempts_max.max(1);
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(value) => return Ok(value),
            Err(error) if error.class() != Class::Recoverable || attempt >= attempts_max => {
                return Err(error);
            }
            Err(error) => {
                let unit = rand::rng().random_range(-1.0..=1.0);
                let wait_ms = policy.backoff_ms(attempt, unit);
                tracing::warn!(op, attempt, attempts_max, wait_ms, %error, "retrying");
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use devflow_core::{Code, Error};

    use super::*;

    fn quick(attempts_max: u32) -> RetryPolicy {
        RetryPolicy { attempts_max, backoff_initial_ms: 1, backoff_max_ms: 2, jitter: 0.5 }
    }

    /// Fails with `code` for the first `failures` calls, then succeeds; returns the result and
    /// how many calls were made.
    async fn run(policy: &RetryPolicy, code: Code, failures: u32) -> (Result<u32>, u32) {
        let calls = AtomicU32::new(0);
        let result = retry_recoverable("test", policy, || {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if call <= failures {
                    Err(Error::new(code, format!("failure {call}")))
                } else {
                    Ok(call)
                }
            }
        })
        .await;
        (result, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn retries_recoverable_errors_until_success() {
        let (result, calls) = run(&quick(3), Code::SessionUnavailable, 2).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_budget_with_the_last_error() {
        let (result, calls) = run(&quick(3), Code::SessionUnavailable, 10).await;
        let error = result.unwrap_err();
        assert_eq!(calls, 3);
        assert!(error.is(Code::SessionUnavailable));
        assert_eq!(error.message(), "failure 3");
    }

    #[tokio::test]
    async fn never_retries_fatal_or_human_required_errors() {
        for code in [Code::SessionBackendFailed, Code::TmuxMissing, Code::SessionNotFound] {
            let (result, calls) = run(&quick(5), code, 10).await;
            assert!(result.unwrap_err().is(code));
            assert_eq!(calls, 1, "{code} was retried");
        }
    }

    #[tokio::test]
    async fn zero_attempts_still_calls_once() {
        let (result, calls) = run(&quick(0), Code::SessionUnavailable, 0).await;
        assert_eq!(result.unwrap(), 1);
        assert_eq!(calls, 1);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_within_bounds() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff_ms(1, 0.0), 50);
        assert_eq!(policy.backoff_ms(2, 0.0), 100);
        assert_eq!(policy.backoff_ms(6, 0.0), 1_000);
        assert_eq!(policy.backoff_ms(60, 0.0), 1_000);
        assert_eq!(policy.backoff_ms(1, 1.0), 60);
        assert_eq!(policy.backoff_ms(1, -1.0), 40);
    }
}
