//! `devflow approve RUN`: approve the pending gate, then drive the run on.

use devflow_core::Error;
use devflow_phase::Decision;

use super::driving;
use crate::args::Place;
use crate::context::{Context, decided_by};
use crate::exit::Status;

pub async fn run(
    run_id: &str,
    gate: Option<String>,
    note: Option<String>,
    place: &Place,
) -> Result<Status, Error> {
    let (driver, run) = Context::new(place)?.driver_for_run(run_id).await?;
    crate::programs::check_run_roles(driver.db(), &run).await?;
    let decision = Decision { gate_key: gate, note, decided_by: decided_by() };
    let outcome =
        driving::driving(&driver, run_id, |cancel| driver.approve(run_id, decision, cancel))
            .await?;
    driving::outcome(&driver, run_id, outcome).await
}
