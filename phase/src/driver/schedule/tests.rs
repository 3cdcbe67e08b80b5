//! The scheduler as a table: which phases start, for rows and a graph as a run has them.

use std::collections::{BTreeMap, BTreeSet};

use devflow_core::PhaseState::{self, *};
use devflow_db::PhaseRow;

use super::to_start;
use crate::workflow::{Agents, Kind, PhaseDef, PhaseWorktree, Role, RoleCommand, Wait, Workflow};

/// A workflow of `(key, role, needs)`; the role `impl` has an agent per phase.
fn workflow(phases: &[(&str, &str, &[&str])]) -> Workflow {
    let role = |agent| Role {
        command: RoleCommand::Shell("agent".into()),
        env: BTreeMap::new(),
        preset: None,
        answer_dialogs: Vec::new(),
        agent,
    };
    Workflow {
        name: "w".into(),
        description: None,
        source: "w.toml".into(),
        keep_agents: false,
        agents_may_move: false,
        max_parallel: 4,
        roles: BTreeMap::from([
            ("plan".to_owned(), role(Agents::Shared)),
            ("impl".to_owned(), role(Agents::PerPhase)),
        ]),
        phases: phases
            .iter()
            .map(|(key, role, needs)| PhaseDef {
                key: (*key).into(),
                kind: Kind::Agent,
                worktree: PhaseWorktree::Run,
                role: (*role).into(),
                needs: needs.iter().map(|need| (*need).to_owned()).collect(),
                artifact: format!("{key}.json"),
                schema_id: "s.json".into(),
                schema: serde_json::json!({}),
                instructions: "x".into(),
                approval_gate: None,
                wait: Wait::default(),
            })
            .collect(),
        worktree: None,
        notify: None,
    }
}

fn rows(states: &[(&str, PhaseState)]) -> Vec<PhaseRow> {
    states
        .iter()
        .enumerate()
        .map(|(at, (key, state))| PhaseRow {
            id: format!("id-{key}"),
            run_id: "run".into(),
            phase_key: (*key).into(),
            ordinal: at as i32,
            state: *state,
            attempts: 0,
            started_at: None,
            ended_at: None,
            artifact_id: None,
        })
        .collect()
}

fn started(workflow: &Workflow, rows: &[PhaseRow], running: &[&str], room: usize) -> Vec<String> {
    let running: BTreeSet<String> = running.iter().map(|key| (*key).to_owned()).collect();
    to_start(workflow, rows, &running, room).into_iter().map(|row| row.phase_key.clone()).collect()
}

const FAN_OUT: &[(&str, &str, &[&str])] = &[
    ("plan", "plan", &[]),
    ("a", "impl", &["plan"]),
    ("b", "impl", &["plan"]),
    ("c", "impl", &["plan"]),
    ("review", "plan", &["a", "b", "c"]),
];

#[test]
fn a_chain_starts_one_phase_at_a_time() {
    let chain = workflow(&[("one", "plan", &[]), ("two", "plan", &["one"])]);
    assert_eq!(started(&chain, &rows(&[("one", Pending), ("two", Pending)]), &[], 4), ["one"]);
    assert_eq!(started(&chain, &rows(&[("one", Completed), ("two", Pending)]), &[], 4), ["two"]);
    let none: [&str; 0] = [];
    assert_eq!(started(&chain, &rows(&[("one", Running), ("two", Pending)]), &["one"], 4), none);
}

#[test]
fn phases_ready_at_once_start_together_up_to_the_room_left() {
    let fan = workflow(FAN_OUT);
    let after_plan = rows(&[
        ("plan", Completed),
        ("a", Pending),
        ("b", Pending),
        ("c", Pending),
        ("review", Pending),
    ]);
    assert_eq!(started(&fan, &after_plan, &[], 4), ["a", "b", "c"]);
    assert_eq!(started(&fan, &after_plan, &[], 2), ["a", "b"]);
    assert_eq!(started(&fan, &after_plan, &["a", "b"], 1), ["c"]);
}

#[test]
fn a_phase_waits_for_everything_it_needs() {
    let fan = workflow(FAN_OUT);
    let two_done = rows(&[
        ("plan", Completed),
        ("a", Completed),
        ("b", Completed),
        ("c", Running),
        ("review", Pending),
    ]);
    assert_eq!(started(&fan, &two_done, &["c"], 4), Vec::<String>::new());
    let all_done = rows(&[
        ("plan", Completed),
        ("a", Completed),
        ("b", Completed),
        ("c", Completed),
        ("review", Pending),
    ]);
    assert_eq!(started(&fan, &all_done, &[], 4), ["review"]);
}

#[test]
fn a_shared_agent_does_one_phase_at_a_time_and_goes_back_to_the_one_under_way() {
    let shared = workflow(&[("x", "plan", &[]), ("y", "plan", &[])]);
    assert_eq!(started(&shared, &rows(&[("x", Pending), ("y", Pending)]), &[], 4), ["x"]);
    assert_eq!(
        started(&shared, &rows(&[("x", Pending), ("y", Running)]), &["y"], 4),
        Vec::<String>::new()
    );
    // Re-entered: y held the agent when the driver stopped, so y gets it back, not x.
    assert_eq!(started(&shared, &rows(&[("x", Pending), ("y", Running)]), &[], 4), ["y"]);
    assert_eq!(started(&shared, &rows(&[("x", Pending), ("y", Failed)]), &[], 4), ["y"]);
}
