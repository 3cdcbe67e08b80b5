//! What the web tests need besides devflow: `devflow serve` started in a test's world (its URL
//! read from its first line), a raw HTTP request, and headless Chromium driven through
//! chromedriver (WebDriver, the fantoccini client). chromedriver is started on a free port of
//! 127.0.0.1 and ended by its pid; Chromium runs with a fresh profile and no network of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::World;

/// A `devflow serve` of a world, ended (SIGINT, then its pid killed) when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub token: String,
}

impl Served {
    pub fn start(world: &World, args: &[&str]) -> Served {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut command = world.command(&all);
        command.stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let url = first.trim().to_owned();
        let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("no URL first: {url:?}"));
        let (host, query) = rest.split_once("/?token=").unwrap();
        Served { host: host.to_owned(), token: query.to_owned(), url, child }
    }

    pub fn cookie(&self) -> String {
        let port = self.host.rsplit(':').next().unwrap();
        format!("devflow_token_{port}={}", self.token)
    }

    /// One HTTP/1.1 request to the server, written by hand (so the test chooses every header,
    /// `Host` included): the status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.host).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            text += &format!("Host: {}\r\n", self.host);
        }
        for (name, value) in headers {
            text += &format!("{name}: {value}\r\n");
        }
        text += "\r\n";
        text += body;
        stream.write_all(text.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
        (status, body)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless Chromium under a chromedriver of the test's own.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `None` (after a loud SKIPPED) when Chromium or chromedriver is missing; under `CI=true`
    /// that fails.
    pub async fn start() -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) =
            (find(&["chromium", "chromium-browser"]), find(&["chromedriver"]))
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "chromium and chromedriver are required in CI (.ci/run installs them)"
            );
            eprintln!(
                "\n\n*** SKIPPED: chromium or chromedriver is not installed; the browser tests did not run ***\n\n"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1400",
        ];
        let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chromium.display().to_string(), "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        Some(Browser { client, driver, _profile: profile })
    }

    /// Waits for an element, at most `deadline`.
    pub async fn element(&self, css: &str, deadline: Duration) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(deadline)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} within {deadline:?}: {error}"))
    }

    /// The value of a script's `return`.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Ends the WebDriver session (and with it Chromium), then chromedriver by its pid.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// A test that panicked before `close`: chromedriver still goes (by its pid).
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/bin")])
            .map(|dir| dir.join(name))
            .find(|candidate| Path::new(candidate).is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
