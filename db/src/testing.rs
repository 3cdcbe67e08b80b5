//! Fresh databases for tests, on every backend this machine offers (feature `test-support`).
//!
//! Every db and phase test is written once and run on each `TestDb` from `backends()`: a new
//! SQLite file always, and a new PostgreSQL database when `DEVFLOW_TEST_DATABASE_URL` names a
//! server. A missing server is never a silent pass: under `CI=true` it fails, locally it says so.

use std::io::Write;
use std::sync::Once;

use diesel::Connection as _;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::Db;
use crate::url::redact_url;

/// The server the PostgreSQL tests create their databases on (`cargo xtask test` sets it).
pub const DATABASE_URL_VAR: &str = "DEVFLOW_TEST_DATABASE_URL";

/// One fresh database and a `Db` connected to it.
pub struct TestDb {
    pub db: Db,
    /// "sqlite" or "postgres".
    pub name: &'static str,
    pub url: String,
    /// Keeps the SQLite file's folder alive as long as the test holds this value.
    _tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).field("url", &self.url).finish()
    }
}

impl TestDb {
    /// A fresh SQLite database in its own temporary folder.
    pub async fn sqlite() -> TestDb {
        let tmp = tempfile::tempdir().expect("create a temporary folder");
        let url = format!("sqlite://{}", tmp.path().join("devflow.db").display());
        TestDb {
            db: Db::connect(&url).await.expect("open a fresh SQLite database"),
            name: "sqlite",
            url,
            _tmp: Some(tmp),
        }
    }

    /// A fresh database `devflow_t_<uuid>` on the PostgreSQL server at `server_url`.
    pub async fn postgres(server_url: &str) -> TestDb {
        let name = format!("devflow_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(server_url).await.unwrap_or_else(|error| {
            panic!("{DATABASE_URL_VAR}: cannot connect to {}: {error}", redact_url(server_url))
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|error| {
                panic!("CREATE DATABASE {name} on {}: {error}", redact_url(server_url))
            });
        let url = with_database(server_url, &name);
        TestDb {
            db: Db::connect(&url).await.expect("open a fresh PostgreSQL database"),
            name: "postgres",
            url,
            _tmp: None,
        }
    }

    /// Another connection pool to the same database (for race tests and for re-entry in a
    /// child process).
    pub async fn reconnect(&self) -> Db {
        Db::connect(&self.url)
            .await
            .unwrap_or_else(|error| panic!("reconnect to {}: {error}", redact_url(&self.url)))
    }
}

/// The backends a test runs on: always a fresh SQLite file; a fresh PostgreSQL database when
/// `DEVFLOW_TEST_DATABASE_URL` is set. Unset, this panics under `CI=true` and otherwise prints
/// a loud SKIPPED line (once per process) and returns SQLite only.
pub async fn backends() -> Vec<TestDb> {
    let mut backends = vec![TestDb::sqlite().await];
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => backends.push(TestDb::postgres(url.trim()).await),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!(
            "PostgreSQL tests required under CI: set {DATABASE_URL_VAR} or run `cargo xtask test`"
        ),
        _ => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                // Straight to the process's stderr: the test harness captures `eprintln!` of
                // passing tests, and this line must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED: PostgreSQL tests ({DATABASE_URL_VAR} unset; run cargo xtask test) ***\n"
                );
            });
        }
    }
    backends
}

/// Makes the database at `url` look as if a newer devflow had migrated it: a row for
/// migration `version`, which this devflow does not know, in diesel's migration table.
pub async fn add_unknown_migration(url: &str, version: &str) {
    let insert = format!(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('{}')",
        version.replace('\'', "")
    );
    on_database(url, insert).await;
}

/// The migration versions the database at `url` records as applied, sorted.
pub async fn applied_migrations(url: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let select =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version");
    let rows: Vec<Version> = match crate::url::parse(url).expect("a database URL") {
        crate::url::Target::Sqlite { path, .. } => tokio::task::spawn_blocking(move || {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::RunQueryDsl::load(select, &mut conn).unwrap()
        })
        .await
        .unwrap(),
        crate::url::Target::Postgres { url } => {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            select.load(&mut conn).await.unwrap()
        }
    };
    rows.into_iter().map(|row| row.version).collect()
}

/// Runs one statement on the database at `url`, outside devflow's pools.
async fn on_database(url: &str, sql: String) {
    match crate::url::parse(url).expect("a database URL") {
        crate::url::Target::Sqlite { path, .. } => tokio::task::spawn_blocking(move || {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::RunQueryDsl::execute(diesel::sql_query(sql), &mut conn).unwrap();
        })
        .await
        .unwrap(),
        crate::url::Target::Postgres { url } => {
            let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
            diesel::sql_query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

/// `server_url` with its database name replaced by `database`, query string kept.
fn with_database(server_url: &str, database: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let authority = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{authority}/{database}?{query}"),
        None => format!("{authority}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:54329/postgres", "t1"),
            "postgres://postgres@127.0.0.1:54329/t1"
        );
        assert_eq!(with_database("postgres://u:p@h", "t1"), "postgres://u:p@h/t1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
