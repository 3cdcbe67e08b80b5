//! The routes, every one behind the security check (`security::check`).

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::{App, api, decide, live, pages, security, static_files};

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::runs))
        .route("/parts/runs", get(pages::runs_parts))
        .route("/runs/{id}", get(pages::run::page))
        .route("/parts/runs/{id}", get(pages::run::parts_only))
        .route("/runs/{id}/decide", post(decide::decide))
        .route("/live", get(live::stream))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/api/runs/{id}/events", get(api::events))
        .route("/static/style.css", get(static_files::style))
        .route("/static/live.js", get(static_files::live_js))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), security::check))
        .with_state(app)
}
