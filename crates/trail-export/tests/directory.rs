//! Scheduled exports to a local directory: the schedule, a filesystem failure in the middle of a
//! run and its resumption, late arrivals, and the manifests proving no gap and no duplicate.

use std::sync::Arc;

use serde_json::json;
use trail_export::{window_stamp, ConfigInput, ExportService, Status, Trigger};
use trail_store::embedded::EmbeddedStore;

use crate::support::*;

const HOUR: i64 = 3_600_000;

fn dir_config(path: &std::path::Path, interval: &str) -> ConfigInput {
    serde_json::from_value(json!({
        "name": "to disk", "interval": interval,
        "target": {"type": "directory", "path": path.to_str().unwrap(), "prefix": "audit/trail"},
        "maxEventsPerObject": 100
    }))
    .unwrap()
}

fn object(seq_a: u64, seq_b: u64) -> String {
    format!("events-{seq_a:020}-{seq_b:020}.ndjson.gz")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_directory_export_resumes_a_run_that_failed_mid_way_without_gap_or_duplicate() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    append(&store, 0..250, |i| T0 + i as i64 * 60_000).await;
    let (clock, c) = ManualClock::new();
    let mut opts = options(c);
    opts.retry_failed_after = std::time::Duration::from_secs(3600);
    let svc = Arc::new(ExportService::open(data.path(), Arc::new(store.clone()), opts).unwrap());
    let cfg = svc
        .create(dir_config(out.path(), "EVERY_2_HOURS"), None)
        .unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(svc.clone().schedule(stop_rx));

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        svc.runs(&cfg.id, 10).unwrap().is_empty(),
        "nothing runs before the first interval"
    );

    // Run 1: 250 events -> objects of 100, 100, 50, then the manifest.
    let t1 = clock.advance(2 * HOUR);
    let r1 = finished_run(&svc, &cfg.id, 1).await;
    assert_eq!(r1.status, Status::Succeeded, "{r1:?}");
    assert_eq!(
        (r1.events, r1.tasks.len(), r1.trigger),
        (250, 4, Trigger::Schedule)
    );

    // Late arrivals: event times a day before run 1's events, received after it.
    append(&store, 250..500, |i| T0 - 86_400_000 + i as i64).await;
    // Run 2's second object (seqs 351..=450) cannot be written: a directory holds its name.
    let t2 = t1 + 2 * HOUR;
    let window2 = format!("{}_{}", window_stamp(t1), window_stamp(t2));
    let blocker = out
        .path()
        .join("audit/trail")
        .join(&window2)
        .join(object(351, 450));
    std::fs::create_dir_all(blocker.join("occupied")).unwrap();
    clock.advance(2 * HOUR);
    let r2 = finished_run(&svc, &cfg.id, 2).await;
    assert_eq!(r2.status, Status::Failed, "{r2:?}");
    assert_eq!(r2.window, window2);
    assert_eq!(r2.tasks[0].status, Status::Succeeded);
    assert_eq!(
        (r2.tasks[1].status, r2.tasks[1].attempts),
        (Status::Failed, 2)
    );
    let reason = r2.tasks[1].failure_reason.as_deref().unwrap();
    assert!(reason.contains("cannot rename"), "{reason}");
    assert_eq!(
        r2.cursor_seq, 350,
        "progress committed up to the written object"
    );
    assert_eq!(svc.state(&cfg.id).unwrap().exported_through_seq, 250);

    // Events arriving while run 2 is failed belong to run 3: run 2's bounds are fixed.
    append(&store, 500..520, |i| T0 + i as i64).await;
    std::fs::remove_dir_all(&blocker).unwrap();
    clock.advance(HOUR); // the retry delay
    let r2 = wait_for("run 2 resumed", || {
        svc.runs(&cfg.id, 10)
            .unwrap()
            .into_iter()
            .find(|r| r.run_id == 2 && r.status == Status::Succeeded)
    })
    .await;
    assert_eq!((r2.executions, r2.up_to_seq, r2.events), (2, 500, 250));
    assert_eq!(
        r2.tasks[1].attempts, 3,
        "the failed task was retried, not replaced"
    );
    assert_eq!(r2.tasks.len(), 4);

    clock.advance(HOUR); // run 3 is due two hours after run 2's window end
    let r3 = finished_run(&svc, &cfg.id, 3).await;
    assert_eq!(
        (r3.status, r3.events, r3.after_seq, r3.up_to_seq),
        (Status::Succeeded, 20, 500, 520)
    );
    stop.send(true).unwrap();
    scheduler.await.unwrap();

    let manifests = check_complete(&DirView(out.path()), &store, 520).await;
    assert_eq!(manifests.len(), 3);
    let m2 = &manifests[&window2];
    assert_eq!(
        (m2["afterSeq"].as_u64(), m2["upToSeq"].as_u64()),
        (Some(250), Some(500))
    );
    assert_eq!(
        m2["objects"][1]["name"].as_str().unwrap(),
        format!("audit/trail/{window2}/{}", object(351, 450))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_arriving_events_land_in_the_next_run_and_earlier_windows_stay_untouched() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    append(&store, 0..30, |i| T0 + i as i64 * 1000).await;
    let (clock, c) = ManualClock::new();
    let svc = ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap();
    let mut input = dir_config(out.path(), "CUSTOM");
    input.custom_interval_seconds = Some(60);
    let cfg = svc.create(input, None).unwrap();

    let r1 = svc.run_now(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!((r1.status, r1.events), (Status::Succeeded, 30));
    let m1_path = out.path().join(r1.manifest.as_ref().unwrap());
    let m1 = std::fs::read(&m1_path).unwrap();

    // Ten events whose event time is a year before anything exported so far.
    append(&store, 30..40, |i| T0 - 365 * 86_400_000 + i as i64).await;
    clock.advance(60_000);
    let r2 = svc.run_now(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!(
        (r2.status, r2.events, r2.after_seq),
        (Status::Succeeded, 10, 30)
    );
    assert_eq!(
        r2.window_start_ms, r1.window_end_ms,
        "windows are contiguous in received time"
    );
    assert_eq!(
        r2.tasks[0].object.as_deref().unwrap(),
        format!("audit/trail/{}/{}", r2.window, object(31, 40))
    );
    assert_eq!(
        std::fs::read(&m1_path).unwrap(),
        m1,
        "run 1's window is not rewritten"
    );

    // A run with nothing new still writes its (empty) manifest: the window is accounted for.
    clock.advance(60_000);
    let r3 = svc.run_now(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!(
        (r3.status, r3.events, r3.tasks.len()),
        (Status::Succeeded, 0, 1)
    );
    check_complete(&DirView(out.path()), &store, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_export_writes_only_matching_events_and_a_second_run_is_refused_while_one_runs()
{
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    append(&store, 0..90, |i| T0 + i as i64 * 1000).await;
    let (_clock, c) = ManualClock::new();
    let svc =
        Arc::new(ExportService::open(data.path(), Arc::new(store.clone()), options(c)).unwrap());
    let mut input = dir_config(out.path(), "EVERY_4_HOURS");
    input.filter.data_source_id = vec![2]; // i % 3 == 1
    let cfg = svc.create(input, None).unwrap();
    let started = svc.start_run(&cfg.id, Trigger::Manual).await.unwrap();
    assert_eq!(started.status, Status::Running);
    let r = finished_run(&svc, &cfg.id, 1).await;
    assert_eq!((r.status, r.events), (Status::Succeeded, 30));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join(r.manifest.unwrap())).unwrap())
            .unwrap();
    assert_eq!(m["filter"]["dataSourceId"], json!([2]));
    assert_eq!(m["objects"][0]["firstSeq"], 2);
    assert_eq!(m["objects"][0]["lastSeq"], 89);
}
