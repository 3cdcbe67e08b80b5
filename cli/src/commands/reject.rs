//! `devflow reject RUN --note TEXT`: send the phase back to its agent with the note.

use devflow_core::Error;
use devflow_phase::Decision;

use super::driving;
use crate::args::Place;
use crate::context::{Context, decided_by, invalid};
use crate::exit::Status;

pub async fn run(
    run_id: &str,
    gate: Option<String>,
    note: String,
    place: &Place,
) -> Result<Status, Error> {
    if note.trim().is_empty() {
        return Err(invalid("reject needs a --note saying what to change")
            .with_hint("devflow reject RUN --note \"...\""));
    }
    let (driver, run) = Context::new(place)?.driver_for_run(run_id).await?;
    crate::programs::check_run_roles(driver.db(), &run).await?;
    let decision = Decision { gate_key: gate, note: Some(note), decided_by: decided_by() };
    let outcome =
        driving::driving(&driver, run_id, |cancel| driver.reject(run_id, decision, cancel)).await?;
    driving::outcome(&driver, run_id, outcome).await
}
