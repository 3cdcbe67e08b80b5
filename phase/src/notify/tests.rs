//! `[notify]` as people write it, its mistakes named by line, and which events notify.

use std::path::Path;

use serde_json::json;

use super::{Notify, Topic, parse};
use crate::Workflow;
use crate::event::{ApprovalRequested, kind};

const WORKFLOW: &str = "name = \"w\"\n[roles.a]\ncommand = [\"agent\"]\n[[phases]]\nkey = \"p\"\nrole = \"a\"\nartifact = \"out/p.json\"\nschema = \"s.json\"\ninstructions = \"x\"\n";

fn workflow(notify: &str) -> Result<Workflow, devflow_core::Error> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), "{}").unwrap();
    let path = dir.path().join("w.toml");
    Workflow::parse(&path, &format!("{WORKFLOW}{notify}"))
}

#[test]
fn a_workflows_notify_table_is_kept_in_its_snapshot() {
    let loaded = workflow(
        "[notify]\ncommand = [\"notify-me\", \"--loud\"]\nwebhook = \"http://127.0.0.1:9/hook\"\ndesktop = true\non = [\"gate_opened\", \"run_failed\"]\n",
    )
    .unwrap();
    let notify = loaded.notify.clone().unwrap();
    assert_eq!(notify.command.as_deref(), Some(&["notify-me".to_owned(), "--loud".to_owned()][..]));
    assert_eq!(notify.webhook.as_deref(), Some("http://127.0.0.1:9/hook"));
    assert!(notify.desktop);
    assert!(notify.wants(Topic::GateOpened) && !notify.wants(Topic::RunCompleted));
    let back = Workflow::from_definition(&loaded.to_definition()).unwrap();
    assert_eq!(back, loaded);
    // A workflow without one stores none, as runs stored before `[notify]` existed.
    let plain = workflow("").unwrap();
    assert!(plain.notify.is_none() && plain.to_definition().get("notify").is_none());
    assert!(Notify::default().wants(Topic::RunCompleted), "no `on` means every topic");
}

#[test]
fn mistakes_in_notify_name_their_line() {
    let cases = [
        ("[notify]\nemail = \"me@example.com\"\n", "w.toml:11:", "unknown field `email`"),
        ("[notify]\ncommand = []\n", "w.toml:11:", "notify.command has no program"),
        ("[notify]\nwebhook = \"ftp://x\"\n", "w.toml:11:", "is not an http:// URL"),
        ("[notify]\nwebhook = \"https://hooks.example/x\"\n", "w.toml:11:", "over https"),
        ("[notify]\non = [\"gate_opened\", \"lunch\"]\n", "w.toml:11:", "unknown topic \"lunch\""),
        ("[notify]\ndesktop = \"yes\"\n", "w.toml:11:", "invalid type"),
    ];
    for (text, place, what) in cases {
        let error = workflow(text).unwrap_err();
        assert_eq!(error.code(), devflow_core::Code::InvalidInput, "{text}");
        assert!(error.message().contains(place), "{text}: {error}");
        assert!(error.message().contains(what), "{text}: {error}");
    }
}

#[test]
fn the_user_file_has_the_keys_of_notify_at_its_top() {
    let path = Path::new("/home/me/.config/devflow/notify.toml");
    let notify = parse(path, "webhook = \"http://localhost:8080/\"\ndesktop = true\n").unwrap();
    assert_eq!(notify.webhook.as_deref(), Some("http://localhost:8080/"));
    let error = parse(path, "\n[notify]\ndesktop = true\n").unwrap_err();
    assert!(error.message().contains("notify.toml:2:"), "{error}");
}

#[test]
fn gates_failures_and_completions_notify_and_nothing_else_does() {
    let gate = |gate_key: &str| {
        let requested = ApprovalRequested {
            approval_request_id: "request-1".into(),
            approval_idempotency_key: "key-1".into(),
            gate_key: gate_key.into(),
        };
        serde_json::to_value(requested).unwrap()
    };
    let requested = kind::APPROVAL_REQUESTED;
    assert_eq!(Topic::of_event(requested, &gate("plan_review")), Some(Topic::GateOpened));
    let input = gate("agent_needs_input");
    assert_eq!(Topic::of_event(requested, &input), Some(Topic::AgentNeedsInput));
    assert_eq!(Topic::of_event(requested, &json!({})), Some(Topic::GateOpened), "not its shape");
    assert_eq!(Topic::of_event(kind::RUN_FAILED, &json!({})), Some(Topic::RunFailed));
    assert_eq!(Topic::of_event(kind::RUN_COMPLETED, &json!({})), Some(Topic::RunCompleted));
    for other in
        [kind::RUN_PAUSED, kind::PHASE_COMPLETED, kind::APPROVAL_DECIDED, kind::SESSION_READY]
    {
        assert_eq!(Topic::of_event(other, &json!({})), None, "{other}");
    }
    for topic in Topic::ALL {
        assert_eq!(Topic::parse(topic.as_str()), Some(topic));
    }
}
