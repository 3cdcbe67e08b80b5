//! Tidy tests: what review would check by hand, checked by `cargo test` (rust-analyzer's tidy).
//!
//! Every failure names the offending file, so that the fix is obvious from the message alone.
//! The manifests are read as text: they are ours and plain, so a small reader of
//! `[dependencies]`-like sections is enough, and no TOML crate is needed.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{migrate, project_root};

mod events;
mod processes;
mod runner_order;

/// The folders holding the workspace's Rust sources.
const SOURCE_FOLDERS: &[&str] =
    &["core", "db", "session", "agent-sim", "phase", "web", "cli", "stub", "xtask"];

/// Each devflow crate with its folder and the devflow crates it may depend on: the arrows of
/// `core <- {db, session} <- phase <- web <- cli`, and `session <- agent-sim <- cli` (the simulated
/// agent plays scenarios of session's vocabulary). `db` and `session` do not know each other;
/// `web` (the attention layer) drives agents only through phase's Driver, so it does not know
/// `session` either.
const LAYERS: &[(&str, &str, &[&str])] = &[
    ("core", "devflow-core", &[]),
    ("db", "devflow-db", &["devflow-core"]),
    ("session", "devflow-session", &["devflow-core"]),
    ("agent-sim", "devflow-agent-sim", &["devflow-core", "devflow-session"]),
    ("phase", "devflow-phase", &["devflow-core", "devflow-db", "devflow-session"]),
    ("web", "devflow-web", &["devflow-core", "devflow-db", "devflow-phase"]),
    (
        "cli",
        "devflow",
        &[
            "devflow-core",
            "devflow-db",
            "devflow-session",
            "devflow-agent-sim",
            "devflow-phase",
            "devflow-web",
        ],
    ),
];

/// Crates that speak SQL: only devflow-db may use them.
const SQL_CRATES: &[&str] = &["diesel", "diesel-async", "diesel_migrations", "libsqlite3-sys"];

#[test]
fn every_rust_file_starts_with_a_doc_comment() {
    let offenders: Vec<String> = rust_files()
        .into_iter()
        .filter(|file| !read(file).starts_with("//!"))
        .map(|file| relative(&file))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not start with a `//!` line saying what they own:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn migration_folders_are_in_step() {
    let report = migrate::check(&project_root());
    assert!(
        report.problems.is_empty(),
        "migrations/sqlite and migrations/postgres must hold the same migrations, each with \
         up.sql and down.sql:\n  {}",
        report.problems.join("\n  ")
    );
}

#[test]
fn core_knows_nothing_of_tokio_or_sql() {
    let forbidden: Vec<&str> = [&["tokio"], SQL_CRATES].concat();
    let offenders: Vec<String> =
        dependencies("core").into_iter().filter(|dep| forbidden.contains(&dep.as_str())).collect();
    assert!(
        offenders.is_empty(),
        "core/Cargo.toml: devflow-core does no I/O and must not depend on {}",
        offenders.join(", ")
    );
}

#[test]
fn only_db_depends_on_diesel() {
    let mut offenders = Vec::new();
    for (folder, package, _) in LAYERS.iter().filter(|(folder, ..)| *folder != "db") {
        for dep in dependencies(folder) {
            if SQL_CRATES.contains(&dep.as_str()) {
                offenders.push(format!("{folder}/Cargo.toml: {package} depends on {dep}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only devflow-db writes SQL; go through its API instead:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn dependencies_point_one_way() {
    let mut offenders = Vec::new();
    for (folder, package, allowed) in LAYERS {
        for dep in dependencies(folder) {
            let is_devflow = dep == "devflow" || dep.starts_with("devflow-");
            // A dev-dependency on itself (to turn on a feature in tests) is no edge.
            if is_devflow && dep != *package && !allowed.contains(&dep.as_str()) {
                offenders.push(format!("{folder}/Cargo.toml: {package} depends on {dep}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "dependencies point one way, core <- {{db, session}} <- phase <- web <- cli, and db \
         and session do not know each other:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn manifests_name_the_packages_of_the_layers() {
    // Guards the table above: a renamed package would silently escape the checks.
    for (folder, package, _) in LAYERS {
        let manifest = read(&project_root().join(folder).join("Cargo.toml"));
        let expected = format!("name = \"{package}\"");
        assert!(
            manifest.lines().any(|line| line.trim() == expected),
            "{folder}/Cargo.toml: expected the package to be named {package}; update LAYERS in \
             xtask/src/tidy.rs if it was renamed on purpose"
        );
    }
}

#[test]
fn no_ignored_tests_and_no_unfinished_code() {
    // Spelled in pieces so that this file does not trip its own check.
    let patterns = [
        (concat!("#[", "ignore"), "an ignored test proves nothing; make it run or delete it"),
        (concat!("todo", "!("), "unfinished code"),
        (concat!("unimplemented", "!("), "unfinished code"),
    ];
    let mut offenders = Vec::new();
    for file in rust_files() {
        for (number, line) in read(&file).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (pattern, why) in patterns {
                if line.contains(pattern) {
                    offenders.push(format!(
                        "{}:{}: {pattern}…: {why}",
                        relative(&file),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// diesel's `.first()` and `.limit(n)` bind the row limit (`LIMIT ?`). SQLite (3.53, bundled)
/// reads a bound LIMIT while planning, so rebinding it expires the prepared statement and every
/// execution parses and plans the query again (14% of the benchmark's CPU, measured). Lookups by a
/// unique key need no limit (`get_result` takes the first row).
#[test]
fn queries_bind_no_row_limit() {
    let mut offenders = Vec::new();
    for file in
        rust_files().into_iter().filter(|file| file.starts_with(project_root().join("db/src")))
    {
        for (number, line) in read(&file).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains(".first(") || code.contains(".limit(") {
                offenders.push(format!(
                    "{}:{}: a bound LIMIT re-prepares the statement on every SQLite execution; use get_result",
                    relative(&file),
                    number + 1
                ));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The packages a crate depends on, in any dependency section of its manifest (normal, dev,
/// build, target-specific), under their package names (`package = "…"` renames resolved).
fn dependencies(folder: &str) -> Vec<String> {
    let path = project_root().join(folder).join("Cargo.toml");
    parse_dependencies(&read(&path))
}

fn parse_dependencies(manifest: &str) -> Vec<String> {
    let mut deps: Vec<String> = Vec::new();
    // In a `[dependencies]` section; or in a `[dependencies.NAME]` table, with its index in `deps`.
    let mut in_list = false;
    let mut in_table: Option<usize> = None;
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            in_list = is_dependency_section(header);
            in_table = None;
            if let Some((section, name)) = header.rsplit_once('.')
                && is_dependency_section(section)
            {
                deps.push(unquote(name));
                in_table = Some(deps.len() - 1);
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if in_list {
            // `name = "1"`, `name = { package = "x", … }`, `name.workspace = true`.
            let name = key.split('.').next().unwrap_or(key);
            deps.push(package_of(value).unwrap_or_else(|| unquote(name)));
        } else if let Some(index) = in_table
            && key == "package"
        {
            deps[index] = unquote(value.trim());
        }
    }
    deps
}

fn is_dependency_section(header: &str) -> bool {
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .any(|kind| header == *kind || header.ends_with(&format!(".{kind}")))
}

/// The `package = "…"` of an inline table, if any.
fn package_of(value: &str) -> Option<String> {
    let after = value.split_once("package")?.1.trim_start().strip_prefix('=')?;
    let quoted = after.trim_start().strip_prefix('"')?;
    Some(quoted.split('"').next()?.to_string())
}

fn unquote(text: &str) -> String {
    text.trim().trim_matches('"').trim_matches('\'').to_string()
}

/// Every `.rs` file under the source folders, outside `target/` and hidden folders.
fn rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let root = project_root();
    for folder in SOURCE_FOLDERS {
        collect_rust_files(&root.join(folder), &mut files);
    }
    files.sort();
    assert!(files.len() > SOURCE_FOLDERS.len(), "found too few .rs files under {}", root.display());
    files
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root()).unwrap_or(path).display().to_string()
}

#[test]
fn dependency_reader_understands_our_manifests() {
    let manifest = r#"
[package]
name = "x"

[dependencies]
devflow-core.workspace = true
serde = { version = "1", features = ["derive"] }
tok = { package = "tokio", version = "1" }

[dependencies.diesel]
version = "2"

[dependencies.pg]
package = "diesel-async"

[target.'cfg(unix)'.dependencies]
libc = "0.2"

[dev-dependencies]
tempfile.workspace = true

[features]
fail = ["dep:fail"]
"#;
    assert_eq!(
        parse_dependencies(manifest),
        ["devflow-core", "serde", "tokio", "diesel", "diesel-async", "libc", "tempfile"]
    );
}
