//! Where a notification goes: a command (the document as JSON on its stdin, nothing of it in
//! its argv), a webhook (POSTed as JSON over HTTP, with an `Idempotency-Key`), the desktop
//! (`notify-send`, with only devflow's own words and the run id in its argv). Each is bounded
//! by a timeout; a command is stopped with its whole process group when it runs over.

use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use devflow_phase::notify::Notify;
use http_body_util::Full;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a sink's error keeps of a command's stderr.
const STDERR_BYTES_KEPT: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sink {
    Command { name: String, argv: Vec<String> },
    Webhook { name: String, url: String },
    Desktop,
}

impl Sink {
    /// The sinks `notify` names, called `{origin}.command` and `{origin}.webhook` (and one
    /// `desktop`), the names the outbox records delivery under.
    pub fn of(origin: &str, notify: &Notify) -> Vec<Sink> {
        let mut sinks = Vec::new();
        if let Some(argv) = notify.command.clone().filter(|argv| !argv.is_empty()) {
            sinks.push(Sink::Command { name: format!("{origin}.command"), argv });
        }
        if let Some(url) = notify.webhook.clone() {
            sinks.push(Sink::Webhook { name: format!("{origin}.webhook"), url });
        }
        if notify.desktop {
            sinks.push(Sink::Desktop);
        }
        sinks
    }

    pub fn name(&self) -> &str {
        match self {
            Sink::Command { name, .. } | Sink::Webhook { name, .. } => name,
            Sink::Desktop => "desktop",
        }
    }

    pub async fn send(&self, document: &Value, key: &str, timeout: Duration) -> Result<(), String> {
        let body = serde_json::to_vec(document).map_err(|error| error.to_string())?;
        match self {
            Sink::Command { argv, .. } => command(argv, &body, timeout).await,
            Sink::Webhook { url, .. } => tokio::time::timeout(timeout, post(url, body, key))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis()))),
            Sink::Desktop => desktop(document, timeout).await,
        }
    }
}

/// Runs `argv` with `stdin` on its stdin; success is exit status 0 within `timeout`.
// The one place devflow runs a notification hook (ARCHITECTURE.md, "Processes").
#[allow(clippy::disallowed_methods)]
async fn command(argv: &[String], stdin: &[u8], timeout: Duration) -> Result<(), String> {
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // The database URL may hold a password; a hook has no use for it.
        .env_remove("DEVFLOW_DATABASE_URL")
        .env_remove("PGPASSWORD")
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot start {:?}: {error}", argv[0]))?;
    let group = child.id();
    let mut input = child.stdin.take();
    let mut errors = child.stderr.take();
    let run = async {
        if let Some(input) = input.as_mut() {
            // A hook that does not read its stdin is no failure: its exit status says.
            let _ = input.write_all(stdin).await;
        }
        drop(input);
        let mut text = Vec::new();
        if let Some(errors) = errors.as_mut() {
            let _ = errors.take(64 * 1024).read_to_end(&mut text).await;
        }
        (child.wait().await, text)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), stderr)) => {
            let text = String::from_utf8_lossy(&stderr);
            let tail = text.trim().chars().rev().take(STDERR_BYTES_KEPT).collect::<Vec<_>>();
            let tail: String = tail.into_iter().rev().collect();
            Err(format!(
                "{status}{}",
                if tail.is_empty() { String::new() } else { format!(": {tail}") }
            ))
        }
        Ok((Err(error), _)) => Err(format!("waiting for it: {error}")),
        Err(_) => {
            if let Some(pid) = group.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            Err(format!("still running after {} ms: stopped", timeout.as_millis()))
        }
    }
}

/// POSTs `body` to an `http://` URL; success is a 2xx answer.
async fn post(url: &str, body: Vec<u8>, key: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|error| format!("{url:?} is not a URL: {error}"))?;
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host().trim_matches(['[', ']']), port))
        .await
        .map_err(|error| format!("cannot connect to {authority}: {error}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake with {authority}: {error}"))?;
    let connection = tokio::spawn(connection);
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let request = Request::post(path)
        .header(header::HOST, authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "devflow")
        .header("idempotency-key", header_safe(key))
        .body(Full::new(Bytes::from(body)))
        .map_err(|error| error.to_string())?;
    let answer = sender.send_request(request).await.map_err(|error| format!("POST {url}: {error}"));
    connection.abort();
    let status = answer?.status();
    if status.is_success() { Ok(()) } else { Err(format!("POST {url}: HTTP {status}")) }
}

/// The key as a header value: as it is when it is printable ASCII, else its SHA-256.
fn header_safe(key: &str) -> String {
    if !key.is_empty() && key.bytes().all(|byte| (0x21..0x7f).contains(&byte)) {
        key.to_owned()
    } else {
        devflow_core::hash_bytes(key.as_bytes())
    }
}

/// `notify-send` where it exists (nothing to do where it does not). Its argv holds devflow's
/// own words and the run id only, with every character outside a run id's left out.
async fn desktop(document: &Value, timeout: Duration) -> Result<(), String> {
    let Some(program) = find_on_path("notify-send") else {
        tracing::debug!("no notify-send on PATH: no desktop notification");
        return Ok(());
    };
    let run: String = document["run"]["id"]
        .as_str()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    let what = match document["topic"].as_str() {
        Some("gate_opened") => "waits for you at a gate",
        Some("agent_needs_input") => "has an agent that needs input",
        Some("run_failed") => "failed",
        Some("run_completed") => "completed",
        _ => "has news",
    };
    let argv = vec![
        program,
        "--app-name=devflow".to_owned(),
        "--".to_owned(),
        format!("devflow: run {run}"),
        format!("The run {what}."),
    ];
    command(&argv, b"", timeout).await
}

fn find_on_path(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .map(|found| found.display().to_string())
}
