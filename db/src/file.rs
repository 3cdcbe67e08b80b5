//! The SQLite file under a `Db`: created private, opened with devflow's settings, and watched.
//!
//! An open SQLite connection keeps writing to its file after the file is deleted or replaced
//! (renamed over): every commit would land in an inode no path names, and the run's history
//! would vanish when devflow exits. So the file's identity (device and inode) is recorded when
//! the pool opens, every write checks before it commits that the path still names that file
//! (one `stat`), and a connection opened later must find it there too. When it is gone, the
//! first step that notices saves a copy of the file that was there (`VACUUM INTO`, through a
//! connection that still has it open) and every step fails with `database_unavailable`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use devflow_core::{Code, Error};
use diesel::{Connection, SqliteConnection};

use crate::conn::{Conn, Tx};
use crate::lane::blocking;

/// The file a SQLite `Db` was opened on.
pub(crate) struct DbFile {
    /// Absolute, symlinks not resolved: the path SQLite opens.
    path: PathBuf,
    device: u64,
    inode: u64,
    /// The copy saved of the file that was there, once a step has found it gone.
    saved: tokio::sync::Mutex<Option<Result<PathBuf, String>>>,
}

impl DbFile {
    /// Records the identity of the file at `path`, which exists.
    pub(crate) fn record(path: &Path) -> std::io::Result<DbFile> {
        let path = std::path::absolute(path)?;
        let meta = std::fs::metadata(&path)?;
        Ok(DbFile {
            path,
            device: meta.dev(),
            inode: meta.ino(),
            saved: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether the path still names the file the pool opened.
    pub(crate) fn unchanged(&self) -> bool {
        std::fs::metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.device && meta.ino() == self.inode)
    }

    /// The error of a step that found the file gone. The first one saves a copy of the file
    /// that was there through `tx`, whose connection still has it open (its transaction is
    /// over); later ones report that copy.
    pub(crate) async fn lost(&self, tx: &mut Tx) -> Error {
        let mut saved = self.saved.lock().await;
        if saved.is_none() {
            let copy = self.save_copy(tx).await;
            if copy.is_ok() {
                self.remove_its_log();
            }
            *saved = Some(copy);
        }
        self.gone(saved.as_ref())
    }

    /// Removes the write-ahead log and its index that belonged to the file that was there,
    /// once its history is saved: a database created at the path later would read them as its
    /// own (SQLite pairs a log with a database by name only). This process's connections keep
    /// them open, so nothing they do changes.
    fn remove_its_log(&self) {
        for suffix in ["-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
    }

    /// The error for a file found gone; `saved` is the copy, if a step tried to make one.
    pub(crate) fn gone(&self, saved: Option<&Result<PathBuf, String>>) -> Error {
        let path = self.path.display();
        let (where_it_is, hint) = match saved {
            Some(Ok(copy)) => (
                format!("devflow saved a copy of it at {}", copy.display()),
                format!(
                    "to go on with the run, put that copy back at {path} and `devflow resume` it"
                ),
            ),
            Some(Err(why)) => (
                format!(
                    "devflow could not save a copy of it ({why}), and it is gone when this devflow exits"
                ),
                format!(
                    "if the file was moved, put it back at {path} and `devflow resume` the run"
                ),
            ),
            None => (
                "it is still open in the devflow process that was using it".to_owned(),
                format!(
                    "if the file was moved, put it back at {path} and `devflow resume` the run"
                ),
            ),
        };
        Error::new(
            Code::DatabaseUnavailable,
            format!(
                "the database file {path} was deleted or replaced while devflow was using it; the run's history is in the file that was there: {where_it_is}"
            ),
        )
        .with_hint(hint)
    }

    /// `VACUUM INTO` a new private file beside the database, or in the temporary folder when
    /// the database's folder is gone too.
    async fn save_copy(&self, tx: &mut Tx) -> Result<PathBuf, String> {
        let name = format!(
            "{}.rescued-{}",
            self.path.file_name().map_or("devflow.db".into(), |name| name.to_string_lossy()),
            crate::now_ms()
        );
        let folders = [self.path.parent().map(Path::to_path_buf), Some(std::env::temp_dir())];
        let mut why = String::from("no folder to write it to");
        for folder in folders.into_iter().flatten() {
            let copy = folder.join(&name);
            match vacuum_into(tx, &copy).await {
                Ok(()) => return Ok(copy),
                Err(error) => {
                    let _ = std::fs::remove_file(&copy);
                    why = format!("{}: {error}", copy.display());
                }
            }
        }
        Err(why)
    }
}

async fn vacuum_into(tx: &mut Tx, copy: &Path) -> Result<(), String> {
    create_private_file(copy).map_err(|error| error.to_string())?;
    let target = copy.to_string_lossy().into_owned();
    let Conn::Sqlite(object) = tx.conn_mut() else {
        return Err("not a SQLite database".to_owned());
    };
    let query = diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(target);
    blocking(diesel_async::RunQueryDsl::execute(query, &mut **object))
        .await
        .map(drop)
        .map_err(|error| error.to_string())
}

/// Creates the database file, and any missing parent folder, readable by its owner only:
/// prompts, transcripts and artifacts in it can hold anything the agents saw.
pub(crate) fn create_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// One SQLite connection with devflow's settings. `busy_timeout` comes first so that the
/// statements after it already wait for a lock instead of failing.
pub(crate) fn open_sqlite(
    path: &Path,
    busy_timeout_ms: u64,
) -> diesel::ConnectionResult<SqliteConnection> {
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
