//! PostgreSQL from the installed server binaries: a throwaway server for `cargo xtask test` and a
//! persistent one for development (`cargo xtask pg`, `cargo xtask pg stop`).
//!
//! `initdb` and `pg_ctl` refuse to run as root, and CI machines run as root without sudo, so as
//! root they run as the `postgres` user through `runuser`, in a folder that user owns. Each server
//! has a folder of its own — `data/`, the Unix socket, `server.log` — and listens on 127.0.0.1 on
//! a port nobody else uses, so it never meets another PostgreSQL on the machine.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Output, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::{Result, no_more_args, project_root};

/// What to do when no server binaries are found; ends every such message.
pub const INSTALL_HINT: &str = "install the PostgreSQL server binaries \
(Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; \
macOS: `brew install postgresql`), or set DEVFLOW_TEST_DATABASE_URL to a server where the \
user may create databases";

/// Settings for a server that only ever holds test data: durability off, room for parallel tests.
const SERVER_SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
];

/// A cluster for tests: trust on the private socket and 127.0.0.1, superuser `postgres`, no
/// fsync during initdb, and a locale that does not depend on the machine.
const INITDB_FLAGS: [&str; 8] =
    ["-A", "trust", "-U", "postgres", "-N", "-E", "UTF8", "--no-locale"];

/// Attempts to start on a fresh port when another process took the one we picked meanwhile.
const START_ATTEMPTS_MAX: u32 = 3;

/// The folder holding `initdb`, `pg_ctl` and `psql` of one PostgreSQL version.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), else the folder of the
    /// `pg_ctl` found on PATH.
    pub fn find() -> Option<Binaries> {
        newest_versioned_bin(Path::new("/usr/lib/postgresql"))
            .or_else(bin_on_path)
            .map(|dir| Binaries { dir })
    }

    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The version, from `pg_ctl --version`: "PostgreSQL 15.14 (Debian 15.14-0+deb12u1)".
    pub fn version(&self) -> String {
        Command::new(self.tool("pg_ctl"))
            .arg("--version")
            .output()
            .ok()
            .map(|out| {
                let text = String::from_utf8_lossy(&out.stdout);
                text.trim().replace("pg_ctl (PostgreSQL)", "PostgreSQL")
            })
            .filter(|version| !version.is_empty())
            .unwrap_or_else(|| format!("PostgreSQL in {}", self.dir.display()))
    }
}

fn has_server_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn newest_versioned_bin(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            // "15", "9.6": compare numerically, so that 16 beats 9.6.
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<_>>()?;
            let bin = entry.path().join("bin");
            has_server_tools(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

fn bin_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let pg_ctl = dir.join("pg_ctl");
        if !pg_ctl.is_file() {
            return None;
        }
        if has_server_tools(&dir) {
            return Some(dir);
        }
        // A symlink into the real bin folder (/usr/local/bin, Homebrew): look beside its target.
        let real = fs::canonicalize(&pg_ctl).ok()?;
        let real_dir = real.parent()?;
        has_server_tools(real_dir).then(|| real_dir.to_path_buf())
    })
}

/// A PostgreSQL server living in `home`: `home/data`, the socket in `home`, `home/server.log`.
#[derive(Debug)]
pub struct Server {
    bin: Binaries,
    home: PathBuf,
    port: u16,
    /// True when we are root: the server tools then run as the `postgres` user.
    as_postgres: bool,
}

impl Server {
    fn new(bin: Binaries, home: PathBuf) -> Result<Server> {
        Ok(Server { bin, home, port: 0, as_postgres: is_root()? })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.home.join("data")
    }

    fn log(&self) -> PathBuf {
        self.home.join("server.log")
    }

    /// Gives `home` to the user the server runs as, and checks that user can reach it.
    fn prepare_home(&self) -> Result<()> {
        fs::create_dir_all(&self.home)
            .map_err(|e| format!("cannot create {}: {e}", self.home.display()))?;
        if !self.as_postgres {
            return Ok(());
        }
        run_checked(Command::new("chown").arg("postgres:").arg(&self.home))?;
        let reachable = Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-w"])
            .arg(&self.home)
            .status()
            .is_ok_and(|status| status.success());
        if !reachable {
            return Err(format!(
                "running as root, the server runs as the `postgres` user, who cannot write to {} \
                 (is a parent folder closed to other users, like /root?); set TMPDIR to a folder \
                 it can reach, or set DEVFLOW_TEST_DATABASE_URL",
                self.home.display()
            ));
        }
        Ok(())
    }

    /// The argv of one server tool, run as `postgres` through `runuser` when we are root.
    fn argv(&self, tool: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if self.as_postgres {
            argv.extend(["runuser", "-u", "postgres", "--"].map(OsString::from));
        }
        argv.push(self.bin.tool(tool).into());
        argv.extend(args.iter().map(|arg| arg.as_ref().to_os_string()));
        argv
    }

    fn command(&self, argv: &[OsString]) -> Command {
        let mut command = Command::new(&argv[0]);
        // A cwd the postgres user may not enter (/root/…) makes initdb complain.
        command.args(&argv[1..]).current_dir(&self.home).stdin(Stdio::null());
        command
    }

    fn stop_argv(&self) -> Vec<OsString> {
        let data = self.data();
        self.argv("pg_ctl", &[&"-D", &data, &"-m", &"fast", &"-w", &"stop"])
    }

    /// Runs initdb unless `home/data` already holds a cluster.
    fn init(&self) -> Result<()> {
        if self.data().join("PG_VERSION").is_file() {
            return Ok(());
        }
        let data = self.data();
        let mut argv = self.argv("initdb", &[&"-D", &data]);
        argv.extend(INITDB_FLAGS.map(OsString::from));
        run_checked(&mut self.command(&argv)).map(drop)
    }

    /// Starts the server on `port` and waits until it accepts connections.
    fn start_on(&mut self, port: u16) -> Result<()> {
        let mut options = format!("-p {port} -k {}", shell_quote(self.home.as_os_str()));
        for setting in SERVER_SETTINGS {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        let (data, log) = (self.data(), self.log());
        let argv = self.argv(
            "pg_ctl",
            &[&"-D", &data, &"-l", &log, &"-o", &options, &"-w", &"-t", &"60", &"start"],
        );
        run_checked(&mut self.command(&argv)).map_err(|error| {
            let log = fs::read_to_string(self.log()).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            format!("{error}\n--- the end of {} ---\n{tail}", self.log().display())
        })?;
        // Only a started server has a port: `Drop` stops nothing else.
        self.port = port;
        Ok(())
    }

    /// initdb if needed, then start on `port` (or on a fresh port when that one was taken).
    fn init_and_start(&mut self, mut port: u16) -> Result<()> {
        self.init()?;
        let mut attempt = 1;
        loop {
            match self.start_on(port) {
                Err(error) if attempt < START_ATTEMPTS_MAX && error.contains("already in use") => {
                    attempt += 1;
                    port = free_port()?;
                }
                result => return result,
            }
        }
    }

    pub fn stop(&self) -> Result<()> {
        run_checked(&mut self.command(&self.stop_argv())).map(drop)
    }

    /// The port of the server running in `home`, if one runs.
    fn running_port(&self) -> Option<u16> {
        let data = self.data();
        let argv = self.argv("pg_ctl", &[&"-D", &data, &"status"]);
        let running = self.command(&argv).output().is_ok_and(|out| out.status.success());
        if !running {
            return None;
        }
        // postmaster.pid: pid, data dir, start time, port, socket dir, …
        let pid_file = fs::read_to_string(data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }
}

/// A server in a fresh temporary folder, stopped and removed on drop — and, should xtask die
/// (Ctrl-C, kill), by a small watcher process that outlives it.
#[derive(Debug)]
pub struct TempServer {
    server: Server,
    watcher: Option<Child>,
}

impl TempServer {
    pub fn start(bin: Binaries) -> Result<TempServer> {
        let mut temp = TempServer { server: Server::new(bin, fresh_temp_path())?, watcher: None };
        // From here on, an error drops `temp`, which stops what started and removes the folder.
        temp.server.prepare_home()?;
        temp.watcher = spawn_watcher(&temp.server);
        temp.server.init_and_start(free_port()?)?;
        Ok(temp)
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Stops the server and removes its folder (dropping does the same, warning on errors).
    pub fn stop(mut self) -> Result<()> {
        self.clean_up()
    }

    fn clean_up(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        if self.server.port != 0 {
            if let Err(error) = self.server.stop() {
                errors.push(format!("stopping the throwaway PostgreSQL: {error}"));
            }
            // Tried once; dropping after `stop` does not try again.
            self.server.port = 0;
        }
        if self.server.home.exists()
            && let Err(error) = fs::remove_dir_all(&self.server.home)
        {
            errors.push(format!("cannot remove {}: {error}", self.server.home.display()));
        }
        // The watcher goes last: should xtask die half-way through, it finishes the job.
        if let Some(mut watcher) = self.watcher.take() {
            let _ = watcher.kill();
            let _ = watcher.wait();
        }
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }
}

impl Drop for TempServer {
    fn drop(&mut self) {
        // A closed stdout or stderr (`| head`) must not turn clean-up into an abort.
        if let Err(error) = self.clean_up() {
            let _ = writeln!(io::stderr(), "warning: {error}");
        }
    }
}

/// A shell, in its own process group so that Ctrl-C in the terminal does not reach it, that
/// waits for xtask to exit and then stops the server and removes its folder. Killed by `Drop`
/// when xtask cleans up itself.
fn spawn_watcher(server: &Server) -> Option<Child> {
    let stop: Vec<String> = server.stop_argv().iter().map(|arg| shell_quote(arg)).collect();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {home}",
        pid = std::process::id(),
        stop = stop.join(" "),
        home = shell_quote(server.home.as_os_str()),
    );
    let spawned = Command::new("sh")
        .arg("-c")
        .arg(script)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Some(child),
        Err(error) => {
            eprintln!("warning: no clean-up watcher ({error}); Ctrl-C may leave a server behind");
            None
        }
    }
}

/// A folder name under the temporary directory that no other run uses (`prepare_home` makes it).
fn fresh_temp_path() -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("devflow-pg-{}-{nanos}", std::process::id()))
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picks it when we bind port 0).
fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn is_root() -> Result<bool> {
    let out = run_checked(Command::new("id").arg("-u"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs a command to completion; a failure carries the command line and everything it printed.
fn run_checked(command: &mut Command) -> Result<Output> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        return Ok(out);
    }
    Err(format!(
        "{shown} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Quotes one word for `sh` (pg_ctl's `-o` and the watcher script go through a shell).
fn shell_quote(word: &std::ffi::OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}

/// How many databases named `devflow_t_…` (one per PostgreSQL test) the server at `url` holds.
pub fn count_test_databases(bin: Option<&Binaries>, url: &str) -> Result<u64> {
    let psql = bin.map_or_else(|| PathBuf::from("psql"), |bin| bin.tool("psql"));
    let out = run_checked(
        Command::new(&psql)
            .args(["-X", "-A", "-t", "-c"])
            .arg(r"select count(*) from pg_database where datname like 'devflow\_t\_%'")
            .arg(url)
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null()),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().map_err(|_| format!("unexpected answer from psql: {text:?}"))
}

/// Drops the `devflow_t_…` databases that earlier test runs left on the server at `url`;
/// returns how many went. One still in use (by a run going on now) is left alone: PostgreSQL
/// refuses to drop a database with connections, and psql goes on to the next.
pub fn drop_test_databases(bin: Option<&Binaries>, url: &str) -> Result<u64> {
    let before = count_test_databases(bin, url)?;
    if before == 0 {
        return Ok(0);
    }
    let psql = bin.map_or_else(|| PathBuf::from("psql"), |bin| bin.tool("psql"));
    // One autocommitted DROP per database (DROP DATABASE refuses a transaction block), written
    // by the server itself, so no name is quoted by hand.
    let script = concat!(
        r"select format('DROP DATABASE IF EXISTS %I', datname) from pg_database",
        r" where datname like 'devflow\_t\_%' \gexec",
        "\n",
    );
    let mut child = Command::new(&psql)
        .args(["-X", "-q", "-f", "-"])
        .arg(url)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run {}: {error}", psql.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(|error| format!("psql's input: {error}"))?;
    }
    child.wait().map_err(|error| format!("psql: {error}"))?;
    Ok(before.saturating_sub(count_test_databases(bin, url)?))
}

/// Hides the password of a `postgres://user:password@host/db` URL before printing it.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// `cargo xtask pg [stop]`: a development server in target/devflow-pg that stays up.
pub fn run(rest: &[String]) -> Result<ExitCode> {
    let (stop, rest) = match rest.split_first() {
        Some((first, tail)) if first == "stop" => (true, tail),
        Some((first, tail)) if first == "start" => (false, tail),
        _ => (false, rest),
    };
    no_more_args(if stop { "pg stop" } else { "pg" }, rest)?;
    let bin = Binaries::find()
        .ok_or_else(|| format!("no PostgreSQL server binaries found: {INSTALL_HINT}"))?;
    let mut server = Server::new(bin, dev_home())?;
    let running = server.running_port();
    match (stop, running) {
        (true, None) => println!("no development PostgreSQL runs in {}", server.home.display()),
        (true, Some(_)) => {
            server.stop()?;
            println!("stopped the development PostgreSQL in {}", server.home.display());
        }
        (false, Some(port)) => {
            server.port = port;
            println!("the development PostgreSQL already runs in {}", server.home.display());
            print_dev_instructions(&server);
        }
        (false, None) => {
            let started = Instant::now();
            server.prepare_home()?;
            // Keep the port across restarts, so that an exported URL stays right.
            let port_file = server.home.join("port");
            let port = fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .filter(|port| port_is_free(*port))
                .map_or_else(free_port, Ok)?;
            server.init_and_start(port)?;
            fs::write(&port_file, format!("{}\n", server.port))
                .map_err(|e| format!("cannot write {}: {e}", port_file.display()))?;
            println!(
                "started {} in {} (port {}, {} ms)",
                server.bin.version(),
                server.home.display(),
                server.port,
                started.elapsed().as_millis()
            );
            print_dev_instructions(&server);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_dev_instructions(server: &Server) {
    println!("\nexport DEVFLOW_TEST_DATABASE_URL={}\n", server.url());
    println!(
        "Tests then use it (`cargo xtask test` too); each test leaves a devflow_t_… database, \
         and `cargo xtask test` first drops those earlier runs left."
    );
    println!("`cargo xtask pg stop` stops it; removing {} wipes it.", server.home.display());
}

fn dev_home() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    target.join("devflow-pg")
}
