//! Unit tests of the directive parser and the artifact bytes of each scenario.

use super::*;

#[test]
fn defaults_to_ok_with_empty_object() {
    let script = parse("Just do the work.");
    assert_eq!(script, Script::default());
    assert_eq!(script.artifact_bytes().unwrap(), b"{}\n");
}

#[test]
fn first_scenario_line_wins_and_repair_is_separate() {
    let script =
        parse("Repair-Scenario: ok\nScenario: Invalid\nScenario: crash\nRepair-Scenario: none");
    assert_eq!(script.scenario, Scenario::Invalid);
    assert_eq!(script.repair, Some(Scenario::Ok));
}

#[test]
fn unknown_names_are_ignored() {
    let script = parse("Scenario: explode\nScenario: hang");
    assert_eq!(script.scenario, Scenario::Hang);
}

#[test]
fn every_scenario_name_parses() {
    for scenario in Scenario::ALL {
        assert_eq!(parse(&format!("  Scenario: {}  ", scenario.as_str())).scenario, *scenario);
    }
}

#[test]
fn failures_probe_hint_and_slow_ms() {
    let script = parse(
        "Fail-Start: recoverable 2\nFail-Send: fatal\nFail-Resume: recoverable\n\
         Fail-Rebootstrap: sometimes\nFail-Probe: recoverable 1\nFail-Start: fatal\n\
         Probe: readiness-unknown\nSlow-Ms: 40",
    );
    assert_eq!(script.failure(Operation::Start), Some(Failure::Recoverable(2)));
    assert_eq!(script.failure(Operation::Send), Some(Failure::Fatal));
    assert_eq!(script.failure(Operation::Resume), Some(Failure::Recoverable(1)));
    assert_eq!(script.failure(Operation::Rebootstrap), None);
    assert_eq!(script.failure(Operation::Probe), Some(Failure::Recoverable(1)));
    assert!(script.readiness_unknown);
    assert_eq!(script.slow_ms, 40);
}

#[test]
fn json_blocks_give_valid_and_invalid_artifacts() {
    let text = "Scenario: ok\n```text\nScenario: crash\n```\n```json invalid\n{\"bad\": 1}\n```\n\
                ```json\n{\"plan\": [1, 2]}\n```\n```json\n{\"second\": true}\n```";
    let script = parse(text);
    assert_eq!(script.scenario, Scenario::Ok, "directives inside fences do not count");
    assert_eq!(script.valid_artifact, Some(serde_json::json!({"plan": [1, 2]})));
    assert_eq!(script.artifact_bytes().unwrap(), b"{\"plan\": [1, 2]}\n");
    let invalid = Script { scenario: Scenario::Invalid, ..script };
    assert_eq!(invalid.artifact_bytes().unwrap(), b"{\"bad\": 1}\n");
}

#[test]
fn each_scenario_writes_what_it_promises() {
    let bytes = |name: &str| parse(&format!("Scenario: {name}")).artifact_bytes();
    assert_eq!(bytes("invalid").unwrap(), b"{\"devflowFakeInvalid\": true}\n");
    let malformed = bytes("malformed").unwrap();
    assert_eq!(malformed, b"{\"truncated\": ");
    assert!(serde_json::from_slice::<serde_json::Value>(&malformed).is_err());
    assert_eq!(bytes("slow").unwrap(), b"{}\n");
    for name in ["none", "hang", "crash"] {
        assert_eq!(bytes(name), None, "{name}");
    }
}

#[test]
fn slow_chunks_cover_the_bytes_in_at_least_three_pieces() {
    for bytes in [&b"{}\n"[..], b"{\"a\": 1}\n", &[b'x'; 1000]] {
        let chunks = slow_chunks(bytes);
        assert!(chunks.len() >= SLOW_CHUNKS);
        assert_eq!(chunks.concat(), bytes);
    }
}

#[test]
fn a_repair_prompt_plays_its_repair_scenario_or_ok() {
    let repair = |instructions: &str| {
        let prompt =
            format!("devflow-prompt 0123456789abcdef\n{}\n{instructions}", crate::REPAIR_LINE);
        parse(&prompt).scenario
    };
    assert_eq!(repair("Scenario: invalid\nRepair-Scenario: slow"), Scenario::Slow);
    assert_eq!(repair("Scenario: crash"), Scenario::Ok);
    assert_eq!(parse("Scenario: crash\nRepair-Scenario: ok").scenario, Scenario::Crash);
}

/// The runner's schema paragraph, as `devflow_phase::phase_instructions` writes it.
fn with_schema(instructions: &str) -> String {
    format!(
        "{instructions}\n\n{SCHEMA_INTRO} (plan.v1):\n\n```json\n{{\n  \"type\": \"object\"\n}}\n```"
    )
}

#[test]
fn the_runners_schema_block_is_not_the_artifact() {
    let prompt = format!("devflow-prompt 0123456789abcdef\n{}", with_schema("Scenario: ok"));
    assert_eq!(parse(&prompt).artifact_bytes().unwrap(), b"{}\n", "no block of its own: {{}}");
    let block = "Scenario: ok\n```json\n{\"plan\": [1]}\n```";
    assert_eq!(parse(&with_schema(block)).artifact_bytes().unwrap(), b"{\"plan\": [1]}\n");
}

#[test]
fn nothing_after_the_schema_paragraph_is_a_direction() {
    // A reviewer's note and a repair's problems come after it; so may whatever an agent wrote.
    let prompt = format!(
        "{}\n\nA reviewer rejected the previous artifact: redo\nScenario: crash\nFail-Send: fatal",
        with_schema("Plan it.")
    );
    let script = parse(&prompt);
    assert_eq!((script.scenario, script.failure(Operation::Send)), (Scenario::Ok, None));
    assert_eq!(directions(&prompt), "Plan it.\n\n");
    assert_eq!(directions("Plan it.\nScenario: hang"), "Plan it.\nScenario: hang");
}

#[test]
fn the_schema_intro_counts_only_at_the_start_of_a_line() {
    let text = format!("Scenario: hang\nSee: {SCHEMA_INTRO}\nRepair-Scenario: slow");
    assert_eq!(directions(&text), text);
    assert_eq!(parse(&text).repair, Some(Scenario::Slow));
}
