//! Decisions from the browser that must be refused as `devflow approve` refuses them — the run
//! driven by another process, the artifact changed since it was validated, the gate decided
//! already — each answered with a page that says why and that nothing was changed, and the run
//! left exactly as it was.

use std::path::Path;

use crate::support::World;

/// A form POSTed to `/runs/{id}/decide`: the status and the page.
pub type Post<'a> = &'a dyn Fn(&str) -> (u16, String);

/// `form` is refused with `status` by a page that says each of `says` and that nothing was
/// changed; the run's gates and events are as they were.
pub fn assert_refused(world: &World, run_id: &str, post: Post<'_>, form: &str, says: &[&str]) {
    let (gates, events) = (world.status(run_id)["gates"].clone(), world.events(run_id));
    let (status, page) = post(form);
    assert_eq!(status, 409, "{form}: {page}");
    for said in says.iter().chain(&["Nothing was changed."]) {
        assert!(page.contains(said), "{form}: no {said:?} in {page}");
    }
    assert_eq!(world.status(run_id)["gates"], gates, "{form} changed a gate");
    assert_eq!(world.events(run_id), events, "{form} wrote an event");
}

/// While another process holds the run's lease, every form is refused (409) as `devflow
/// approve` is refused (exit 2), with the same words; the lease is given back after.
pub async fn while_another_process_drives_the_run(
    world: &World,
    run_id: &str,
    post: Post<'_>,
    forms: &[String],
) {
    let db = devflow_db::Db::connect(&world.database_url()).await.unwrap();
    let id = run_id.to_owned();
    let lease = db
        .write(move |tx| {
            Box::pin(async move {
                tx.claim_run_lease(&id, "elsewhere", "another-host", 60_000, None).await
            })
        })
        .await
        .unwrap()
        .expect("the run's lease was free");
    let says = "is being driven by another devflow process (elsewhere)";
    for form in forms {
        assert_refused(world, run_id, post, form, &[says]);
    }
    let approve = world.devflow(&["approve", run_id]);
    assert_eq!(approve.code, 2, "{approve:?}");
    assert!(approve.stderr.contains(says), "the same refusal: {}", approve.stderr);
    db.write(move |tx| Box::pin(async move { tx.release_run_lease(&lease).await })).await.unwrap();
}

/// Approval of an artifact that changed since it was validated is refused, saying what
/// changed; the validated bytes are put back after.
pub fn when_the_artifact_changed(
    world: &World,
    run_id: &str,
    post: Post<'_>,
    form: &str,
    artifact: &Path,
) {
    let validated = std::fs::read(artifact).unwrap();
    std::fs::write(artifact, br#"{"title": "swapped", "steps": []}"#).unwrap();
    let says =
        ["changed (sha256 ", "since it was validated: nothing was approved", "[artifact_changed]"];
    assert_refused(world, run_id, post, form, &says);
    std::fs::write(artifact, validated).unwrap();
}

/// The same form again once its gate was decided: refused, and `devflow approve` refuses too.
pub fn once_decided(world: &World, run_id: &str, post: Post<'_>, form: &str, gate: &str) {
    let says = format!("gate {gate} was approved by tester already: this decision was not taken");
    assert_refused(world, run_id, post, form, &[&says]);
    let approve = world.devflow(&["approve", run_id]);
    assert_eq!(approve.code, 2, "{approve:?}");
    assert!(approve.stderr.contains("not waiting for approval"), "{}", approve.stderr);
}
