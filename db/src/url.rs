//! Database URLs: which backend and file a URL names, how a relative SQLite path is placed, and
//! the URL (and any text about it) with its password hidden, which is the only form that is
//! ever printed, logged or stored.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result};

const SQLITE_BUSY_TIMEOUT_MS: u64 = 5000;
/// An unreachable host should fail `connect` in seconds, not hang it.
const POSTGRES_CONNECT_TIMEOUT_S: u32 = 10;
/// What stands in for a password.
const HIDDEN: &str = "***";

/// What a URL names.
pub(crate) enum Target {
    Sqlite { path: PathBuf, busy_timeout_ms: u64 },
    Postgres { url: String },
}

pub(crate) fn parse(url: &str) -> Result<Target> {
    if is_postgres(url) {
        let url = if url.contains("connect_timeout=") {
            url.to_owned()
        } else {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}connect_timeout={POSTGRES_CONNECT_TIMEOUT_S}")
        };
        return Ok(Target::Postgres { url });
    }
    let shown = redact_url(url);
    let Some((path, query)) = sqlite_parts(url) else {
        return Err(Error::new(Code::InvalidInput, format!("unknown database URL {shown:?}"))
            .with_hint(
                "use sqlite://PATH (e.g. sqlite://.devflow/devflow.db) or postgres://USER@HOST/DB",
            ));
    };
    if path.is_empty() || path == ":memory:" {
        return Err(Error::new(
            Code::InvalidInput,
            format!("database URL {shown:?} names no file"),
        )
        .with_hint("devflow needs a SQLite file that outlives it: sqlite://PATH"));
    }
    let mut busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let Some(("busy_timeout_ms", value)) = pair.split_once('=') else {
            return Err(Error::new(
                Code::InvalidInput,
                format!("unknown parameter {pair:?} in SQLite URL {shown:?}"),
            )
            .with_hint("the only parameter is busy_timeout_ms=N"));
        };
        busy_timeout_ms = value.parse().map_err(|_| {
            Error::new(
                Code::InvalidInput,
                format!("busy_timeout_ms={value:?} in {shown:?} is not a number of milliseconds"),
            )
        })?;
    }
    Ok(Target::Sqlite { path: PathBuf::from(path), busy_timeout_ms })
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The path and the query of a SQLite URL, as written.
fn sqlite_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split_once('?').unwrap_or((rest, "")))
}

/// The file a SQLite URL names, as written (relative paths stay relative); `None` for any
/// other URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    sqlite_parts(url).filter(|(path, _)| !path.is_empty()).map(|(path, _)| PathBuf::from(path))
}

/// `url` with a relative SQLite path placed under `base` (`sqlite://x.db` becomes
/// `sqlite://<base>/x.db`); absolute paths and every other URL are returned unchanged.
pub fn resolve_sqlite(url: &str, base: &Path) -> String {
    match sqlite_parts(url) {
        Some((path, query)) if !path.is_empty() && path != ":memory:" => {
            let path = Path::new(path);
            if path.is_absolute() {
                return url.to_owned();
            }
            let query = if query.is_empty() { String::new() } else { format!("?{query}") };
            format!("sqlite://{}{query}", base.join(path).display())
        }
        _ => url.to_owned(),
    }
}

/// A URL safe to print: the password of its user info, and any `password=` or `sslpassword=`
/// parameter, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut shown = redact_user_info(head);
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_password_key(key) => format!("{key}={HIDDEN}"),
                _ => pair.to_owned(),
            })
            .collect();
        shown = format!("{shown}?{}", pairs.join("&"));
    }
    shown
}

fn redact_user_info(head: &str) -> String {
    let Some((scheme, rest)) = head.split_once("://") else {
        return head.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return head.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:{HIDDEN}@{host}{tail}"),
        None => head.to_owned(),
    }
}

fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
}

/// The secrets a URL carries, raw and percent-decoded: what [`scrub`] hides.
pub(crate) fn secrets(url: &str) -> Vec<String> {
    let (head, query) = url.split_once('?').unwrap_or((url, ""));
    let mut found = Vec::new();
    if let Some((_, rest)) = head.split_once("://") {
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            found.push(password.to_owned());
        }
    }
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && is_password_key(key)
        {
            found.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = found.iter().map(|secret| percent_decoded(secret)).collect();
    found.extend(decoded);
    found.retain(|secret| !secret.is_empty());
    found.sort_unstable_by_key(|secret| std::cmp::Reverse(secret.len()));
    found.dedup();
    found
}

/// `text` with every secret replaced by `***`: for messages from a driver or a server, which
/// may quote what they were given.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), HIDDEN))
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes.get(at + 1..at + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[at], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_nothing_else_changes() {
        assert_eq!(
            redact_url("postgres://bob:s3cr@t@db.example:5432/devflow?sslmode=require"),
            "postgres://bob:***@db.example:5432/devflow?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://bob@db.example/devflow"),
            "postgres://bob@db.example/devflow"
        );
        assert_eq!(
            redact_url("postgresql://bob@h/db?password=s3cret&sslmode=require"),
            "postgresql://bob@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@h?SSLPassword=k"),
            "postgres://u:***@h?SSLPassword=***"
        );
        assert_eq!(redact_url("sqlite://.devflow/devflow.db"), "sqlite://.devflow/devflow.db");
    }

    #[test]
    fn secrets_are_scrubbed_raw_and_decoded() {
        let secrets = secrets("postgres://u:s3%40cret@h/db?password=other");
        let text = "auth failed for s3%40cret, s3@cret and other";
        assert_eq!(scrub(text, &secrets), "auth failed for ***, *** and ***");
        assert!(super::secrets("postgres://u@h/db").is_empty());
    }

    fn sqlite(url: &str) -> (PathBuf, u64) {
        match parse(url).unwrap() {
            Target::Sqlite { path, busy_timeout_ms } => (path, busy_timeout_ms),
            Target::Postgres { .. } => panic!("{url} parsed as postgres"),
        }
    }

    #[test]
    fn sqlite_urls_name_relative_and_absolute_files() {
        assert_eq!(sqlite("sqlite://.devflow/devflow.db").0, PathBuf::from(".devflow/devflow.db"));
        assert_eq!(sqlite("sqlite:///tmp/x.db").0, PathBuf::from("/tmp/x.db"));
        assert_eq!(sqlite("sqlite:x.db?busy_timeout_ms=50"), (PathBuf::from("x.db"), 50));
        assert_eq!(sqlite_path("sqlite:x.db?busy_timeout_ms=50"), Some(PathBuf::from("x.db")));
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[test]
    fn a_relative_sqlite_path_is_placed_under_the_base() {
        let base = Path::new("/work/tree");
        assert_eq!(resolve_sqlite("sqlite://x/y.db", base), "sqlite:///work/tree/x/y.db");
        assert_eq!(
            resolve_sqlite("sqlite:y.db?busy_timeout_ms=5", base),
            "sqlite:///work/tree/y.db?busy_timeout_ms=5"
        );
        assert_eq!(resolve_sqlite("sqlite:///abs/y.db", base), "sqlite:///abs/y.db");
        assert_eq!(resolve_sqlite("postgres://u@h/db", base), "postgres://u@h/db");
        assert_eq!(resolve_sqlite("sqlite://", base), "sqlite://");
    }

    #[test]
    fn bad_urls_are_invalid_input() {
        for url in ["mysql://x", "x.db", "sqlite://", "sqlite://:memory:", "sqlite://x.db?mode=ro"]
        {
            assert_eq!(parse(url).err().map(|e| e.code()), Some(Code::InvalidInput), "{url}");
        }
        let error = parse("mysql://u:s3cret@h/db").err().unwrap();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn postgres_urls_get_a_connect_timeout() {
        let Target::Postgres { url } = parse("postgres://u@h/db").unwrap() else { panic!() };
        assert_eq!(url, "postgres://u@h/db?connect_timeout=10");
        let Target::Postgres { url } = parse("postgres://u@h/db?sslmode=disable").unwrap() else {
            panic!()
        };
        assert_eq!(url, "postgres://u@h/db?sslmode=disable&connect_timeout=10");
    }
}
