//! `devflow serve` end to end: requests that must be refused (no token, a wrong CSRF token, a
//! foreign `Host` or `Origin`) change nothing; decisions refused as `devflow approve` refuses
//! them (`refused`) change nothing; the API serves what `status --json` and `events --json`
//! print (`api`); in headless Chromium, the runs page lists a waiting run (and, live, one
//! started while it is open), its timeline shows each phase, a gate approved with a note
//! completes the run in real tmux while the page follows it live (no reload), and `devflow
//! report --html` shows the same timeline from a file with no server; `report --svg` draws what
//! the run's page draws; listening beyond loopback is said loudly. `reject` has a gate rejected
//! with a note from the browser, as `devflow reject` rejects it.

mod api;
mod refused;
mod reject;

use std::time::Duration;

use serde_json::json;

use crate::browser::{Browser, Served};
use crate::support::{Phase, World, eventually, instructions};

/// A request that must be refused: method, path, headers, body, the status expected.
type Refused<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, String, u16);

/// The text between `start` and the next `end` in `text`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> &'t str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?} in {text}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_the_token_with_a_wrong_csrf_token_or_for_another_host_change_nothing() {
    // On both databases: the pages and the API read what `status` reads, on either.
    for (backend, world) in World::on_every_backend().await {
        eprintln!("web refusals on {backend}"); // shown with a failure's output
        guarded(&world).await;
    }
}

/// A run at its gate, served: every refusal, then the approval, the API and the run's page.
async fn guarded(world: &World) {
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let workflow = world.workflow(&[plan]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "guard"]);
    assert_eq!(run.code, 3, "{run:?}");
    let served = Served::start(world, &[]);
    let cookie = served.cookie();
    let (status, page) = served.request("GET", "/runs/guard", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{page}");
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
    let request = between(&page, "name=\"request\" value=\"", "\"");
    let form = |csrf: &str| {
        format!("csrf={csrf}&action=approve&gate=plan_review&request={request}&note=sneaky")
    };
    let events_before = world.events("guard").len();
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let foreign = format!("attacker.example:{}", served.host.rsplit(':').next().unwrap());
    let bearer = format!("Bearer {}", served.token);
    let refused: [Refused<'_>; 7] = [
        ("POST", "/runs/guard/decide", vec![form_type], form(csrf), 401),
        ("POST", "/runs/guard/decide?token=0123", vec![form_type], form(csrf), 401),
        ("POST", "/runs/guard/decide", vec![form_type, ("Cookie", &cookie)], form("0000"), 403),
        (
            "POST",
            "/runs/guard/decide",
            vec![form_type, ("Cookie", &cookie), ("Host", &foreign)],
            form(csrf),
            421,
        ),
        (
            "POST",
            "/runs/guard/decide",
            vec![form_type, ("Cookie", &cookie), ("Host", "attacker.example")],
            form(csrf),
            421,
        ),
        (
            "POST",
            "/runs/guard/decide",
            vec![form_type, ("Cookie", &cookie), ("Origin", "http://attacker.example")],
            form(csrf),
            403,
        ),
        (
            "GET",
            "/api/runs",
            vec![("Host", &foreign), ("Authorization", &bearer)],
            String::new(),
            421,
        ),
    ];
    for (method, path, headers, body, expected) in &refused {
        let (status, answer) = served.request(method, path, headers, body);
        assert_eq!(status, *expected, "{method} {path} {headers:?}: {answer}");
        let gate = &world.status("guard")["gates"][0];
        assert_eq!(gate["state"], "pending", "{method} {path} {headers:?} changed the gate");
        assert_eq!(world.events("guard").len(), events_before, "{method} {path} {headers:?}");
    }
    let (status, _) = served.request("GET", "/", &[], "");
    assert_eq!(status, 401, "a page without the token");

    // With the token and the CSRF token right, a decision is still refused where `devflow
    // approve` refuses it, and changes nothing.
    let post = |form: &str| {
        served.request("POST", "/runs/guard/decide", &[form_type, ("Cookie", &cookie)], form)
    };
    let reject = format!("csrf={csrf}&action=reject&gate=plan_review&request={request}&note=no");
    let forms = [form(csrf), reject];
    refused::while_another_process_drives_the_run(world, "guard", &post, &forms).await;
    let artifact = world.worktree().join("out/plan.json");
    refused::when_the_artifact_changed(world, "guard", &post, &form(csrf), &artifact);

    // The same form is taken now: the refusals above were the checks'.
    let (status, answer) = post(&form(csrf));
    assert_eq!(status, 303, "{answer}");
    // Completed, and its driver gone (it gives the lease back after the last step): the status
    // compared with the API's below no longer changes.
    eventually("the run to complete", Duration::from_secs(60), || {
        let status = world.status("guard");
        status["state"] == "completed" && status["lease_owner"].is_null()
    });
    let gate = &world.status("guard")["gates"][0];
    assert_eq!((gate["state"].as_str(), gate["note"].as_str()), (Some("approved"), Some("sneaky")));
    refused::once_decided(world, "guard", &post, &form(csrf), "plan_review");
    api::serves_what_status_and_events_print(world, &served, "guard");

    // The run's page: its artifact with the validation result, its agent's transcript, and the
    // drawing `report --svg` writes.
    let (status, page) = served.request("GET", "/runs/guard", &[("Cookie", &cookie)], "");
    assert_eq!(status, 200, "{page}");
    let artifacts = between(&page, "<section id=\"artifacts\">", "</section>");
    assert!(artifacts.contains("<tr data-valid=\"true\">"), "{artifacts}");
    assert!(artifacts.contains("/wt/out/plan.json</code>"), "{artifacts}");
    assert!(artifacts.contains("<span class=\"valid\">valid</span>"), "{artifacts}");
    let transcripts = between(&page, "<section id=\"transcripts\">", "</section>");
    let agent = between(transcripts, "<details data-role=\"agent\">", "</details>");
    assert!(agent.contains("wrote artifact"), "the agent's own words: {agent}");
    let picture = world.worktree().join("timeline.svg");
    let written = world.devflow(&["report", "guard", "--svg", picture.to_str().unwrap()]);
    assert_eq!(written.code, 0, "{written:?}");
    let picture = std::fs::read_to_string(&picture).unwrap();
    let drawn = format!("<svg{}</svg>", between(&page, "<svg", "</svg>"));
    assert_eq!(
        picture,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{drawn}\n"),
        "report --svg draws what the page draws"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_approved_in_the_browser_completes_the_run_while_the_page_follows_it_live() {
    let Some(browser) = Browser::start().await else { return };
    let world = World::new();
    let plan = Phase { gate: Some("plan_review"), ..Phase::new("plan", "ok") };
    let build = Phase {
        role: "builder",
        instructions: instructions("build", "slow", "ok", "Slow-Ms: 3000"),
        stable_ms: 1_500,
        ..Phase::new("build", "slow")
    };
    let workflow = world.workflow(&[plan, build]);
    let run = world.devflow(&["run", workflow.to_str().unwrap(), "--run-id", "web1"]);
    assert_eq!(run.code, 3, "{run:?}");
    let served = Served::start(&world, &["--as", "web-tester"]);
    let wait = Duration::from_secs(20);

    browser.client.goto(&served.url).await.unwrap();
    let row = browser.element("tr[data-run='web1']", wait).await;
    assert!(row.text().await.unwrap().contains("waiting for you"), "the runs page lists the run");
    // The runs page is live too: a run started now shows up, and the page was not reloaded.
    browser.eval("window.devflowMark = 7; return true;").await;
    let other = world.workflow(&[Phase::new("note", "ok")]);
    let run = world.devflow(&["run", other.to_str().unwrap(), "--run-id", "web0"]);
    assert_eq!(run.code, 0, "{run:?}");
    browser.element("tr[data-run='web0'][data-state='completed']", wait).await;
    assert_eq!(
        browser.eval("return window.devflowMark;").await,
        json!(7),
        "the runs page reloaded"
    );
    browser.element("a[href='/runs/web1']", wait).await.click().await.unwrap();
    for phase in ["plan", "build"] {
        browser.element(&format!("svg#timeline g.row[data-phase='{phase}']"), wait).await;
    }
    browser.element("svg#timeline g.row[data-phase='plan'] rect.bar", wait).await;

    let note = "ship it <b>now</b>";
    browser.element("form.decide textarea[name='note']", wait).await.send_keys(note).await.unwrap();
    browser.element("form.decide button.approve", wait).await.click().await.unwrap();
    // Back on the run's page, the build phase runs; a mark on the page shows any reload.
    browser.element("#summary[data-state='executing']", wait).await;
    browser.eval("window.devflowMark = 42; return true;").await;
    browser.element("#summary[data-state='completed']", Duration::from_secs(60)).await;
    browser.element("svg#timeline g.row[data-phase='build'] rect.bar.done", wait).await;
    assert_eq!(
        browser.eval("return window.devflowMark;").await,
        json!(42),
        "the page was reloaded"
    );
    let refreshed = browser
        .eval("return document.getElementById('live').getAttribute('data-refreshed');")
        .await;
    assert!(
        refreshed.as_str().is_some_and(|n| n != "0"),
        "the live update swapped parts: {refreshed}"
    );
    let gates = browser.element("#gates", wait).await.text().await.unwrap();
    assert!(gates.contains(note), "the note is shown as text, escaped: {gates}");
    // The parts swapped in live hold each phase's artifact, validated, and each role's transcript.
    let artifacts = browser.element("#artifacts", wait).await.text().await.unwrap();
    for path in ["out/plan.json", "out/build.json"] {
        assert!(artifacts.contains(path), "no {path} in {artifacts}");
    }
    let valid =
        browser.client.find_all(fantoccini::Locator::Css("#artifacts tr[data-valid='true']"));
    assert_eq!(valid.await.unwrap().len(), 2, "{artifacts}");
    for role in ["agent", "builder"] {
        browser.element(&format!("#transcripts details[data-role='{role}']"), wait).await;
    }

    let status = world.status("web1");
    assert_eq!(status["state"], "completed");
    let gate = &status["gates"][0];
    assert_eq!(
        (gate["state"].as_str(), gate["decided_by"].as_str()),
        (Some("approved"), Some("web-tester"))
    );
    assert_eq!(gate["note"], note);
    assert_eq!(world.prompts().len(), 3, "each agent prompted once (web0's, then web1's two)");

    // The report: the same drawing in a file, shown with no server at all.
    let report = world.worktree().join("report.html");
    let written = world.devflow(&["report", "web1", "--html", report.to_str().unwrap()]);
    assert_eq!(written.code, 0, "{written:?}");
    drop(served);
    browser.client.goto(&format!("file://{}", report.display())).await.unwrap();
    browser.element("svg#timeline g.row[data-phase='build'] rect.bar.done", wait).await;
    let text = std::fs::read_to_string(&report).unwrap();
    for outside in [" src=", " href=", "<script", "<link", "url("] {
        assert!(!text.contains(outside), "the report is self-contained, but has {outside:?}");
    }
    browser.close().await;
}

/// Beyond loopback only when asked, and then said loudly on stderr; on loopback, not a word.
#[test]
fn listening_beyond_this_machine_is_said_loudly() {
    use std::io::BufRead;
    let world = World::new();
    let migrate = world.devflow(&["migrate"]);
    assert_eq!(migrate.code, 0, "{migrate:?}");
    for (listen, loud) in [("127.0.0.1:0", false), ("0.0.0.0:0", true)] {
        let mut child = world.spawn(&["serve", "--listen", listen]);
        let mut first = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufReader::new(stdout).read_line(&mut first).unwrap();
        assert!(first.starts_with("http://") && first.contains("/?token="), "{listen}: {first:?}");
        // The warning comes before the URL: all there is to see is said by now. (A SIGINT
        // this early could come before the handler is in place, so the server is killed.)
        child.kill().unwrap();
        let stopped = crate::support::finish(child, &["serve"]);
        let warned = stopped.stderr.contains(&format!("WARNING: listening on {listen}, beyond"));
        assert_eq!(warned, loud, "{listen}: {}", stopped.stderr);
    }
}
