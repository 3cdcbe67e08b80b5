//! What every request looked like (`--capture DIR`), and the minimal answers to routes no CLI
//! needs anything real from.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Stub;

/// Largest request body the stub reads (a CLI's request carries its whole conversation).
pub const BODY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Writes each request to `DIR/NNNN-<method>-<path>.json`.
#[derive(Debug)]
pub struct Capture {
    dir: PathBuf,
    next: AtomicU64,
}

impl Capture {
    pub fn new(dir: PathBuf) -> Capture {
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        Capture { dir, next: AtomicU64::new(1) }
    }

    fn write(&self, method: &Method, uri: &str, headers: Value, body: &[u8]) {
        let seq = self.next.fetch_add(1, Ordering::SeqCst);
        let path: String = uri
            .split('?')
            .next()
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let body = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let record =
            json!({ "method": method.as_str(), "uri": uri, "headers": headers, "body": body });
        let file = self.dir.join(format!("{seq:04}-{method}-{path}.json"));
        let text = serde_json::to_string_pretty(&record).expect("JSON prints");
        let _ = std::fs::write(file, text);
    }
}

/// Middleware: logs every request line to stderr and, with `--capture`, saves it whole.
pub async fn record(State(stub): State<Arc<Stub>>, request: Request, next: Next) -> Response {
    eprintln!("devflow-model-stub: {} {}", request.method(), request.uri());
    let Some(capture) = &stub.capture else { return next.run(request).await };
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_MAX_BYTES).await.unwrap_or_else(|_| Bytes::new());
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (name.to_string(), Value::String(String::from_utf8_lossy(value.as_bytes()).into()))
        })
        .collect();
    capture.write(&parts.method, &parts.uri.to_string(), Value::Object(headers), &bytes);
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// `GET /v1/models`: one model, in a shape both Anthropic's and OpenAI's clients accept.
pub async fn models() -> Json<Value> {
    let model = json!({
        "id": "stub-model", "object": "model", "type": "model", "display_name": "Stub model",
        "created": 0, "created_at": "2025-01-01T00:00:00Z", "owned_by": "devflow",
    });
    Json(json!({
        "object": "list", "data": [model], "models": [],
        "has_more": false, "first_id": "stub-model", "last_id": "stub-model",
    }))
}

/// Anything else: a HEAD or GET gets an empty 200 so that no CLI waits on a check; other
/// methods a 404 that says what the stub does not know.
pub async fn fallback(method: Method, uri: axum::http::Uri) -> Response {
    if method == Method::GET || method == Method::HEAD {
        return (StatusCode::OK, Json(json!({}))).into_response();
    }
    let message = format!("devflow-model-stub does not serve {method} {uri}");
    (StatusCode::NOT_FOUND, Json(json!({ "error": { "type": "not_found", "message": message } })))
        .into_response()
}
