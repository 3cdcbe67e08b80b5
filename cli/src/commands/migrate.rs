//! `devflow migrate`: create or update the database schema.

use devflow_core::Error;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};

pub async fn run(place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.connect().await?;
    out!("database {} ({}) is migrated", db.url(), db.backend());
    Ok(exit::COMPLETED)
}
