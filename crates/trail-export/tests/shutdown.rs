//! Shutdown: a run in progress stops at an object boundary (the object being written is
//! finished and its cursor committed), no new run starts, and the next start resumes the run
//! with no gap and no duplicate.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use trail_export::{ConfigInput, ExportError, ExportService, RunRecord, Status, Trigger};
use trail_store::embedded::EmbeddedStore;
use trail_store::AuditStore;

use crate::support::*;

fn config(path: &std::path::Path, per_object: u64) -> ConfigInput {
    serde_json::from_value(json!({
        "name": "to disk", "interval": "EVERY_24_HOURS",
        "target": {"type": "directory", "path": path.to_str().unwrap()},
        "maxEventsPerObject": per_object
    }))
    .unwrap()
}

/// An interrupted run is at a clean boundary: every task written and succeeded, the cursor at
/// the last object's end, the event count the sum of the objects', and the target holding
/// exactly those objects (no manifest, no temporary file).
fn assert_clean_boundary(run: &RunRecord, out: &std::path::Path) {
    assert_eq!(run.status, Status::Failed, "{run:?}");
    assert!(
        run.failure_reason
            .as_deref()
            .unwrap_or("")
            .starts_with("interrupted"),
        "{run:?}"
    );
    assert!(run
        .tasks
        .iter()
        .all(|t| t.status == Status::Succeeded && !t.manifest));
    let cursor = run.tasks.iter().filter_map(|t| t.last_seq).max();
    assert_eq!(run.cursor_seq, cursor.unwrap_or(run.after_seq));
    assert_eq!(run.events, run.tasks.iter().map(|t| t.events).sum::<u64>());
    let mut objects: Vec<String> = run.tasks.iter().filter_map(|t| t.object.clone()).collect();
    objects.sort();
    assert_eq!(DirView(out).list(), objects, "only the committed objects");
    assert!(run.manifest.is_none());
}

#[tokio::test]
async fn shutdown_before_the_first_object_stops_the_run_cleanly_and_refuses_new_runs() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    append(&store, 0..50, |i| T0 + i as i64).await;
    let (_clock, c) = ManualClock::new();
    let svc =
        Arc::new(ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap());
    let cfg = svc.create(config(out.path(), 10), None).unwrap();
    // On this single-threaded runtime the spawned run cannot start before the test yields, so
    // shutdown is requested before its first object: deterministic.
    svc.start_run(&cfg.id, Trigger::Manual).await.unwrap();
    svc.begin_shutdown();
    assert!(
        svc.shutdown(Duration::from_secs(30)).await,
        "the run stopped"
    );
    let run = svc.runs(&cfg.id, 1).unwrap().remove(0);
    assert_clean_boundary(&run, out.path());
    assert_eq!((run.tasks.len(), run.cursor_seq), (0, 0));
    assert!(matches!(
        svc.run_now(&cfg.id, Trigger::Manual).await,
        Err(ExportError::ShuttingDown)
    ));
    assert!(matches!(
        svc.start_run(&cfg.id, Trigger::Manual).await,
        Err(ExportError::ShuttingDown)
    ));

    // The next start resumes the same run (same bounds) and completes it.
    drop(svc);
    let (_clock, c) = ManualClock::new();
    let svc = ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap();
    let r = svc.run_now(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!(
        (r.run_id, r.status, r.executions),
        (1, Status::Succeeded, 2)
    );
    check_complete(&DirView(out.path()), &store, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_run_finishes_the_current_object_and_the_next_start_resumes_from_it() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    // 200 objects of 5 events: far more than are written while the test reacts (it saw the
    // run stop after 2 to 8 objects).
    const EVENTS: usize = 1000;
    append(&store, 0..EVENTS, |i| T0 + i as i64).await;
    let last_seq = store.stats().await.unwrap().last_seq;
    let (_clock, c) = ManualClock::new();
    let svc =
        Arc::new(ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap());
    let cfg = svc.create(config(out.path(), 5), None).unwrap();
    svc.start_run(&cfg.id, Trigger::Manual).await.unwrap();
    // Shut down once the run is under way (at least one object committed).
    wait_for("the first object", || {
        let r = svc.runs(&cfg.id, 1).unwrap().remove(0);
        (r.cursor_seq > r.after_seq).then_some(())
    })
    .await;
    assert!(
        svc.shutdown(Duration::from_secs(30)).await,
        "the run stopped"
    );
    let run = svc.runs(&cfg.id, 1).unwrap().remove(0);
    assert_clean_boundary(&run, out.path());
    assert!(
        run.cursor_seq > 0 && run.cursor_seq < last_seq,
        "stopped mid-way: {} of {last_seq}",
        run.cursor_seq
    );
    let written = run.tasks.len();

    // The run's task holds the service (and so `exports.redb`) until just after it ends.
    wait_for("the run task to end", || {
        (Arc::strong_count(&svc) == 1).then_some(())
    })
    .await;
    drop(svc);
    let (_clock, c) = ManualClock::new();
    let svc = ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap();
    let r = svc.run_now(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!((r.run_id, r.status), (1, Status::Succeeded), "{r:?}");
    assert_eq!(r.events, last_seq);
    assert!(
        r.tasks[..written].iter().all(|t| t.attempts == 1),
        "objects committed before the shutdown are not written again"
    );
    check_complete(&DirView(out.path()), &store, last_seq).await;
}
