//! Transition coverage (as Temporal sdk-core proves its machines'): the scenarios below, one
//! story each, together take every arm of the runner's transition table.

use devflow_db::testing::TestDb;
use devflow_phase::Restart;

use crate::support::{Harness, VALID_PLAN};

/// A fresh run on SQLite: the arms are the runner's, whatever the database.
async fn harness() -> Harness {
    Harness::new(TestDb::sqlite().await).await
}

fn ok() -> String {
    format!("Scenario: ok\n{VALID_PLAN}")
}

#[tokio::test]
async fn the_scenarios_take_every_arm_of_the_transition_table() {
    let ((), reached) = devflow_phase::testing::arms_taken(scenarios()).await;
    let missed: Vec<&str> = devflow_phase::testing::arms()
        .iter()
        .copied()
        .filter(|arm| !reached.contains(arm))
        .collect();
    assert!(missed.is_empty(), "arms no scenario takes: {missed:?}");
}

/// The arms are recorded per scenario: a phase run outside one, before it or at once beside
/// it, adds nothing to it.
#[tokio::test]
async fn a_scenario_records_only_its_own_arms() {
    let outside = harness().await;
    outside.run(outside.spec("plan", &ok())).await.unwrap();
    let beside = tokio::spawn(async move {
        let h = harness().await;
        h.run(h.spec("plan", &ok())).await.unwrap();
    });
    // The scope waits for the phase beside it, run by another task (as another test's is).
    let (joined, taken) = devflow_phase::testing::arms_taken(beside).await;
    joined.unwrap();
    assert!(taken.is_empty(), "{taken:?}");
    let h = harness().await;
    let (_, taken) = devflow_phase::testing::arms_taken(h.run(h.spec("plan", &ok()))).await;
    assert!(taken.contains("Complete") && !taken.contains("Refuse"), "{taken:?}");
}

/// One story each, together every arm.
async fn scenarios() {
    // Two phases of one agent, the first with a stale file at its path; then the finished
    // phase asked again.
    let h = harness().await;
    std::fs::create_dir_all(h.artifact().parent().unwrap()).unwrap();
    std::fs::write(h.artifact(), b"{\"stale\": true}").unwrap();
    h.run(devflow_phase::PhaseSpec {
        run_end: devflow_phase::RunEnd::WithTheLastPhase,
        ..h.spec("plan", &ok())
    })
    .await
    .unwrap();
    h.run(h.spec("review", &ok())).await.unwrap();
    h.run(h.spec("plan", &ok())).await.unwrap_err();

    // Repaired, and invalid again after its repair.
    let h = harness().await;
    h.run(h.spec("plan", &format!("Scenario: invalid\nRepair-Scenario: ok\n{VALID_PLAN}")))
        .await
        .unwrap();
    let h = harness().await;
    h.run(h.spec("plan", "Scenario: invalid\nRepair-Scenario: invalid")).await.unwrap_err();
    // ... resumed after that gate: the invalid file is looked at, then a fresh agent asked.
    h.reactivate().await;
    h.run(h.restarted("plan", &ok(), Restart::AfterGate)).await.unwrap();

    // No artifact, recovered and repaired; no artifact twice, then one written by a person.
    let h = harness().await;
    h.run(h.spec("plan", &format!("Scenario: none\nRepair-Scenario: ok\n{VALID_PLAN}")))
        .await
        .unwrap();
    let h = harness().await;
    h.run(h.spec("plan", "Scenario: none\nRepair-Scenario: none")).await.unwrap_err();
    h.reactivate().await;
    std::fs::write(h.artifact(), br#"{"title": "by hand", "steps": []}"#).unwrap();
    h.run(h.restarted("plan", "Scenario: none", Restart::AfterGate)).await.unwrap();

    // Held for approval, then rejected.
    let h = harness().await;
    h.run(h.gated("plan", &ok(), "plan_review")).await.unwrap();
    h.reactivate().await;
    h.run(h.restarted("plan", &ok(), Restart::Rejected)).await.unwrap();
}
