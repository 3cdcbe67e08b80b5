//! `cargo xtask agents`: the four real agent CLIs, pinned, installed into `target/agents/`.
//!
//! Never globally: Claude Code, Codex CLI and Gemini CLI come from the npm registry with
//! `npm ci` of the lockfile kept in `xtask/agents/`, Aider from PyPI into a venv of its own
//! (`aider-chat` pins every dependency of its own exactly). `target/agents/bin/` holds one link
//! per CLI: the folder to put on `PATH`. A second run compares each part's stamp (the lockfile,
//! the pinned requirement and the Python that made the venv) and installs nothing when they
//! match.
//!
//! Install scripts are not run (`npm ci --ignore-scripts`): Gemini CLI's optional `node-pty`
//! and `keytar` would build native code or fetch prebuilt binaries from outside the registry
//! (it uses `@lydell/node-pty`'s prebuilt package and a file keychain without them). The one
//! script that is needed, Claude Code's `install.cjs`, only copies the native binary of the
//! platform package npm already installed over its `bin/claude.exe` placeholder; it is run by
//! hand, offline.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::{Result, project_root};

/// The pinned Aider; every dependency of it is pinned exactly by the package itself.
const AIDER_REQUIREMENT: &str = "aider-chat==0.86.2";
/// What `xtask/agents/package.json` pins (`npm ci` keeps to its lockfile exactly).
const PACKAGE_JSON: &str = include_str!("../agents/package.json");
const PACKAGE_LOCK: &str = include_str!("../agents/package-lock.json");

/// Each CLI: its name on `PATH`, and where it is inside the cache.
const CLIS: [(&str, &str); 4] = [
    ("claude", "npm/node_modules/.bin/claude"),
    ("codex", "npm/node_modules/.bin/codex"),
    ("gemini", "npm/node_modules/.bin/gemini"),
    ("aider", "aider/bin/aider"),
];

const USAGE: &str = "usage: cargo xtask agents install | path";

pub fn run(rest: &[String]) -> Result<ExitCode> {
    match rest.split_first() {
        Some((task, tail)) if task == "install" => {
            crate::no_more_args("agents install", tail)?;
            install()?;
            Ok(ExitCode::SUCCESS)
        }
        Some((task, tail)) if task == "path" => {
            crate::no_more_args("agents path", tail)?;
            println!("{}", bin_dir().display());
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(USAGE.into()),
    }
}

/// `target/agents/`: under the gitignored target folder, so `cargo clean` removes it too.
pub fn cache_dir() -> PathBuf {
    project_root().join("target").join("agents")
}

/// The folder to put on `PATH`: one link per CLI.
pub fn bin_dir() -> PathBuf {
    cache_dir().join("bin")
}

fn install() -> Result<()> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|error| io_error("create", &cache, error))?;
    install_npm(&cache.join("npm"))?;
    install_aider(&cache.join("aider"))?;
    link_bins(&cache)?;
    println!("xtask: the agent CLIs are in {}", bin_dir().display());
    println!("export PATH=\"{}:$PATH\"", bin_dir().display());
    for (name, _) in CLIS {
        println!("{name}: {}", version(&bin_dir().join(name))?);
    }
    Ok(())
}

/// Claude Code, Codex CLI and Gemini CLI, exactly as the lockfile says.
fn install_npm(dir: &Path) -> Result<()> {
    let stamp = format!("{PACKAGE_JSON}\n{PACKAGE_LOCK}");
    if is_stamped(dir, &stamp) {
        println!("xtask: npm packages up to date ({})", dir.display());
        return Ok(());
    }
    println!("xtask: installing Claude Code, Codex CLI and Gemini CLI into {}", dir.display());
    // A half-finished earlier try must not be taken for an installation.
    remove_stamp(dir)?;
    std::fs::create_dir_all(dir).map_err(|error| io_error("create", dir, error))?;
    write(&dir.join("package.json"), PACKAGE_JSON)?;
    write(&dir.join("package-lock.json"), PACKAGE_LOCK)?;
    let mut npm = Command::new("npm");
    npm.args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix"]).arg(dir);
    run_checked(&mut npm, "npm ci (is Node.js with npm installed?)")?;
    // Claude Code's own postinstall: copies the platform binary over the placeholder, offline.
    let claude = dir.join("node_modules/@anthropic-ai/claude-code");
    let mut postinstall = Command::new("node");
    postinstall.arg("install.cjs").current_dir(&claude);
    run_checked(&mut postinstall, "Claude Code's install.cjs")?;
    write(&dir.join(STAMP), &stamp)
}

/// Aider, in a venv of its own.
fn install_aider(dir: &Path) -> Result<()> {
    let python = python_version()?;
    let stamp = format!("{AIDER_REQUIREMENT}\n{python}");
    if is_stamped(dir, &stamp) {
        println!("xtask: Aider up to date ({})", dir.display());
        return Ok(());
    }
    println!("xtask: installing {AIDER_REQUIREMENT} into a venv at {}", dir.display());
    // A venv cannot be repaired in place reliably; a changed pin or Python makes a new one.
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|error| io_error("remove", dir, error))?;
    }
    let mut venv = Command::new("python3");
    venv.args(["-m", "venv"]).arg(dir);
    run_checked(&mut venv, "python3 -m venv (on Debian: apt-get install python3-venv)")?;
    let mut pip = Command::new(dir.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check", AIDER_REQUIREMENT]);
    run_checked(&mut pip, "pip install aider-chat")?;
    write(&dir.join(STAMP), &stamp)
}

/// `target/agents/bin/<cli>` -> the CLI inside the cache (relative links: the cache can move).
fn link_bins(cache: &Path) -> Result<()> {
    let bin = cache.join("bin");
    std::fs::create_dir_all(&bin).map_err(|error| io_error("create", &bin, error))?;
    for (name, target) in CLIS {
        let link = bin.join(name);
        let relative = Path::new("..").join(target);
        if std::fs::read_link(&link).is_ok_and(|existing| existing == relative) {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&relative, &link)
            .map_err(|error| io_error("link", &link, error))?;
    }
    Ok(())
}

const STAMP: &str = ".devflow-installed";

fn is_stamped(dir: &Path, stamp: &str) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|found| found == stamp)
}

fn remove_stamp(dir: &Path) -> Result<()> {
    match std::fs::remove_file(dir.join(STAMP)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error("remove", &dir.join(STAMP), error))
        }
        _ => Ok(()),
    }
}

fn python_version() -> Result<String> {
    let output = Command::new("python3")
        .arg("--version")
        .output()
        .map_err(|error| format!("cannot run python3 (is it installed?): {error}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The first line `CLI --version` prints.
fn version(cli: &Path) -> Result<String> {
    let output = Command::new(cli)
        .arg("--version")
        .output()
        .map_err(|error| format!("cannot run {} --version: {error}", cli.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} --version failed: {}",
            cli.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let status = command.status().map_err(|error| format!("cannot run {what}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|error| io_error("write", path, error))
}

fn io_error(verb: &str, path: &Path, error: std::io::Error) -> String {
    format!("cannot {verb} {}: {error}", path.display())
}
