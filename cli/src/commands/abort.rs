//! `devflow abort RUN`: end the run and stop its agents; for a run that has ended already, stop
//! the agents it left running.

use devflow_core::Error;

use crate::args::Place;
use crate::context::{Context, decided_by};
use crate::exit::{self, Status};

pub async fn run(run_id: &str, place: &Place) -> Result<Status, Error> {
    let (driver, _) = Context::new(place)?.driver_for_run(run_id).await?;
    match driver.abort(run_id, decided_by()).await? {
        None => out!("run {run_id} aborted; its agents were stopped"),
        Some(state) => out!("run {run_id} had {state} already; its agents were stopped"),
    };
    Ok(exit::COMPLETED)
}
