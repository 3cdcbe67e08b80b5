//! Who may talk to the server, checked on every request before any handler runs: the `Host`
//! header names this server (so a DNS-rebinding page on another name gets nothing), the secret
//! token comes in the URL or the cookie made from it (HttpOnly, SameSite=Strict), and a POST
//! carries the CSRF token of the pages. What a page can do — approve a gate — makes agents
//! run code, so a request that fails any check is refused before it can change anything.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// A random secret of 256 bits, as hex; never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn random() -> Secret {
        let bytes: [u8; 32] = rand::random();
        Secret(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time that does not depend on where the texts differ.
    pub fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The server's secrets and the address it answers for.
#[derive(Debug)]
pub(crate) struct Guard {
    token: Secret,
    csrf: Secret,
    addr: SocketAddr,
}

impl Guard {
    pub fn new(addr: SocketAddr) -> Guard {
        Guard { token: Secret::random(), csrf: Secret::random(), addr }
    }

    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// What every form of the pages carries.
    pub fn csrf(&self) -> &Secret {
        &self.csrf
    }

    /// One cookie per port: two servers on one machine do not log each other out.
    fn cookie_name(&self) -> String {
        format!("devflow_token_{}", self.addr.port())
    }

    /// Whether a `Host` header names this server: `localhost` or an IP address of it, with
    /// its port. Only names that no DNS answer can change are accepted, which is what defeats
    /// DNS rebinding; a server on every address (`0.0.0.0`) accepts any IP address.
    pub fn host_allowed(&self, host: &str) -> bool {
        let Some((name, port)) = split_host(host) else { return false };
        if port != self.addr.port() {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let Ok(ip) = name.parse::<IpAddr>() else { return false };
        let listen = self.addr.ip();
        listen.is_unspecified() || ip == listen || (listen.is_loopback() && ip.is_loopback())
    }

    /// The token a request offers in its query, its cookie or an `Authorization: Bearer`.
    fn offered<'r>(&self, request: &'r Request) -> (Option<String>, Option<&'r str>) {
        let query = request.uri().query().and_then(|query| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == "token")
                .map(|(_, value)| value.to_owned())
        });
        let headers = request.headers();
        let cookie = cookie(headers, &self.cookie_name()).or_else(|| bearer(headers));
        (query, cookie)
    }
}

/// `name:port` or `[v6]:port`; a Host without a port means port 80.
fn split_host(host: &str) -> Option<(&str, u16)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((name, port));
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name, port.parse().ok()?)),
        None => Some((host, 80)),
    }
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// The middleware: refuses what fails a check, turns a valid token in a page's URL into the
/// cookie (and the URL without it), and adds the headers that keep pages to themselves.
pub(crate) async fn check(
    State(app): State<std::sync::Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let guard = &app.guard;
    let host = request.headers().get(header::HOST).and_then(|host| host.to_str().ok());
    if !host.is_some_and(|host| guard.host_allowed(host)) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this devflow serve does not answer for that host name; open the URL it printed",
        );
    }
    let (query, cookie) = guard.offered(&request);
    let from_query = query.as_deref().is_some_and(|token| guard.token.matches(token));
    let from_cookie = cookie.is_some_and(|token| guard.token.matches(token));
    if !from_query && !from_cookie {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this page needs the token in the URL that `devflow serve` printed",
        );
    }
    if request.method() == Method::POST && !same_origin(&request, guard) {
        return refuse(StatusCode::FORBIDDEN, "a decision must come from a page of this server");
    }
    let is_api = request.uri().path().starts_with("/api/");
    if from_query && !is_api && request.method() == Method::GET {
        return into_cookie(guard, request.uri().path());
    }
    let mut response = next.run(request).await;
    harden(response.headers_mut());
    response
}

/// A POST's `Origin` (when the browser sends one) must be this server.
fn same_origin(request: &Request, guard: &Guard) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    origin.strip_prefix("http://").is_some_and(|host| guard.host_allowed(host))
}

/// Sets the cookie and sends the browser to the same page without the token in its URL, so
/// the token stays out of the history and of what a page can read.
fn into_cookie(guard: &Guard, path: &str) -> Response {
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/",
        guard.cookie_name(),
        guard.token.expose()
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/")),
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    harden(headers);
    response
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    let mut response = (status, format!("{why}\n")).into_response();
    harden(response.headers_mut());
    response
}

/// Scripts and styles only from this server, no frames, no referrer to other sites, nothing cached: a page
/// shows what agents wrote, and nothing they wrote may run or leak the token.
fn harden(headers: &mut HeaderMap) {
    let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                  connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null`
    // with a form, and the origin check could not tell this server's pages from a sandbox.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests;
