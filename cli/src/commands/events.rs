//! `devflow events RUN [--json] [--follow]`: the run's event log, oldest first.

use std::collections::HashMap;
use std::time::Duration;

use devflow_core::Error;
use devflow_db::{Db, EventRow};
use devflow_phase::view;

use crate::args::Place;
use crate::context::{Context, not_found};
use crate::exit::{self, Status};
use crate::output::{inline, json};

/// How often `--follow` looks for new events.
const FOLLOW_POLL_MS: u64 = 200;

pub async fn run(
    run_id: &str,
    as_json: bool,
    follow: bool,
    place: &Place,
) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let mut after = 0;
    let mut keys = phase_keys(&db, run_id).await?;
    loop {
        let id = run_id.to_owned();
        let (events, state) = db
            .read(move |tx| {
                Box::pin(async move {
                    let Some(run) = tx.run(&id).await? else {
                        return Err(not_found(&id));
                    };
                    Ok((tx.events(&id, after).await?, run.state))
                })
            })
            .await?;
        for event in &events {
            if event.phase_id.as_ref().is_some_and(|id| !keys.contains_key(id)) {
                keys = phase_keys(&db, run_id).await?;
            }
            print_event(event, &keys, as_json);
            after = event.id;
        }
        // A reader that went away (`| head`) has all it wanted.
        if crate::output::closed() || !follow || (state.is_terminal() && events.is_empty()) {
            return Ok(exit::COMPLETED);
        }
        tokio::time::sleep(Duration::from_millis(FOLLOW_POLL_MS)).await;
    }
}

async fn phase_keys(db: &Db, run_id: &str) -> Result<HashMap<String, String>, Error> {
    let id = run_id.to_owned();
    let phases = db.read(move |tx| Box::pin(async move { tx.phases(&id).await })).await?;
    Ok(view::phase_keys(&phases))
}

fn print_event(event: &EventRow, keys: &HashMap<String, String>, as_json: bool) {
    if as_json {
        out!("{}", json(&view::event_json(event, keys)));
    } else {
        let phase_key = view::event_phase_key(event, keys);
        out!(
            "{:>6} {} {:<22} {:<10} {}",
            event.id,
            view::time::local(event.created_at),
            inline(&event.kind),
            inline(phase_key.as_deref().unwrap_or("-")),
            json(&event.payload)
        );
    }
}
