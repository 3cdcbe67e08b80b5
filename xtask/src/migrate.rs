//! `cargo xtask migrate`: the two migration folders stay in step; `migrate new NAME` adds a pair.
//!
//! devflow-db embeds `migrations/sqlite` and `migrations/postgres` and applies the one of the
//! backend it connects to, so both must hold the same migrations, in the same order, under the
//! same names (diesel's `<version>_<name>` folders with `up.sql` and `down.sql`).

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Result, project_root};

/// The migration folders under `migrations/`, one per backend.
pub const BACKENDS: [&str; 2] = ["sqlite", "postgres"];

/// What `check` found: the migration names, and everything that is wrong with them.
#[derive(Debug, Default)]
pub struct Report {
    pub names: Vec<String>,
    pub problems: Vec<String>,
}

/// Compares `migrations/sqlite` and `migrations/postgres` under `root`.
pub fn check(root: &Path) -> Report {
    let mut report = Report::default();
    let mut folders: Vec<BTreeSet<String>> = Vec::new();
    for backend in BACKENDS {
        let dir = root.join("migrations").join(backend);
        match migration_names(&dir) {
            Ok(names) => folders.push(names),
            Err(error) => {
                report.problems.push(format!("cannot read migrations/{backend}: {error}"));
                folders.push(BTreeSet::new());
            }
        }
    }
    let all: BTreeSet<&String> = folders.iter().flatten().collect();
    for name in all {
        if !is_diesel_name(name) {
            report.problems.push(format!(
                "{name}: not a diesel migration name `<version>_<name>` (version: digits and \
                 dashes, e.g. 2026-11-24-120000_create_runs)"
            ));
        }
        for (backend, names) in BACKENDS.iter().zip(&folders) {
            if !names.contains(name) {
                let other = BACKENDS.iter().find(|b| *b != backend).expect("two backends");
                report.problems.push(format!(
                    "migrations/{other}/{name} has no counterpart migrations/{backend}/{name}"
                ));
                continue;
            }
            for file in ["up.sql", "down.sql"] {
                let path = root.join("migrations").join(backend).join(name).join(file);
                if !path.is_file() {
                    report.problems.push(format!("migrations/{backend}/{name}/{file} is missing"));
                }
            }
        }
        report.names.push(name.clone());
    }
    report
}

/// The migration folders of one backend (hidden entries and plain files are not migrations).
fn migration_names(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.insert(name);
        }
    }
    Ok(names)
}

fn is_diesel_name(name: &str) -> bool {
    match name.split_once('_') {
        Some((version, rest)) => {
            !version.is_empty()
                && !rest.is_empty()
                && version.chars().all(|c| c.is_ascii_digit() || c == '-')
        }
        None => false,
    }
}

pub fn run(rest: &[String]) -> Result<ExitCode> {
    match rest.split_first() {
        None => check_command(),
        Some((new, args)) if new == "new" => match args {
            [name] => new_command(name),
            _ => Err("usage: cargo xtask migrate new NAME (lowercase letters, digits, _)".into()),
        },
        Some((other, _)) => Err(format!(
            "unknown `cargo xtask migrate {other}`: use `cargo xtask migrate` (check) or \
             `cargo xtask migrate new NAME`"
        )),
    }
}

fn check_command() -> Result<ExitCode> {
    let report = check(&project_root());
    if !report.problems.is_empty() {
        let problems = report.problems.join("\n  ");
        return Err(format!("migrations/sqlite and migrations/postgres differ:\n  {problems}"));
    }
    if report.names.is_empty() {
        return Err("migrations/sqlite and migrations/postgres hold no migrations yet; \
                    devflow-db needs its schema (create one with `cargo xtask migrate new NAME`)"
            .into());
    }
    let count = match report.names.len() {
        1 => "1 migration".to_string(),
        n => format!("{n} migrations"),
    };
    println!(
        "checked migrations/sqlite and migrations/postgres: {count}, the same in both, each \
         with up.sql and down.sql"
    );
    for name in &report.names {
        println!("  {name}");
    }
    Ok(ExitCode::SUCCESS)
}

fn new_command(name: &str) -> Result<ExitCode> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(format!("`{name}`: a migration name is lowercase letters, digits and _"));
    }
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| format!("the clock is before 1970: {e}"))?
        .as_secs();
    let folder = format!("{}_{name}", diesel_version(seconds));
    let root = project_root();
    for backend in BACKENDS {
        let dir = root.join("migrations").join(backend).join(&folder);
        fs::create_dir_all(dir.parent().expect("a parent"))
            .and_then(|()| fs::create_dir(&dir))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (file, what) in [("up.sql", "the change"), ("down.sql", "undoes up.sql")] {
            let text = format!("-- {folder} ({backend}): {what}.\n");
            let path = dir.join(file);
            fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        println!("created migrations/{backend}/{folder}/{{up.sql,down.sql}}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD-HHMMSS` in UTC, as `diesel migration generate` names its folders.
fn diesel_version(epoch_seconds: u64) -> String {
    let days = (epoch_seconds / 86_400) as i64;
    let seconds_of_day = epoch_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}-{:02}{:02}{:02}",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_utc_timestamps() {
        assert_eq!(diesel_version(0), "1970-01-01-000000");
        // 2000-02-29 (a leap day of a century divisible by 400), 23:59:59.
        assert_eq!(diesel_version(951_868_799), "2000-02-29-235959");
        assert_eq!(diesel_version(1_795_478_400 + 3_723), "2026-11-24-010203");
    }

    #[test]
    fn diesel_names() {
        assert!(is_diesel_name("2026-11-24-120000_create_runs"));
        assert!(is_diesel_name("00000000000000_init"));
        assert!(!is_diesel_name("create_runs"));
        assert!(!is_diesel_name("2026-11-24-120000_"));
        assert!(!is_diesel_name("2026-11-24-120000"));
    }

    #[test]
    fn check_names_each_difference() {
        let root = std::env::temp_dir().join(format!("xtask-migrate-{}", std::process::id()));
        let write = |path: &str| {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "-- x\n").unwrap();
        };
        write("migrations/sqlite/1_a/up.sql");
        write("migrations/sqlite/1_a/down.sql");
        write("migrations/postgres/1_a/up.sql");
        write("migrations/sqlite/2_b/up.sql");
        write("migrations/sqlite/2_b/down.sql");
        let report = check(&root);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(report.names, ["1_a", "2_b"]);
        assert_eq!(
            report.problems,
            [
                "migrations/postgres/1_a/down.sql is missing",
                "migrations/sqlite/2_b has no counterpart migrations/postgres/2_b",
            ]
        );
    }
}
