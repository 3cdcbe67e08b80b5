//! `devflow serve [--listen ADDR] [--as NAME]`: the runs as live web pages with approve and
//! reject, a JSON API, and the notifier for every run (devflow-web does the work; this wires
//! it to the database, the drivers `approve` would build, and the terminal).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use devflow_core::Error;
use devflow_web::notify::{Notifier, Scope};
use devflow_web::{Config, DriverSource, Server};

use crate::args::Place;
use crate::context::{Context, decided_by, driver_for_run_on};
use crate::exit::{self, Status};
use crate::output::note;

pub async fn run(
    listen: SocketAddr,
    decided_by_name: Option<String>,
    place: &Place,
) -> Result<Status, Error> {
    let context = Context::new(place)?;
    let db = context.open_existing().await?;
    let server_db = db.clone();
    // A decision from the browser gets the driver `devflow approve` would: over the run's own
    // worktree and tmux server, after its agents' commands are checked.
    let drivers: DriverSource = Arc::new(move |run_id: &str| {
        let (db, id) = (server_db.clone(), run_id.to_owned());
        Box::pin(async move {
            let (driver, run) = driver_for_run_on(db, &id).await?;
            crate::programs::check_run_roles(driver.db(), &run).await?;
            Ok(driver)
        })
    });
    let name = decided_by_name.filter(|name| !name.trim().is_empty()).unwrap_or_else(decided_by);
    let config = Config { listen, decided_by: name.clone(), db: db.clone(), drivers };
    let server = Server::bind(config).await?;
    if server.exposed() {
        note(&format!(
            "devflow: WARNING: listening on {listen}, beyond this machine. Anyone who can reach it \
             and has the token in the URL below can approve gates, and so make agents run code; \
             the traffic is plain HTTP, so the token can be read on the network."
        ));
    }
    out!("{}", server.url());
    note(&format!(
        "devflow: serving the runs of {} (decisions as {name}); Ctrl-C stops",
        context.db_label()
    ));
    let notifier = Notifier::new(db, Scope::Every, super::driving::user_notify()).spawn();
    let (stop, signals) = crate::signals::cancel_on_interrupt();
    let served = server.run(stop).await;
    signals.abort();
    notifier.finish(Duration::from_secs(5)).await;
    served.map(|()| exit::COMPLETED)
}
