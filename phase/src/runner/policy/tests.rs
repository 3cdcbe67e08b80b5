//! The policy's decisions, site by site.

use devflow_core::{Code, Error};
use devflow_session::RetryPolicy;
use serde_json::json;

use super::*;

fn error(code: Code) -> Error {
    Error::new(code, "boom")
}

fn decided(site: Site, code: Code) -> Disposition {
    decide(site, &error(code), 0, &RetryPolicy::default())
}

const SITES: [Site; 8] = [
    Site::StaleArtifact,
    Site::SessionStart,
    Site::SessionResume,
    Site::PromptSend { repair: false },
    Site::ArtifactWait { repair: false },
    Site::ArtifactWait { repair: true },
    Site::TimeoutRecovery,
    Site::Flow,
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
