//! What a notification says: one JSON document, the same for every sink — its id (the
//! event's idempotency key, for a receiver to drop a duplicate), its topic, a sentence for a
//! person, the run (as `status --json` lists it), the event (as `events --json` prints it)
//! and, for a gate, the gate.

use devflow_core::{Error, StateMachine};
use devflow_db::{ApprovalRow, Db, EventRow, NotificationRow, PhaseRow, RunRow};
use devflow_phase::event::{self, ApprovalRequested, kind};
use devflow_phase::view;
use serde_json::{Value, json};

/// The rows a notification is made from.
pub(super) struct Context {
    pub run: RunRow,
    phases: Vec<PhaseRow>,
    event: EventRow,
    gate: Option<ApprovalRow>,
}

impl Context {
    /// `None` when the event or its run is not there (which a step never leaves).
    pub async fn load(db: &Db, row: &NotificationRow) -> Result<Option<Context>, Error> {
        let (run_id, key) = (row.run_id.clone(), row.event_key.clone());
        db.read(move |tx| {
            Box::pin(async move {
                let (Some(run), Some(event)) =
                    (tx.run(&run_id).await?, tx.event_by_key(&key).await?)
                else {
                    return Ok(None);
                };
                let phases = tx.phases(&run_id).await?;
                // The gate of an `approval.requested`; no other event that notifies has one. A
                // payload of another shape (no step writes one) is sent without its gate.
                let request = (event.kind == kind::APPROVAL_REQUESTED)
                    .then(|| event::read::<ApprovalRequested>(&event).ok())
                    .flatten();
                let gate = match request {
                    Some(request) => {
                        let id = request.approval_request_id;
                        tx.approvals(&run_id).await?.into_iter().find(|gate| gate.id == id)
                    }
                    None => None,
                };
                Ok(Some(Context { run, phases, event, gate }))
            })
        })
        .await
    }

    pub fn document(&self, row: &NotificationRow) -> Value {
        let keys = view::phase_keys(&self.phases);
        let phase_key = view::event_phase_key(&self.event, &keys);
        let gate = self.gate.as_ref().map(|gate| {
            json!({
                "id": gate.id, "gate_key": gate.gate_key, "phase_key": phase_key,
                "state": gate.state.as_str(), "payload": gate.payload,
            })
        });
        json!({
            "id": row.event_key,
            "topic": row.topic,
            "summary": summary(&self.run, &row.topic, self.gate.as_ref(), phase_key.as_deref()),
            "run": view::run_summary_json(&self.run, &self.phases),
            "event": view::event_json(&self.event, &keys),
            "gate": gate,
        })
    }
}

/// One sentence for a person.
fn summary(run: &RunRow, topic: &str, gate: Option<&ApprovalRow>, phase: Option<&str>) -> String {
    let gate_key = gate.map_or("", |gate| gate.gate_key.as_str());
    let phase = phase.unwrap_or("-");
    let (id, workflow) = (&run.id, &run.workflow);
    match topic {
        "gate_opened" => {
            format!("run {id} ({workflow}) waits for a person at gate {gate_key} (phase {phase})")
        }
        "agent_needs_input" => {
            format!("run {id} ({workflow}): an agent needs input (phase {phase})")
        }
        "run_failed" => format!("run {id} ({workflow}) failed"),
        "run_completed" => format!("run {id} ({workflow}) completed"),
        other => format!("run {id} ({workflow}): {other} (state {})", run.state.as_str()),
    }
}
