//! Opening a database from its URL: the pools, per-connection SQLite setup, and the embedded
//! migrations applied under a lock.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use devflow_core::{Code, Error, Result};
use diesel::{Connection, RunQueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};

use crate::conn::{Lite, Pools};
use crate::file::{DbFile, create_private_file, open_sqlite};
use crate::migrate::{self, Failure};
use crate::url::{Target, parse, redact_url, scrub, secrets};
use crate::{Db, Inner};

/// SQLite has one writer at a time anyway; a few connections let reads run beside it.
const SQLITE_POOL_SIZE: usize = 4;
const POSTGRES_POOL_SIZE: usize = 16;
/// Serializes migrations of several devflow processes starting at once on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x0064_6576_666c_6f77; // "devflow"

const WHAT_TO_DO: &str =
    "check --db / DEVFLOW_DATABASE_URL; `devflow doctor` shows what devflow sees";

impl Db {
    /// `sqlite://PATH` (relative to the working directory, or absolute; `sqlite:///abs/path`
    /// also works; optional `?busy_timeout_ms=N`, default 5000) or `postgres://...` /
    /// `postgresql://...`. A SQLite file that does not exist is created. Applies the embedded
    /// migrations of that backend, and refuses a database that holds a migration this devflow
    /// does not know.
    pub async fn connect(url: &str) -> Result<Db> {
        let redacted = redact_url(url);
        let (pools, file) = match parse(url)? {
            Target::Sqlite { path, busy_timeout_ms } => {
                let (pools, file) = connect_sqlite(&path, busy_timeout_ms).await?;
                (pools, Some(file))
            }
            Target::Postgres { url } => (connect_postgres(&url, &redacted).await?, None),
        };
        let inner = Inner {
            pools,
            url: redacted,
            secrets: secrets(url),
            file,
            transactions: AtomicU64::new(0),
        };
        Ok(Db { inner: Arc::new(inner), fence: None })
    }

    /// Like [`Db::connect`], but a SQLite URL naming no file is refused instead of creating
    /// one: for commands that only read what a run left.
    pub async fn connect_existing(url: &str) -> Result<Db> {
        if let Target::Sqlite { path, .. } = parse(url)?
            && !path.exists()
        {
            return Err(Error::new(
                Code::DatabaseUnavailable,
                format!(
                    "no devflow database at {} (run `devflow run` or `devflow migrate` first, or pass --db)",
                    path.display()
                ),
            )
            .with_hint("a run's database is where `devflow run` put it: --db or DEVFLOW_DATABASE_URL, or .devflow/devflow.db in its worktree"));
        }
        Db::connect(url).await
    }
}

fn sqlite_unavailable(path: &Path, detail: &str) -> Error {
    Error::new(
        Code::DatabaseUnavailable,
        format!("cannot open SQLite database {}: {detail}", path.display()),
    )
    .with_hint(format!(
        "check that the path is a devflow database (or does not exist yet) and is writable; {WHAT_TO_DO}"
    ))
}

async fn connect_sqlite(path: &Path, busy_timeout_ms: u64) -> Result<(Pools, Arc<DbFile>)> {
    let unavailable = |detail: String| sqlite_unavailable(path, &detail);
    create_private_file(path).map_err(|error| unavailable(error.to_string()))?;

    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || -> std::result::Result<(), Failure> {
        let other = Failure::Other;
        // Two processes opening a new database at once would both see no migration table and
        // both create it. An exclusive lock on a file beside the database makes the second wait
        // and then find the migrations applied (SQLite's own locks cannot span diesel's
        // migration transactions).
        let lock_path = owned.with_extension("migrate.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|error| other(format!("cannot open {}: {error}", lock_path.display())))?;
        lock.lock()
            .map_err(|error| other(format!("cannot lock {}: {error}", lock_path.display())))?;
        let mut conn =
            open_sqlite(&owned, busy_timeout_ms).map_err(|error| other(error.to_string()))?;
        // WAL is a property of the file, set once here and not per connection; it cannot be
        // switched inside a transaction, hence outside the migrations.
        diesel::sql_query("PRAGMA journal_mode = WAL")
            .execute(&mut conn)
            .map_err(|error| other(error.to_string()))?;
        migrate::apply(&mut conn, migrate::SQLITE)
    })
    .await
    .map_err(|error| unavailable(error.to_string()))?
    .map_err(|failure| match failure {
        Failure::Newer(version) => migrate::newer(&path.display().to_string(), &version),
        Failure::Other(detail) => unavailable(detail),
    })?;

    let file = Arc::new(DbFile::record(path).map_err(|error| unavailable(error.to_string()))?);
    let (setup_path, setup_file) = (path.to_owned(), Arc::clone(&file));
    let mut config = ManagerConfig::<Lite>::default();
    // A file cannot vanish under an open connection; skipping the ping halves the cost of a step.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let (path, file) = (setup_path.clone(), Arc::clone(&setup_file));
        Box::pin(async move {
            let conn = tokio::task::spawn_blocking(move || open_sqlite(&path, busy_timeout_ms))
                .await
                .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))??;
            // A connection opened on whatever now lies at the path would write there.
            if !file.unchanged() {
                return Err(diesel::ConnectionError::BadConnection(
                    file.gone(None).message().to_owned(),
                ));
            }
            Ok(Lite::new(conn))
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path.to_string_lossy(), config);
    let pool = Pool::builder(manager)
        .max_size(SQLITE_POOL_SIZE)
        .build()
        .map_err(|error| unavailable(error.to_string()))?;
    Ok((Pools::Sqlite(pool), file))
}

async fn connect_postgres(url: &str, redacted: &str) -> Result<Pools> {
    let hidden = secrets(url);
    let unavailable = |detail: String| {
        Error::new(
            Code::DatabaseUnavailable,
            format!("cannot use PostgreSQL database {redacted}: {}", scrub(&detail, &hidden)),
        )
        .with_hint(format!(
            "check that the server is running and reachable, and that the database and user exist; {WHAT_TO_DO}"
        ))
    };
    let owned = url.to_owned();
    // diesel's migration harness is synchronous; the wrapper drives the async connection by
    // blocking on the runtime, which is allowed on a blocking-pool thread only.
    tokio::task::spawn_blocking(move || -> std::result::Result<(), Failure> {
        let other = |error: &dyn std::fmt::Display| Failure::Other(error.to_string());
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&owned)
            .map_err(|e| other(&e))?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)
            .map_err(|e| other(&e))?;
        let applied = migrate::apply(&mut conn, migrate::POSTGRES);
        // Closing the connection releases the advisory lock in any case.
        drop(conn);
        applied
    })
    .await
    .map_err(|error| unavailable(error.to_string()))?
    .map_err(|failure| match failure {
        Failure::Newer(version) => migrate::newer(redacted, &version),
        Failure::Other(detail) => unavailable(detail),
    })?;

    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    let pool = Pool::builder(manager)
        .max_size(POSTGRES_POOL_SIZE)
        .build()
        .map_err(|error| unavailable(error.to_string()))?;
    Ok(Pools::Postgres(pool))
}
