//! One place for the helpers: a stub with a log, a request sent through its router, a
//! server-sent event stream parsed back, a fixture read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use devflow_model_stub::{Stub, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A stub whose ground-truth log is in a temporary folder.
pub struct World {
    dir: tempfile::TempDir,
    stub: Arc<Stub>,
}

/// An answer: its status, content type and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `(event name, data)` pairs of a server-sent event stream.
    pub fn events(&self) -> Vec<(Option<String>, Value)> {
        assert_eq!(self.content_type, "text/event-stream", "{self:?}");
        let mut events = Vec::new();
        for block in self.body.split("\n\n").filter(|block| !block.trim().is_empty()) {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            let data =
                if data == "[DONE]" { Value::Null } else { serde_json::from_str(&data).unwrap() };
            events.push((name, data));
        }
        events
    }
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let stub = Arc::new(Stub::new(Some(dir.path().join("prompts.jsonl")), None));
        World { dir, stub }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("prompts.jsonl")
    }

    /// Every line of the ground-truth log.
    pub fn log(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Answer {
        let request = Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = router(self.stub.clone()).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, content_type, body: String::from_utf8(bytes.to_vec()).unwrap() }
    }
}

/// A request body as the CLI sent it: `tests/fixtures/<cli>/<name>`.
pub fn fixture(cli: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(cli).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}
