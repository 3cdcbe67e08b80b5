//! Server-sent events: a whole answer sent as one `text/event-stream` body.
//!
//! The answers are small and decided before the first byte, so the events go out in one body;
//! each CLI parses the stream event by event either way.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// `event:` (when named) and `data:` lines, one blank line after each event.
pub fn stream(events: &[(Option<&str>, Value)]) -> Response {
    let mut body = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            body.push_str(&format!("event: {name}\n"));
        }
        body.push_str(&format!("data: {data}\n\n"));
    }
    raw(body)
}

/// A body already in event-stream form.
pub fn raw(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}
