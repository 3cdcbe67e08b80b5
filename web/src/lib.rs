//! devflow-web: the attention layer. A web server over the event log (`devflow serve`): the
//! runs, a run's timeline, gates, artifacts and transcripts, a JSON API, live updates by
//! server-sent events, and decisions at gates made through the [`Driver`]; the notifier that
//! works off the outbox (`notify`); and the timeline drawing (`timeline`) that `devflow report`
//! writes to a file (`report`).
//!
//! It writes no SQL (it goes through devflow-db's API) and decides nothing itself: a decision
//! is a [`Driver`] call, exactly as `devflow approve` and `reject` make it.

mod api;
mod decide;
mod live;
mod pages;
mod routes;
mod security;
mod static_files;

pub mod notify;
pub mod report;
pub mod timeline;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use devflow_core::{Code, Error};
use devflow_db::Db;
use devflow_phase::Driver;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use security::Secret;

/// What [`DriverSource`] returns.
pub type DriverFuture = Pin<Box<dyn Future<Output = Result<Driver, Error>> + Send>>;

/// How the server gets a driver for a run: the command line builds it as `devflow approve`
/// does (over the tmux server of the run's own worktree, after checking its agents' commands).
pub type DriverSource = Arc<dyn Fn(&str) -> DriverFuture + Send + Sync>;

/// What `devflow serve` starts a server with.
pub struct Config {
    pub listen: SocketAddr,
    /// Who decides at a gate from the browser (`--as`, else the OS user).
    pub decided_by: String,
    pub db: Db,
    pub drivers: DriverSource,
}

/// What every request handler shares.
pub(crate) struct App {
    pub db: Db,
    pub drivers: DriverSource,
    pub decided_by: String,
    pub guard: security::Guard,
    pub live: live::Live,
    /// Runs being driven on after a decision from the browser.
    pub driving: Mutex<tokio::task::JoinSet<()>>,
    /// Cancelled when the server stops: live streams end, drives release their leases.
    pub shutdown: CancellationToken,
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    url: String,
}

impl Server {
    /// Binds the address and makes the secrets. Nothing is served until [`Server::run`].
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let listener = TcpListener::bind(config.listen).await.map_err(|error| {
            Error::new(Code::InvalidInput, format!("cannot listen on {}: {error}", config.listen))
                .with_hint("choose another address with --listen (say 127.0.0.1:7421)")
        })?;
        let addr = listener.local_addr().map_err(|error| {
            Error::new(Code::InvalidInput, format!("cannot read the listening address: {error}"))
        })?;
        let guard = security::Guard::new(addr);
        let url = format!("http://{}/?token={}", url_host(addr), guard.token().expose());
        let shutdown = CancellationToken::new();
        let live = live::Live::start(config.db.clone(), shutdown.clone());
        let app = App {
            db: config.db,
            drivers: config.drivers,
            decided_by: config.decided_by,
            guard,
            live,
            driving: Mutex::new(tokio::task::JoinSet::new()),
            shutdown,
        };
        Ok(Server { listener, app: Arc::new(app), url })
    }

    /// The URL to open, with its token: whoever has it can approve gates.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server listens beyond loopback (reachable from other machines).
    pub fn exposed(&self) -> bool {
        self.listener.local_addr().is_ok_and(|addr| !addr.ip().is_loopback())
    }

    /// Serves until `stop` is cancelled; then ends the live streams, lets each run driven from
    /// the browser release its lease, and returns.
    pub async fn run(self, stop: CancellationToken) -> Result<(), Error> {
        let app = Arc::clone(&self.app);
        let router = routes::router(Arc::clone(&app));
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = app.shutdown.clone();
        let stopping = async move {
            stop.cancelled().await;
            shutdown.cancel();
        };
        let served = axum::serve(self.listener, service).with_graceful_shutdown(stopping).await;
        app.shutdown.cancel();
        let mut driving = std::mem::take(&mut *app.driving.lock().expect("driving tasks"));
        while driving.join_next().await.is_some() {}
        served.map_err(|error| Error::new(Code::ServerFailed, format!("serving: {error}")))
    }
}

/// The host part of a URL for `addr` (an IPv6 address in brackets; the unspecified address as
/// loopback, which is where a person on this machine opens it).
fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => format!("127.0.0.1:{}", v4.port()),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => format!("[::1]:{}", v6.port()),
        other => other.to_string(),
    }
}
