//! What every command starts from: the worktree, the database, and (to drive) the tmux agents.
//!
//! A relative `sqlite://` path is placed under the worktree, not under the process's current
//! directory. A command about an existing run takes the run's worktree (and so its tmux
//! server) from the run's row, never from where it was called: `approve --db …` from anywhere
//! drives the agents where they are.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devflow_core::{Code, Error};
use devflow_db::{Db, RunRow};
use devflow_phase::Driver;

use crate::args::Place;

pub struct Context {
    pub worktree: PathBuf,
    /// The database URL, a relative SQLite path placed under the worktree. It may hold a
    /// password: print [`Context::db_label`] instead.
    db_url: String,
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
        let db_url = match place.db.as_deref().filter(|url| !url.is_empty()) {
            Some(url) => devflow_db::resolve_sqlite(url, &worktree),
            None => default_db_url(&worktree),
        };
        Ok(Context { worktree, db_url })
    }

    pub fn devflow_dir(&self) -> PathBuf {
        self.worktree.join(".devflow")
    }

    /// The database URL as it may be printed: any password hidden.
    pub fn db_label(&self) -> String {
        devflow_db::redact_url(&self.db_url)
    }

    /// The SQLite file the URL names, if it is one.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        devflow_db::sqlite_path(&self.db_url)
    }

    /// Opens the database, creating a SQLite file that is not there (`run`, `migrate`, `init`).
    pub async fn connect(&self) -> Result<Db, Error> {
        Db::connect(&self.db_url).await
    }

    /// Opens a database that exists: commands about runs never create one.
    pub async fn open_existing(&self) -> Result<Db, Error> {
        Db::connect_existing(&self.db_url).await
    }

    /// A driver over this worktree's tmux server, for a new run (`devflow run`). tmux is
    /// checked before the database is opened, so a refusal writes nothing.
    pub async fn driver(&self) -> Result<Driver, Error> {
        let adapter = crate::tmux::adapter(&self.worktree)?;
        Ok(driver_on(self.connect().await?, adapter))
    }

    /// The run's row and a driver over the tmux server of the run's own worktree.
    pub async fn driver_for_run(&self, run_id: &str) -> Result<(Driver, RunRow), Error> {
        driver_for_run_on(self.open_existing().await?, run_id).await
    }
}

/// The run's row and a driver over the tmux server of the run's own worktree, on a database
/// already open (`devflow serve` drives many runs over one).
pub async fn driver_for_run_on(db: Db, run_id: &str) -> Result<(Driver, RunRow), Error> {
    let run = read_run(&db, run_id).await?;
    Ok((driver_for_row(db, &run)?, run))
}

/// A driver over the tmux server of `run`'s own worktree (a worker builds one per run).
pub fn driver_for_row(db: Db, run: &RunRow) -> Result<Driver, Error> {
    let worktree = Path::new(&run.worktree);
    if !worktree.is_dir() {
        let here = devflow_phase::driver::hostname();
        return Err(invalid(format!(
            "run {}'s worktree {} does not exist any more on this host ({here})",
            run.id,
            worktree.display()
        ))
        .with_hint("devflow drives the run's agents there and copies no worktree between hosts: restore it (on another host: a shared folder or a clone at the same path), then try again"));
    }
    let adapter = crate::tmux::adapter(worktree)?;
    Ok(driver_on(db, adapter))
}

fn driver_on(db: Db, adapter: devflow_session::tmux::TmuxAdapter) -> Driver {
    // A move of the run's agents (one its workflow allows, or `resume --move-agents`) is
    // recorded as the person's who ran the command; a worker records its own name instead.
    let mut driver = Driver::new(db, Arc::new(adapter))
        .with_notice(Arc::new(|text: &str| crate::output::note(&format!("devflow: {text}"))))
        .acting_for(decided_by());
    if let Ok(exe) = std::env::current_exe() {
        driver = driver.with_devflow_exe(exe);
    }
    driver
}

/// The run's row, or `run_not_found`.
pub async fn read_run(db: &Db, run_id: &str) -> Result<RunRow, Error> {
    let id = run_id.to_owned();
    let run = db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
    run.ok_or_else(|| not_found(run_id))
}

pub fn not_found(run_id: &str) -> Error {
    Error::new(Code::RunNotFound, format!("run {run_id} does not exist in this database"))
        .with_hint("`devflow status` lists the runs; pass --db or --worktree if it lives elsewhere")
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
