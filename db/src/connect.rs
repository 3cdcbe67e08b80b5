//! Opening a database from its URL: per-connection SQLite setup, pools, and the embedded migrations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use devflow_core::{Code, Error, Result};
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::conn::{Lite, Pools};
use crate::error::redact_url;
use crate::{Db, Inner};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// SQLite has one writer at a time anyway; a few connections let reads run beside it.
const SQLITE_POOL_SIZE: usize = 4;
const POSTGRES_POOL_SIZE: usize = 16;
const SQLITE_BUSY_TIMEOUT_MS: u64 = 5000;
/// An unreachable host should fail `connect` in seconds, not hang it.
const POSTGRES_CONNECT_TIMEOUT_S: u32 = 10;
/// Serializes migrations of several devflow processes starting at once on one PostgreSQL database.
const MIGRATION_LOCK_KEY: i64 = 0x0064_6576_666c_6f77; // "devflow"

const WHAT_TO_DO: &str =
    "check --db / DEVFLOW_DATABASE_URL; `devflow doctor` shows what devflow sees";

enum Target {
    Sqlite { path: PathBuf, busy_timeout_ms: u64 },
    Postgres { url: String },
}

impl Db {
    /// `sqlite://PATH` (relative or absolute; `sqlite:///abs/path` also works; optional
    /// `?busy_timeout_ms=N`, default 5000) or `postgres://...` / `postgresql://...`.
    /// Applies the embedded migrations of that backend.
    pub async fn connect(url: &str) -> Result<Db> {
        let redacted = redact_url(url);
        let pools = match parse(url)? {
            Target::Sqlite { path, busy_timeout_ms } => {
                connect_sqlite(&path, busy_timeout_ms).await?
            }
            Target::Postgres { url } => connect_postgres(&url, &redacted).await?,
        };
        Ok(Db { inner: Arc::new(Inner { pools, url: redacted, transactions: AtomicU64::new(0) }) })
    }
}

fn parse(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let url = if url.contains("connect_timeout=") {
            url.to_owned()
        } else {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}connect_timeout={POSTGRES_CONNECT_TIMEOUT_S}")
        };
        return Ok(Target::Postgres { url });
    }
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return Err(Error::new(
            Code::InvalidInput,
            format!("unknown database URL {:?}", redact_url(url)),
        )
        .with_hint(
            "use sqlite://PATH (e.g. sqlite://.devflow/devflow.db) or postgres://USER@HOST/DB",
        ));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(Error::new(Code::InvalidInput, format!("database URL {url:?} names no file"))
            .with_hint("devflow needs a SQLite file that outlives it: sqlite://PATH"));
    }
    let mut busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("busy_timeout_ms", value)) => {
                busy_timeout_ms = value.parse().map_err(|_| {
                    Error::new(
                        Code::InvalidInput,
                        format!(
                            "busy_timeout_ms={value:?} in {url:?} is not a number of milliseconds"
                        ),
                    )
                })?;
            }
            _ => {
                return Err(Error::new(
                    Code::InvalidInput,
                    format!("unknown parameter {pair:?} in SQLite URL {url:?}"),
                )
                .with_hint("the only parameter is busy_timeout_ms=N"));
            }
        }
    }
    Ok(Target::Sqlite { path: PathBuf::from(path), busy_timeout_ms })
}

async fn connect_sqlite(path: &Path, busy_timeout_ms: u64) -> Result<Pools> {
    let unavailable = |detail: String| {
        Error::new(
            Code::DatabaseUnavailable,
            format!("cannot open SQLite database {}: {detail}", path.display()),
        )
        .with_hint(format!(
            "check that the path is a devflow database (or does not exist yet) and is writable; {WHAT_TO_DO}"
        ))
    };
    create_private_file(path).map_err(|error| unavailable(error.to_string()))?;

    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
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
            .map_err(|error| format!("cannot open {}: {error}", lock_path.display()))?;
        lock.lock().map_err(|error| format!("cannot lock {}: {error}", lock_path.display()))?;
        let mut conn = open_sqlite(&owned, busy_timeout_ms).map_err(|error| error.to_string())?;
        // WAL is a property of the file, set once here and not per connection; it cannot be
        // switched inside a transaction, hence outside the migrations.
        diesel::sql_query("PRAGMA journal_mode = WAL")
            .execute(&mut conn)
            .map_err(|error| error.to_string())?;
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|_| ())
            .map_err(|error| format!("applying migrations failed: {error}"))
    })
    .await
    .map_err(|error| unavailable(error.to_string()))?
    .map_err(unavailable)?;

    let setup_path = path.to_owned();
    let mut config = ManagerConfig::<Lite>::default();
    // A file cannot vanish under an open connection; skipping the ping halves the cost of a step.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_url| {
        let path = setup_path.clone();
        Box::pin(async move {
            let conn = tokio::task::spawn_blocking(move || open_sqlite(&path, busy_timeout_ms))
                .await
                .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))??;
            Ok(Lite::new(conn))
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(path.to_string_lossy(), config);
    let pool = Pool::builder(manager)
        .max_size(SQLITE_POOL_SIZE)
        .build()
        .map_err(|error| unavailable(error.to_string()))?;
    Ok(Pools::Sqlite(pool))
}

/// Creates the database file, and any missing parent folder, readable by its owner only:
/// prompts, transcripts and artifacts in it can hold anything the agents saw.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// One SQLite connection with devflow's settings. `busy_timeout` comes first so that the
/// statements after it already wait for a lock instead of failing.
fn open_sqlite(path: &Path, busy_timeout_ms: u64) -> diesel::ConnectionResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    for pragma in [
        format!("PRAGMA busy_timeout = {busy_timeout_ms}"),
        "PRAGMA foreign_keys = ON".to_owned(),
        // A commit is on disk when it returns; that costs a fraction of a millisecond here.
        "PRAGMA synchronous = FULL".to_owned(),
    ] {
        diesel::connection::SimpleConnection::batch_execute(&mut conn, &pragma)
            .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))?;
    }
    Ok(conn)
}

async fn connect_postgres(url: &str, redacted: &str) -> Result<Pools> {
    let unavailable = |detail: String| {
        Error::new(
            Code::DatabaseUnavailable,
            format!("cannot use PostgreSQL database {redacted}: {detail}"),
        )
        .with_hint(format!(
            "check that the server is running and reachable, and that the database and user exist; {WHAT_TO_DO}"
        ))
    };
    let owned = url.to_owned();
    // diesel's migration harness is synchronous; the wrapper drives the async connection by
    // blocking on the runtime, which is allowed on a blocking-pool thread only.
    tokio::task::spawn_blocking(move || -> std::result::Result<(), String> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&owned)
            .map_err(|error| error.to_string())?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .execute(&mut conn)
            .map_err(|error| error.to_string())?;
        let applied = conn
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|_| ())
            .map_err(|error| format!("applying migrations failed: {error}"));
        // Closing the connection releases the advisory lock in any case.
        drop(conn);
        applied
    })
    .await
    .map_err(|error| unavailable(error.to_string()))?
    .map_err(unavailable)?;

    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    let pool = Pool::builder(manager)
        .max_size(POSTGRES_POOL_SIZE)
        .build()
        .map_err(|error| unavailable(error.to_string()))?;
    Ok(Pools::Postgres(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every down.sql undoes its up.sql: revert all migrations, then apply them again.
    #[cfg(feature = "test-support")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_revert_and_apply_again_on_every_backend() {
        for test_db in crate::testing::backends().await {
            let url = test_db.url.clone();
            tokio::task::spawn_blocking(move || match parse(&url).unwrap() {
                Target::Sqlite { path, .. } => {
                    let mut conn = open_sqlite(&path, SQLITE_BUSY_TIMEOUT_MS).unwrap();
                    conn.revert_all_migrations(SQLITE_MIGRATIONS).unwrap();
                    conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
                }
                Target::Postgres { url } => {
                    let mut conn =
                        AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url).unwrap();
                    conn.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap();
                    conn.run_pending_migrations(POSTGRES_MIGRATIONS).unwrap();
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

    fn sqlite_path(url: &str) -> (PathBuf, u64) {
        match parse(url).unwrap() {
            Target::Sqlite { path, busy_timeout_ms } => (path, busy_timeout_ms),
            Target::Postgres { .. } => panic!("{url} parsed as postgres"),
        }
    }

    #[test]
    fn sqlite_urls_name_relative_and_absolute_files() {
        assert_eq!(
            sqlite_path("sqlite://.devflow/devflow.db").0,
            PathBuf::from(".devflow/devflow.db")
        );
        assert_eq!(sqlite_path("sqlite:///tmp/x.db").0, PathBuf::from("/tmp/x.db"));
        assert_eq!(sqlite_path("sqlite:x.db?busy_timeout_ms=50"), (PathBuf::from("x.db"), 50));
    }

    #[test]
    fn bad_urls_are_invalid_input() {
        for url in ["mysql://x", "x.db", "sqlite://", "sqlite://:memory:", "sqlite://x.db?mode=ro"]
        {
            assert_eq!(parse(url).err().map(|e| e.code()), Some(Code::InvalidInput), "{url}");
        }
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout() {
        let Target::Postgres { url } = parse("postgres://u@h/db").unwrap() else { panic!() };
        assert_eq!(url, "postgres://u@h/db?connect_timeout=10");
        let Target::Postgres { url } = parse("postgres://u@h/db?sslmode=disable").unwrap() else {
            panic!()
        };
        assert_eq!(url, "postgres://u@h/db?sslmode=disable&connect_timeout=10");
    }
}
