//! `devflow abort RUN`: end the run and stop its agents.

use devflow_core::Error;

use crate::args::Place;
use crate::context::{Context, decided_by};
use crate::exit::{self, Status};

pub async fn run(run_id: &str, place: &Place) -> Result<Status, Error> {
    let (driver, _) = Context::new(place)?.driver_for_run(run_id).await?;
    driver.abort(run_id, decided_by()).await?;
    out!("run {run_id} aborted; its agents were stopped");
    Ok(exit::COMPLETED)
}
