//! The graph as the loader sees it: needs by default and as written, names that do not exist,
//! cycles (each refused with its line and column), prompts that name artifacts, agents per phase.

use std::path::Path;

use devflow_core::Code;

use super::references;
use crate::workflow::testing::load;
use crate::workflow::{Agents, Workflow};

const ROLES: &str = "name = \"w\"\n[roles.plan]\ncommand = [\"agent\"]\n[roles.impl]\ncommand = [\"agent\"]\nagent = \"per_phase\"\n";

/// `phases` as `(key, extra lines)`, each phase of role `impl` but `plan`, after [`ROLES`].
fn text(head: &str, phases: &[(&str, &str)]) -> String {
    let mut text = format!("{head}{ROLES}");
    for (key, extra) in phases {
        let role = if *key == "plan" { "plan" } else { "impl" };
        text.push_str(&format!(
            "[[phases]]\nkey = \"{key}\"\nrole = \"{role}\"\nartifact = \"out/{key}.json\"\nschema = \"s.json\"\n{extra}\n"
        ));
        if !extra.contains("instructions") {
            text.push_str("instructions = \"do it\"\n");
        }
    }
    text
}

fn needs(workflow: &Workflow) -> Vec<(&str, Vec<&str>)> {
    workflow
        .phases
        .iter()
        .map(|phase| (phase.key.as_str(), phase.needs.iter().map(String::as_str).collect()))
        .collect()
}

/// The line a refusal names (`w.toml:LINE:COLUMN: …`).
fn line_of(error: &devflow_core::Error) -> usize {
    let place = error.message().split("w.toml:").nth(1).expect("the file is named");
    place.split(':').next().unwrap().parse().expect("a line number")
}

fn line_containing(text: &str, needle: &str) -> usize {
    text.lines().position(|line| line.contains(needle)).expect("in the text") + 1
}

#[test]
fn a_phase_without_needs_needs_the_one_before_it() {
    let workflow = load(&text("", &[("plan", ""), ("a", ""), ("b", "")])).unwrap();
    assert_eq!(needs(&workflow), [("plan", vec![]), ("a", vec!["plan"]), ("b", vec!["a"])]);
    assert_eq!(workflow.max_parallel, 4);
}

#[test]
fn needs_as_written_make_a_fan_out_and_an_empty_list_starts_at_once() {
    let phases = [
        ("plan", ""),
        ("a", "needs = [\"plan\"]"),
        ("b", "needs = [\"plan\"]"),
        ("review", "needs = [\"a\", \"b\"]"),
        ("lint", "needs = []"),
    ];
    let workflow = load(&text("max_parallel = 2\n", &phases)).unwrap();
    assert_eq!(
        needs(&workflow),
        [
            ("plan", vec![]),
            ("a", vec!["plan"]),
            ("b", vec!["plan"]),
            ("review", vec!["a", "b"]),
            ("lint", vec![])
        ]
    );
    assert_eq!(workflow.max_parallel, 2);
}

#[test]
fn an_unknown_name_in_needs_is_refused_at_its_place() {
    let text = text("", &[("plan", ""), ("a", "needs = [\"plan\", \"plna\"]")]);
    let error = load(&text).unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput);
    assert!(
        error.message().contains("phase \"a\" needs \"plna\", which is not a phase"),
        "{error}"
    );
    assert_eq!(line_of(&error), line_containing(&text, "plna"));
    assert!(error.recovery_hint().unwrap().contains("plan"), "{error:?}");
}

#[test]
fn a_cycle_is_refused_naming_its_phases_where_it_closes() {
    let phases = [("plan", ""), ("a", "needs = [\"plan\", \"b\"]"), ("b", "needs = [\"a\"]")];
    let text = text("", &phases);
    let error = load(&text).unwrap_err();
    assert_eq!(error.code(), Code::InvalidInput);
    assert!(error.message().contains("need each other in a cycle"), "{error}");
    assert!(
        error.message().contains("a → b → a") || error.message().contains("b → a → b"),
        "{error}"
    );
    let lines = [
        line_containing(&text, "needs = [\"plan\", \"b\"]"),
        line_containing(&text, "needs = [\"a\"]"),
    ];
    assert!(lines.contains(&line_of(&error)), "{error} not at one of {lines:?}");
}

#[test]
fn a_phase_that_needs_itself_or_a_name_twice_is_refused() {
    let error = load(&text("", &[("plan", "needs = [\"plan\"]")])).unwrap_err();
    assert!(error.message().contains("plan → plan"), "{error}");
    let error =
        load(&text("", &[("plan", ""), ("a", "needs = [\"plan\", \"plan\"]")])).unwrap_err();
    assert!(error.message().contains("needs \"plan\" twice"), "{error}");
}

#[test]
fn a_cycle_through_the_default_need_is_refused_too() {
    // b needs a by default (the one before it), and a needs b.
    let text = text("", &[("a", "needs = [\"b\"]"), ("b", "")]);
    let error = load(&text).unwrap_err();
    assert!(error.message().contains("need each other in a cycle"), "{error}");
}

#[test]
fn max_parallel_is_bounded() {
    for (value, expected) in [("0", "at least 1"), ("65", "is over 64"), ("\"x\"", "whole number")]
    {
        let text = text(&format!("max_parallel = {value}\n"), &[("plan", "")]);
        let error = load(&text).unwrap_err();
        assert!(error.message().contains(expected), "{value}: {error}");
        assert_eq!(line_of(&error), line_containing(&text, "max_parallel"), "{error}");
    }
}

#[test]
fn a_prompt_names_only_artifacts_of_phases_it_needs() {
    let fine = [
        ("plan", ""),
        ("a", ""),
        ("b", "instructions = \"read {{needs.plan.artifact}} and {{needs.a.artifact}}\""),
    ];
    let workflow = load(&text("", &fine)).unwrap();
    let rendered = workflow.render_needs(&workflow.phases[2].instructions, Path::new("/w"));
    assert_eq!(rendered, "read /w/out/plan.json and /w/out/a.json");
    let wrong = [
        ("plan", "needs = []"),
        ("a", "needs = []\ninstructions = \"read {{needs.plan.artifact}}\""),
    ];
    let text = text("", &wrong);
    let error = load(&text).unwrap_err();
    assert!(error.message().contains("names the artifact of \"plan\""), "{error}");
    assert_eq!(line_of(&error), line_containing(&text, "{{needs.plan"));
}

#[test]
fn an_agent_per_phase_is_read_and_names_its_agents_role_slash_phase() {
    let workflow = load(&text("", &[("plan", ""), ("a", ""), ("b", "")])).unwrap();
    assert_eq!(workflow.roles["impl"].agent, Agents::PerPhase);
    assert_eq!(workflow.roles["plan"].agent, Agents::Shared);
    let agents: Vec<String> =
        workflow.phases.iter().map(|phase| workflow.agent_of(phase)).collect();
    assert_eq!(agents, ["plan", "impl/a", "impl/b"]);
    let bad = ROLES.replace("agent = \"per_phase\"", "agent = \"each\"");
    let error = load(&format!("{bad}[[phases]]\nkey = \"p\"\nrole = \"impl\"\nartifact = \"a.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n")).unwrap_err();
    assert!(error.message().contains("unknown variant `each`"), "{error}");
}

#[test]
fn a_run_stored_before_needs_reads_back_as_the_chain_it_ran_as() {
    let workflow = load(&text("", &[("plan", ""), ("a", "needs = []"), ("b", "")])).unwrap();
    let mut stored = workflow.to_definition();
    for phase in stored["phases"].as_array_mut().unwrap() {
        phase.as_object_mut().unwrap().remove("needs");
    }
    stored.as_object_mut().unwrap().remove("max_parallel");
    let read = Workflow::from_definition(&stored).unwrap();
    assert_eq!(needs(&read), [("plan", vec![]), ("a", vec!["plan"]), ("b", vec!["a"])]);
    assert_eq!(read.max_parallel, 4);
    assert_eq!(Workflow::from_definition(&workflow.to_definition()).unwrap(), workflow);
}

#[test]
fn references_are_found_whole_and_only_with_their_field() {
    let text =
        "read {{needs.plan.artifact}} and {{needs.x.other}} then {{needs.b.artifact}}{{needs.";
    let found: Vec<&str> = references(text).map(|(_, key)| key).collect();
    assert_eq!(found, ["plan", "b"]);
    let (range, _) = references(text).next().unwrap();
    assert_eq!(&text[range], "{{needs.plan.artifact}}");
}
