//! What every command starts from: the worktree, the database, and (to drive) the tmux agents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devflow_core::{Code, Error};
use devflow_db::Db;
use devflow_phase::Driver;

use crate::args::Place;

pub struct Context {
    pub worktree: PathBuf,
    pub db_url: String,
}

impl Context {
    pub fn new(place: &Place) -> Result<Context, Error> {
        let worktree = match &place.worktree {
            Some(dir) => dir.clone(),
            None => std::env::current_dir()
                .map_err(|error| invalid(format!("no current directory: {error}")))?,
        };
        let worktree = worktree.canonicalize().map_err(|error| {
            invalid(format!("worktree {} cannot be opened: {error}", worktree.display()))
                .with_hint("pass an existing directory with --worktree")
        })?;
        let db_url = place
            .db
            .clone()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| default_db_url(&worktree));
        Ok(Context { worktree, db_url })
    }

    /// The SQLite database file the URL names (`sqlite://PATH`, relative to the current
    /// directory as the database opens it); `None` for PostgreSQL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self
            .db_url
            .strip_prefix("sqlite://")
            .or_else(|| self.db_url.strip_prefix("sqlite:"))?;
        let path = rest.split_once('?').map_or(rest, |(path, _)| path);
        Some(PathBuf::from(path)).filter(|path| !path.as_os_str().is_empty())
    }

    pub fn devflow_dir(&self) -> PathBuf {
        self.worktree.join(".devflow")
    }

    pub async fn connect(&self) -> Result<Db, Error> {
        Db::connect(&self.db_url).await
    }

    /// A driver over this worktree's tmux server.
    pub async fn driver(&self) -> Result<Driver, Error> {
        let db = self.connect().await?;
        let adapter = crate::tmux::adapter(&self.worktree)?;
        let mut driver = Driver::new(db, Arc::new(adapter))
            .with_notice(Arc::new(|text: &str| eprintln!("devflow: {text}")));
        if let Ok(exe) = std::env::current_exe() {
            driver = driver.with_devflow_exe(exe);
        }
        Ok(driver)
    }
}

pub fn default_db_url(worktree: &Path) -> String {
    format!("sqlite://{}", worktree.join(".devflow").join("devflow.db").display())
}

/// Who decides at a gate: `$USER`, or `devflow`.
pub fn decided_by() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        .unwrap_or_else(|| "devflow".to_owned())
}

pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Code::InvalidInput, message)
}
