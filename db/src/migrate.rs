//! The embedded migrations, applied when a database is opened, and the refusal of a database
//! that holds a migration this devflow does not know: a newer devflow wrote it, and this one
//! would misread what it stored.

use std::collections::HashSet;

use devflow_core::{Code, Error};
use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub(crate) const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Why a database's migrations could not be brought up to date.
pub(crate) enum Failure {
    /// The database holds this migration version, which this devflow does not know.
    Newer(String),
    Other(String),
}

/// Applies the pending migrations of `source`, unless the database holds one `source` does not
/// know: then nothing is written (beyond the migration table diesel creates in a database that
/// has none, which a newer devflow's database always has).
pub(crate) fn apply<DB, C>(conn: &mut C, source: EmbeddedMigrations) -> Result<(), Failure>
where
    DB: Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    let other = |error: Box<dyn std::error::Error + Send + Sync>| Failure::Other(error.to_string());
    let known: HashSet<String> = MigrationSource::<DB>::migrations(&source)
        .map_err(other)?
        .iter()
        .map(|migration| migration.name().version().to_string())
        .collect();
    let applied = conn.applied_migrations().map_err(other)?;
    let unknown = applied.iter().map(ToString::to_string).filter(|v| !known.contains(v)).max();
    if let Some(version) = unknown {
        return Err(Failure::Newer(version));
    }
    conn.run_pending_migrations(source)
        .map(drop)
        .map_err(|error| Failure::Other(format!("applying migrations failed: {error}")))
}

/// The error for a database a newer devflow wrote; `shown` is its path or redacted URL.
pub(crate) fn newer(shown: &str, version: &str) -> Error {
    Error::new(
        Code::DatabaseUnavailable,
        format!(
            "this database was written by a newer devflow (migration {version} is unknown to this one): use a newer devflow, or another database"
        ),
    )
    .with_hint(format!("the database is {shown} (--db or DEVFLOW_DATABASE_URL names it)"))
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use diesel::Connection;
    use diesel_async::AsyncPgConnection;
    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;

    use super::*;
    use crate::url::{Target, parse};

    /// Every down.sql undoes its up.sql: revert all migrations, then apply them again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_revert_and_apply_again_on_every_backend() {
        for test_db in crate::testing::backends().await {
            let url = test_db.url.clone();
            tokio::task::spawn_blocking(move || match parse(&url).unwrap() {
                Target::Sqlite { path, busy_timeout_ms } => {
                    let mut conn = crate::file::open_sqlite(&path, busy_timeout_ms).unwrap();
                    conn.revert_all_migrations(SQLITE).unwrap();
                    conn.run_pending_migrations(SQLITE).unwrap();
                }
                Target::Postgres { url } => {
                    let mut conn =
                        AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).unwrap();
                    conn.revert_all_migrations(POSTGRES).unwrap();
                    conn.run_pending_migrations(POSTGRES).unwrap();
                }
            })
            .await
            .unwrap();
            // The schema is whole again: a fresh pool reads the (empty) runs table.
            let db = test_db.reconnect().await;
            let runs = db.read(|tx| Box::pin(async move { tx.runs().await })).await.unwrap();
            assert!(runs.is_empty(), "{}", test_db.name);
        }
    }
}
