//! `artifacts`: insert-or-get by (run, path, hash), replays checked, newest per phase.

use devflow_core::{Code, RunState};
use devflow_db::testing::TestDb;
use devflow_db::{ArtifactRow, NewArtifact};
use serde_json::{Value, json};

use crate::{conformance, expect_code, seed_run};

conformance!(
    an_artifact_is_stored_once_per_content,
    an_artifact_replay_that_differs_is_corruption,
    the_latest_artifact_is_the_newest_of_its_phase_path_and_schema,
);

struct Artifact {
    run_id: String,
    phase_id: String,
    path: &'static str,
    schema_id: &'static str,
    hash: &'static str,
    valid: bool,
    validation_error: Value,
}

async fn record(t: &TestDb, a: Artifact) -> devflow_db::Result<ArtifactRow> {
    t.db.write(move |tx| {
        Box::pin(async move {
            tx.insert_or_get_artifact(&NewArtifact {
                run_id: &a.run_id,
                phase_id: &a.phase_id,
                path: a.path,
                schema_id: a.schema_id,
                hash: a.hash,
                valid: a.valid,
                validation_error: &a.validation_error,
            })
            .await
        })
    })
    .await
}

fn invalid(run_id: &str, phase_id: &str) -> Artifact {
    Artifact {
        run_id: run_id.to_owned(),
        phase_id: phase_id.to_owned(),
        path: "out/plan.json",
        schema_id: "plan.schema.json",
        hash: "aaaa",
        valid: false,
        validation_error: json!({"errors": [{"path": "/files", "message": "required"}]}),
    }
}

async fn an_artifact_is_stored_once_per_content(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 1).await;
    let first = record(t, invalid(&run, &phases[0])).await.unwrap();
    assert_eq!(first.run_id, run);
    assert_eq!(first.phase_id, phases[0]);
    assert_eq!(first.path, "out/plan.json");
    assert_eq!(first.schema_id, "plan.schema.json");
    assert_eq!(first.hash, "aaaa");
    assert!(!first.valid);
    assert_eq!(first.validation_error, invalid(&run, &phases[0]).validation_error);
    assert!(first.created_at > 0);

    let again = record(t, invalid(&run, &phases[0])).await.unwrap();
    assert_eq!(again, first, "the same bytes give the stored row");

    let valid = Artifact {
        hash: "bbbb",
        valid: true,
        validation_error: Value::Null,
        ..invalid(&run, &phases[0])
    };
    let second = record(t, valid).await.unwrap();
    assert_ne!(second.id, first.id, "other bytes are another artifact");
    assert_eq!(second.validation_error, Value::Null);
}

async fn an_artifact_replay_that_differs_is_corruption(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 2).await;
    record(t, invalid(&run, &phases[0])).await.unwrap();
    let cases = [
        ("phase", Artifact { phase_id: phases[1].clone(), ..invalid(&run, &phases[0]) }),
        ("schema", Artifact { schema_id: "other.schema.json", ..invalid(&run, &phases[0]) }),
        ("validity", Artifact { valid: true, ..invalid(&run, &phases[0]) }),
        (
            "validation error",
            Artifact { validation_error: json!({"errors": []}), ..invalid(&run, &phases[0]) },
        ),
    ];
    for (what, artifact) in cases {
        eprintln!("artifact replay with another {what}");
        expect_code(record(t, artifact).await, Code::InternalStateCorruption);
    }
    // The validation error is compared canonically: key order does not matter.
    let reordered: Value =
        serde_json::from_str(r#"{"errors": [{"message": "required", "path": "/files"}]}"#).unwrap();
    record(t, Artifact { validation_error: reordered, ..invalid(&run, &phases[0]) }).await.unwrap();
}

async fn the_latest_artifact_is_the_newest_of_its_phase_path_and_schema(t: &TestDb) {
    let (run, phases) = seed_run(&t.db, RunState::Executing, 2).await;
    let older = record(t, invalid(&run, &phases[0])).await.unwrap();
    let newer = record(t, Artifact { hash: "cccc", ..invalid(&run, &phases[0]) }).await.unwrap();
    // Other phase, other schema: not candidates.
    record(t, Artifact { hash: "dddd", phase_id: phases[1].clone(), ..invalid(&run, &phases[0]) })
        .await
        .unwrap();
    record(t, Artifact { hash: "eeee", schema_id: "x.json", ..invalid(&run, &phases[0]) })
        .await
        .unwrap();
    assert!(older.id < newer.id);

    let (run_id, phase_id) = (run.clone(), phases[0].clone());
    let (latest, none) =
        t.db.read(move |tx| {
            Box::pin(async move {
                Ok((
                    tx.latest_artifact(&run_id, &phase_id, "out/plan.json", "plan.schema.json")
                        .await?,
                    tx.latest_artifact(&run_id, &phase_id, "out/other.json", "plan.schema.json")
                        .await?,
                ))
            })
        })
        .await
        .unwrap();
    assert_eq!(latest, Some(newer));
    assert_eq!(none, None);
}
