//! Events have one owner (`phase/src/event.rs`, `event/`): outside it, product code reads a
//! payload as its struct (`devflow_phase::event::read`), never by key, and names a kind by its
//! constant (`event::kind`), never by a string of its own.

use super::processes::is_product;
use super::{project_root, read, relative, rust_files};

/// Where `payload.get(` is an approval request's payload (`approval_requests.payload`, the gate's
/// hint and path), not an event's.
const GATE_PAYLOAD_READERS: &[&str] =
    &["cli/src/commands/status.rs", "phase/src/driver/drive.rs", "web/src/pages/run.rs"];

fn is_event_module(path: &str) -> bool {
    path == "phase/src/event.rs" || path.starts_with("phase/src/event/")
}

#[test]
fn event_payloads_are_read_as_structs_and_kinds_by_their_constants() {
    let kinds = kinds();
    assert!(kinds.len() > 20, "phase/src/event/kind.rs names every kind: {kinds:?}");
    let mut offenders = Vec::new();
    for file in rust_files() {
        let path = relative(&file);
        if !is_product(&path) || is_event_module(&path) {
            continue;
        }
        for (number, line) in read(&file).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if code.contains("payload.get(") && !GATE_PAYLOAD_READERS.contains(&path.as_str()) {
                offenders.push(format!("{path}:{}: reads a payload by key", number + 1));
            }
            for kind in kinds.iter().filter(|kind| code.contains(&format!("\"{kind}\""))) {
                offenders.push(format!("{path}:{}: spells the kind \"{kind}\"", number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "outside phase/src/event*, read an event's payload with devflow_phase::event::read as \
         its struct and name its kind with devflow_phase::event::kind:\n  {}",
        offenders.join("\n  ")
    );
}

/// The kinds `phase/src/event/kind.rs` names: each `pub const NAME: &str = "kind";`.
fn kinds() -> Vec<String> {
    read(&project_root().join("phase/src/event/kind.rs"))
        .lines()
        .filter(|line| line.starts_with("pub const "))
        .filter_map(|line| line.split('"').nth(1).map(str::to_owned))
        .collect()
}
