//! The policy's decisions, site by site.

use std::sync::atomic::{AtomicU32, Ordering};

use devflow_core::{Code, Error, Result};
use serde_json::json;

use super::*;

fn error(code: Code) -> Error {
    Error::new(code, "boom")
}

fn decided(site: Site, code: Code) -> Disposition {
    decide(site, &error(code), 0, &RetryPolicy::default())
}

const SITES: [Site; 10] = [
    Site::StaleArtifact,
    Site::SessionStart,
    Site::SessionResume,
    Site::PromptSend { repair: false },
    Site::ArtifactWait { repair: false },
    Site::ArtifactWait { repair: true },
    Site::TimeoutRecovery,
    Site::Flow,
    Site::HumanGateStep,
    Site::DriverStep,
];

#[test]
fn run_state_changes_cancellation_and_a_lost_database_always_propagate() {
    for site in SITES {
        for code in [
            Code::RunStateChanged,
            Code::ActivityCancelled,
            Code::DatabaseUnavailable,
            Code::DatabaseFailed,
            Code::InternalStateCorruption,
            Code::LeaseLost,
        ] {
            assert!(matches!(decided(site, code), Disposition::Propagate), "{site:?} {code}");
        }
    }
}

#[test]
fn a_busy_database_takes_the_leaf_again_within_the_budget_then_propagates() {
    let budget = RetryPolicy { attempts_max: 3, ..RetryPolicy::default() };
    for site in SITES {
        let busy = error(Code::DatabaseBusy);
        assert!(matches!(decide(site, &busy, 0, &budget), Disposition::Retry { .. }), "{site:?}");
        assert!(matches!(decide(site, &busy, 1, &budget), Disposition::Retry { .. }), "{site:?}");
        assert!(matches!(decide(site, &busy, 2, &budget), Disposition::Propagate), "{site:?}");
    }
}

#[test]
fn an_exhausted_recoverable_send_becomes_a_prompt_send_gate() {
    let Disposition::Gate(gate) =
        decided(Site::PromptSend { repair: true }, Code::SessionUnavailable)
    else {
        panic!("expected a gate");
    };
    assert_eq!(
        (gate.reason, gate.error.code(), gate.mark_crashed, gate.with_path),
        ("prompt_send_failed", Code::PromptSendExhausted, true, true)
    );
    assert_eq!(gate.error.recovery_hint(), Some("boom"));
    assert_eq!(gate.payload, json!({ "errorCode": "session_unavailable" }));
}

#[test]
fn a_recovery_failure_gate_is_artifact_timeout_exhausted() {
    let Disposition::Gate(gate) = decided(Site::TimeoutRecovery, Code::SessionUnavailable) else {
        panic!("expected a gate");
    };
    assert_eq!(gate.error.code(), Code::ArtifactTimeoutExhausted);
}

#[test]
fn fatal_errors_fail_the_run_and_human_errors_keep_their_code() {
    assert!(matches!(
        decided(Site::PromptSend { repair: false }, Code::SessionBackendFailed),
        Disposition::FailRun { reason: "prompt_send_failed" }
    ));
    assert!(matches!(
        decided(Site::ArtifactWait { repair: false }, Code::SessionUnavailable),
        Disposition::FailRun { reason: "artifact_validation_failed" }
    ));
    let Disposition::Gate(gate) = decided(Site::SessionResume, Code::SessionNotFound) else {
        panic!("expected a gate");
    };
    assert_eq!(gate.error.code(), Code::SessionNotFound);
    let Disposition::Gate(gate) =
        decided(Site::PromptSend { repair: false }, Code::AgentNeedsInput)
    else {
        panic!("expected a gate");
    };
    assert_eq!(gate.error.code(), Code::AgentNeedsInput, "a dialog is its own gate");
}

#[test]
fn only_sends_resumes_and_restarts_retry_their_call() {
    let budget = RetryPolicy { attempts_max: 4, ..RetryPolicy::default() };
    let calls: Vec<(Site, u32)> =
        SITES.into_iter().map(|site| (site, rule(site, &budget).calls_max)).collect();
    let retried: Vec<Site> =
        calls.iter().filter(|(_, calls_max)| *calls_max > 1).map(|(site, _)| *site).collect();
    assert_eq!(
        retried,
        [Site::SessionResume, Site::PromptSend { repair: false }, Site::TimeoutRecovery]
    );
    assert!(calls.iter().all(|(_, calls_max)| [1, 4].contains(calls_max)), "{calls:?}");
    assert!(SITES.into_iter().all(|site| rule(site, &budget).busy_takes_max == 4));
    let none = RetryPolicy { attempts_max: 0, ..RetryPolicy::default() };
    assert!(SITES.into_iter().all(|site| rule(site, &none).calls_max == 1), "0 is one call");
}

fn quick(attempts_max: u32) -> RetryPolicy {
    RetryPolicy { attempts_max, backoff_initial_ms: 1, backoff_max_ms: 2, jitter: 0.5 }
}

/// `retrying` over a call that fails with `code` for its first `failures` calls, then
/// succeeds: the outcome and how many calls were made.
async fn retried(
    site: Site,
    budget: &RetryPolicy,
    code: Code,
    failures: u32,
) -> (Result<u32>, u32) {
    let calls = AtomicU32::new(0);
    let outcome = retrying(site, budget, || {
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
    (outcome, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_retried_site_absorbs_recoverable_failures_within_its_budget() {
    let send = Site::PromptSend { repair: false };
    let (outcome, calls) = retried(send, &quick(3), Code::SessionUnavailable, 2).await;
    assert_eq!((outcome.unwrap(), calls), (3, 3));
}

#[tokio::test]
async fn a_retried_site_gives_up_after_its_budget_with_the_last_error() {
    let (outcome, calls) =
        retried(Site::TimeoutRecovery, &quick(3), Code::SessionUnavailable, 10).await;
    let error = outcome.unwrap_err();
    assert_eq!((error.code(), error.message(), calls), (Code::SessionUnavailable, "failure 3", 3));
}

#[tokio::test]
async fn fatal_and_human_required_errors_are_never_retried() {
    for code in [Code::SessionBackendFailed, Code::TmuxMissing, Code::SessionNotFound] {
        let (outcome, calls) = retried(Site::SessionResume, &quick(5), code, 10).await;
        assert_eq!((outcome.unwrap_err().code(), calls), (code, 1), "{code} was retried");
    }
}

#[tokio::test]
async fn a_site_that_does_not_retry_and_a_budget_of_zero_call_once() {
    let (outcome, calls) =
        retried(Site::SessionStart, &quick(5), Code::SessionUnavailable, 1).await;
    assert_eq!((outcome.unwrap_err().code(), calls), (Code::SessionUnavailable, 1));
    let send = Site::PromptSend { repair: true };
    let (outcome, calls) = retried(send, &quick(0), Code::SessionUnavailable, 0).await;
    assert_eq!((outcome.unwrap(), calls), (1, 1));
}

#[test]
fn backoff_doubles_caps_and_jitters_within_bounds() {
    let budget = RetryPolicy::default();
    assert_eq!(budget.backoff_ms(1, 0.0), 50);
    assert_eq!(budget.backoff_ms(2, 0.0), 100);
    assert_eq!(budget.backoff_ms(6, 0.0), 1_000);
    assert_eq!(budget.backoff_ms(60, 0.0), 1_000);
    assert_eq!(budget.backoff_ms(1, 1.0), 60);
    assert_eq!(budget.backoff_ms(1, -1.0), 40);
}

#[test]
fn the_gate_steps_own_failure_is_the_policys_to_decide() {
    let budget = RetryPolicy { attempts_max: 3, ..RetryPolicy::default() };
    let decided = |code, retries| decide(Site::HumanGateStep, &error(code), retries, &budget);
    // (code, retries so far, what follows)
    let table: &[(Code, u32, &str)] = &[
        (Code::DatabaseBusy, 0, "retry"),
        (Code::DatabaseBusy, 1, "retry"),
        (Code::DatabaseBusy, 2, "propagate"),
        (Code::LeaseLost, 0, "propagate"),
        (Code::DatabaseUnavailable, 0, "propagate"),
        (Code::DatabaseFailed, 0, "propagate"),
        (Code::InternalStateCorruption, 0, "propagate"),
        (Code::RunStateChanged, 0, "propagate"),
        (Code::ActivityCancelled, 0, "propagate"),
        (Code::SessionUnavailable, 0, "fail"),
        (Code::SessionNotFound, 0, "fail"),
        (Code::SessionBackendFailed, 0, "fail"),
    ];
    for &(code, retries, expected) in table {
        let got = match decided(code, retries) {
            Disposition::Retry { .. } => "retry",
            Disposition::Propagate => "propagate",
            Disposition::FailRun { reason: "approval_request_failed" } => "fail",
            other => panic!("{code}: {other:?}"),
        };
        assert_eq!(got, expected, "{code} after {retries} retries");
    }
}

#[tokio::test]
async fn a_drivers_step_is_taken_again_only_while_the_database_is_busy() {
    for (code, failures, expected_calls, passes) in [
        (Code::DatabaseBusy, 2, 3, true),
        (Code::DatabaseBusy, 10, 3, false),
        (Code::LeaseLost, 10, 1, false),
        (Code::SessionUnavailable, 10, 1, false),
        (Code::InvalidInput, 10, 1, false),
    ] {
        let calls = AtomicU32::new(0);
        let outcome = busy_retried(&quick(3), || {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move { if call <= failures { Err(error(code)) } else { Ok(call) } }
        })
        .await;
        let calls = calls.load(Ordering::SeqCst);
        assert_eq!((outcome.is_ok(), calls), (passes, expected_calls), "{code} x{failures}");
    }
}
