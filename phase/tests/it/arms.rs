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
    // Two phases of one agent, the first with a stale file at its path; then the finished
    // phase asked again.
    let h = harness().await;
    std::fs::create_dir_all(h.artifact().parent().unwrap()).unwrap();
    std::fs::write(h.artifact(), b"{\"stale\": true}").unwrap();
    h.run(devflow_phase::PhaseSpec { terminal: false, ..h.spec("plan", &ok()) }).await.unwrap();
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

    let reached = devflow_phase::testing::arms_reached();
    let missed: Vec<&str> = devflow_phase::testing::arms()
        .iter()
        .copied()
        .filter(|arm| !reached.contains(arm))
        .collect();
    assert!(missed.is_empty(), "arms no scenario takes: {missed:?}");
}
