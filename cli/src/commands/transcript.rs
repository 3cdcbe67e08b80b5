//! `devflow transcript RUN [--role ROLE]`: what the agents showed, as captured.

use devflow_core::Error;

use crate::args::Place;
use crate::context::Context;
use crate::exit::{self, Status};

pub async fn run(run_id: &str, role: Option<&str>, place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.connect().await?;
    let (id, role) = (run_id.to_owned(), role.map(str::to_owned));
    let transcripts = db
        .read(move |tx| {
            Box::pin(async move {
                if tx.run(&id).await?.is_none() {
                    return Err(super::events::not_found(&id));
                }
                let mut out = Vec::new();
                for session in tx.sessions(&id).await? {
                    if role.as_ref().is_some_and(|role| role != &session.role_id) {
                        continue;
                    }
                    let rows = tx.transcripts(&session.id).await?;
                    out.push((session.role_id, session.id, rows));
                }
                Ok(out)
            })
        })
        .await?;
    if transcripts.is_empty() {
        out!("no agent sessions for this run{}", if place.db.is_some() { "" } else { " yet" });
    }
    for (role, session_id, rows) in transcripts {
        out!("=== role {role} (session {session_id}) ===");
        for row in rows {
            print!("{}", row.text);
            if !row.text.ends_with('\n') {
                out!();
            }
        }
    }
    Ok(exit::COMPLETED)
}
