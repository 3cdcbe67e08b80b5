//! The phase runner's files import only files below them in the reading order that
//! ARCHITECTURE.md gives, so the runner reads top-down and has no import cycles.

use std::path::Path;

use super::read;
use crate::project_root;

/// The line of ARCHITECTURE.md that gives the order.
const ORDER_LINE: &str = "Reading order of `phase/src/runner/`";

#[test]
fn runner_files_import_only_files_below_them() {
    let root = project_root();
    let order = reading_order(&read(&root.join("ARCHITECTURE.md")));
    let folder = root.join("phase/src/runner");
    let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".rs").map(str::to_owned))
        .collect();
    on_disk.push("runner".to_owned());
    on_disk.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "ARCHITECTURE.md's reading order must list every runner file");
    let mut offenders = Vec::new();
    for (position, name) in order.iter().enumerate() {
        let path = match name.as_str() {
            "runner" => root.join("phase/src/runner.rs"),
            file => folder.join(format!("{file}.rs")),
        };
        for imported in imports(&path, name == "runner") {
            match order.iter().position(|other| *other == imported) {
                Some(at) if at < position => {
                    offenders.push(format!("{name}.rs imports {imported}"))
                }
                // Not a runner file (std, a crate), or the file itself (a macro's own path).
                _ => {}
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a runner file imports one above it in ARCHITECTURE.md's reading order:\n  {}",
        offenders.join("\n  ")
    );
}

/// The file names, in order, of the backquoted list on the order line.
fn reading_order(architecture: &str) -> Vec<String> {
    let start = architecture.find(ORDER_LINE).expect("ARCHITECTURE.md gives the runner's order");
    let paragraph = &architecture[start + ORDER_LINE.len()..];
    let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect()
}

/// The runner files `path` uses: `super::x` in a child, `x::` of `mod x` in the root, and
/// `crate::runner::x` in a macro — in code, not in comments.
fn imports(path: &Path, root: bool) -> Vec<String> {
    let mut found = Vec::new();
    for line in read(path).lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let prefixes: &[&str] = if root { &["use "] } else { &["super::", "crate::runner::"] };
        for prefix in prefixes {
            for rest in code.split(prefix).skip(1) {
                let name: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let is_module = rest[name.len()..].starts_with("::");
                if !name.is_empty() && is_module && !found.contains(&name) {
                    found.push(name);
                }
            }
        }
    }
    found
}
