//! A gate rejected with a note from the browser does what `devflow reject` does: the same
//! events, the note in the agent's next prompt, the gate asked again. The run's page shows each
//! artifact with its validation result (the first one invalid, with its problem).

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::Served;
use crate::support::{Phase, World, eventually};

const NOTE: &str = "add a third step";

/// One run to its gate (its plan repaired once), rejected with [`NOTE`] by `decide`, then back
/// at its gate: the world, and the run's events as [`comparable`] has them.
fn rejected(decide: impl FnOnce(&World)) -> (World, Vec<Value>) {
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "invalid") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "rj"]);
    assert_eq!(run.code, 3, "{run:?}");
    decide(&world);
    let status = world.status("rj");
    let gates: Vec<&str> =
        status["gates"].as_array().unwrap().iter().map(|g| g["state"].as_str().unwrap()).collect();
    assert_eq!(gates, ["rejected", "pending"], "{status}");
    let prompts = world.prompts();
    assert_eq!(prompts.len(), 4, "prompt, repair; the note's prompt, repair: {prompts:#?}");
    assert!(prompts[2].contains(NOTE), "the note goes to the agent: {}", prompts[2]);
    let events = comparable(&world, &world.events("rj"));
    (world, events)
}

/// What two runs' events must share: each event's type, phase and payload, with the run's
/// worktree written `WT`, and without what differs from run to run (ids, prompt hashes and
/// markers, keys that hold a phase's id).
fn comparable(world: &World, events: &[Value]) -> Vec<Value> {
    let worktree = world.worktree().display().to_string();
    let differs = ["dedupKey", "marker", "approvalIdempotencyKey"];
    events
        .iter()
        .map(|event| {
            let text = event["payload"].to_string().replace(&worktree, "WT");
            let mut payload: Value = serde_json::from_str(&text).unwrap();
            if let Some(fields) = payload.as_object_mut() {
                fields.retain(|name, _| !name.ends_with("Id") && !differs.contains(&name.as_str()));
            }
            json!({ "type": event["type"], "phase_key": event["phase_key"], "payload": payload })
        })
        .collect()
}

#[test]
fn a_gate_rejected_with_a_note_in_the_browser_is_rejected_as_devflow_reject_does() {
    let (_, by_cli) = rejected(|world| {
        let reject = world.devflow(&["reject", "rj", "--note", NOTE]);
        assert_eq!(reject.code, 3, "back at the gate: {reject:?}");
    });
    let (world, by_web) = rejected(|world| {
        let served = Served::start(world, &["--as", "tester"]);
        let cookie = served.cookie();
        let (status, page) = served.request("GET", "/runs/rj", &[("Cookie", &cookie)], "");
        assert_eq!(status, 200, "{page}");
        let csrf = super::between(&page, "name=\"csrf\" value=\"", "\"");
        let request = super::between(&page, "name=\"request\" value=\"", "\"");
        let form = format!(
            "csrf={csrf}&action=reject&gate=plan_review&request={request}&note=add+a+third+step"
        );
        let form_type = ("Content-Type", "application/x-www-form-urlencoded");
        let (status, answer) =
            served.request("POST", "/runs/rj/decide", &[form_type, ("Cookie", &cookie)], &form);
        assert_eq!(status, 303, "{answer}");
        eventually("the gate asked again", Duration::from_secs(60), || {
            let status = world.status("rj");
            status["gates"][1]["state"] == "pending" && status["lease_owner"].is_null()
        });
        artifacts_with_their_validation(&served, &cookie);
    });
    assert_eq!(by_web, by_cli, "the same events");
    let decided = by_web.iter().find(|event| event["type"] == "approval.decided").unwrap();
    assert_eq!(decided["payload"]["decision"], "rejected", "{decided}");
    assert_eq!(world.status("rj")["gates"][0]["note"], NOTE);
}

/// The page lists the invalid artifact with its problem, and the valid one after its repair.
fn artifacts_with_their_validation(served: &Served, cookie: &str) {
    let (status, page) = served.request("GET", "/runs/rj", &[("Cookie", cookie)], "");
    assert_eq!(status, 200, "{page}");
    let artifacts = super::between(&page, "<section id=\"artifacts\">", "</section>");
    let invalid = super::between(artifacts, "<tr data-valid=\"false\">", "</tr>");
    assert!(invalid.contains("<span class=\"invalid\">invalid</span>"), "{invalid}");
    assert!(invalid.contains("<div>at /"), "the problem, where it is: {invalid}");
    let valid = super::between(artifacts, "<tr data-valid=\"true\">", "</tr>");
    assert!(valid.contains("<span class=\"valid\">valid</span>"), "{valid}");
}
