//! The stylesheet and the live-update script, compiled into devflow and served by it: the
//! pages fetch nothing from anywhere else and work offline.

use axum::http::header;
use axum::response::IntoResponse;

/// The one stylesheet; `devflow report` inlines it.
pub(crate) const STYLE: &str = include_str!("static_files/style.css");
const LIVE_JS: &str = include_str!("static_files/live.js");

pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

pub(crate) async fn live_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], LIVE_JS)
}
