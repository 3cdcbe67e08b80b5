//! `devflow transcript RUN [--role ROLE]`: what the agents showed, as captured.

use devflow_core::Error;
use devflow_phase::Workflow;

use crate::args::Place;
use crate::context::{Context, invalid, read_run};
use crate::exit::{self, Status};
use crate::output::inline;

pub async fn run(run_id: &str, role: Option<&str>, place: &Place) -> Result<Status, Error> {
    let db = Context::new(place)?.open_existing().await?;
    let run = read_run(&db, run_id).await?;
    if let Some(role) = role {
        let workflow = Workflow::from_definition(&run.definition)?;
        if !workflow.roles.contains_key(role) {
            let roles: Vec<&str> = workflow.roles.keys().map(String::as_str).collect();
            return Err(invalid(format!(
                "run {run_id} has no role {role:?}; its roles are: {}",
                roles.join(", ")
            ))
            .with_hint(format!(
                "devflow transcript {run_id} --role {}",
                roles.first().unwrap_or(&"ROLE")
            )));
        }
    }
    let one_role = role.is_some();
    let (id, role) = (run_id.to_owned(), role.map(str::to_owned));
    let transcripts = db
        .read(move |tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for session in tx.sessions(&id).await? {
                    // A role with an agent per phase names its agents `role/phase`.
                    let of_role = |role: &String| {
                        session.role_id == *role
                            || session
                                .role_id
                                .strip_prefix(role.as_str())
                                .is_some_and(|rest| rest.starts_with('/'))
                    };
                    if role.as_ref().is_some_and(|role| !of_role(role)) {
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
        out!("no agent sessions for this run{}", if one_role { " and role" } else { "" });
    }
    for (role, session_id, rows) in transcripts {
        out!("=== role {} (session {}) ===", inline(&role), inline(&session_id));
        for row in rows {
            out!("{}", row.text.strip_suffix('\n').unwrap_or(&row.text));
        }
    }
    Ok(exit::COMPLETED)
}
