//! The JSON API against the commands whose documents it serves: `/api/runs` is `status --json`,
//! `/api/runs/{id}` is `status RUN --json`, `/api/runs/{id}/events[?after=ID]` the lines of
//! `events RUN --json`; a run that does not exist is a 404 naming its error's code.

use serde_json::Value;

use crate::browser::Served;
use crate::support::World;

/// Asserts each document of the API equals what the command prints, for a run that no longer
/// changes.
pub fn serves_what_status_and_events_print(world: &World, served: &Served, run_id: &str) {
    let bearer = format!("Bearer {}", served.token);
    let get = |path: &str| {
        let (status, body) = served.request("GET", path, &[("Authorization", &bearer)], "");
        (status, serde_json::from_str::<Value>(&body).unwrap_or_else(|_| panic!("{path}: {body}")))
    };
    let ok = |path: &str| {
        let (status, document) = get(path);
        assert_eq!(status, 200, "{path}: {document}");
        document
    };
    let listed = world.devflow(&["status", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(ok("/api/runs"), serde_json::from_str::<Value>(&listed.stdout).unwrap());
    assert_eq!(ok(&format!("/api/runs/{run_id}")), world.status(run_id));
    let events = world.events(run_id);
    assert!(events.len() > 3, "{events:?}");
    assert_eq!(ok(&format!("/api/runs/{run_id}/events")), Value::Array(events.clone()));
    let after = &events[events.len() - 3]["id"];
    assert_eq!(
        ok(&format!("/api/runs/{run_id}/events?after={after}")),
        Value::Array(events[events.len() - 2..].to_vec()),
        "only the events after {after}"
    );
    for path in ["/api/runs/nothing-here", "/api/runs/nothing-here/events"] {
        let (status, document) = get(path);
        assert_eq!(status, 404, "{path}: {document}");
        assert_eq!(document["error"]["code"], "run_not_found", "{path}");
    }
}
