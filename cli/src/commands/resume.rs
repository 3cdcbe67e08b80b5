//! `devflow resume RUN`: continue a run after a human gate or a killed devflow.

use devflow_core::Error;

use super::report;
use crate::args::Place;
use crate::context::{Context, decided_by};
use crate::exit::Status;

pub async fn run(run_id: &str, place: &Place) -> Result<Status, Error> {
    let driver = Context::new(place)?.driver().await?;
    let outcome =
        report::driving(&driver, run_id, |cancel| driver.resume(run_id, decided_by(), cancel))
            .await?;
    report::outcome(&driver, run_id, outcome).await
}
