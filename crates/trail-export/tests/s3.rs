//! Scheduled exports to a real S3-compatible server (moto), through a TCP proxy the test cuts in
//! the middle of a run: one object is stored by moto but its answer is lost, the next attempts
//! are refused. The resumed run rewrites that object under the same name and finishes; the
//! bucket then holds every event exactly once, as the manifests say.

use std::sync::Arc;

use serde_json::json;
use trail_export::{ExportService, Status, TargetSpec};
use trail_store::embedded::EmbeddedStore;

use crate::support::*;

const HOUR: i64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_s3_export_survives_a_cut_connection_mid_run_without_gap_or_duplicate() {
    let moto = Moto::start();
    moto.create_bucket("audit-exports");
    let proxy = Proxy::start(&moto.url);
    let data = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(data.path()).unwrap();
    append(&store, 0..250, |i| T0 + i as i64 * 60_000).await;
    let (clock, c) = ManualClock::new();
    let mut opts = options(c);
    opts.retry_failed_after = std::time::Duration::from_secs(3600);
    let svc = Arc::new(ExportService::open(data.path(), Arc::new(store.clone()), opts).unwrap());
    let input = serde_json::from_value(json!({
        "name": "to s3", "interval": "EVERY_2_HOURS",
        "target": {"type": "s3", "endpoint": proxy.url, "bucket": "audit-exports", "prefix": "trail",
                   "region": "us-east-1", "accessKeyId": S3_KEY_ID, "secretAccessKey": S3_SECRET},
        "maxEventsPerObject": 100
    }))
    .unwrap();
    let cfg = svc.create(input, None).unwrap();
    let shown = serde_json::to_string(&cfg.masked()).unwrap();
    assert!(
        !shown.contains("s3cr3t") && !shown.contains("AKIDTRAILTEST"),
        "{shown}"
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(svc.clone().schedule(stop_rx));

    clock.advance(2 * HOUR);
    let r1 = finished_run(&svc, &cfg.id, 1).await;
    assert_eq!(
        (r1.status, r1.events, r1.tasks.len()),
        (Status::Succeeded, 250, 4),
        "{r1:?}"
    );

    append(&store, 250..500, |i| T0 - 86_400_000 + i as i64).await;
    // One PUT passes, the second reaches moto but its answer is lost, the rest are refused.
    proxy.cut_after(1);
    clock.advance(2 * HOUR);
    let r2 = finished_run(&svc, &cfg.id, 2).await;
    assert_eq!(r2.status, Status::Failed, "{r2:?}");
    assert_eq!(r2.tasks[0].status, Status::Succeeded);
    assert_eq!(
        (r2.tasks[1].status, r2.tasks[1].attempts),
        (Status::Failed, 2)
    );
    assert!(!r2.failure_reason.as_deref().unwrap().contains("s3cr3t"));
    let second = r2.tasks[1].object.clone().unwrap();
    let view = S3View {
        moto: &moto,
        bucket: "audit-exports",
    };
    assert!(
        view.list().contains(&second),
        "moto stored the object whose answer was lost"
    );
    assert!(!view
        .list()
        .iter()
        .any(|n| n.starts_with(&format!("trail/{}/manifest", r2.window))));

    assert!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst) >= 7,
        "run 1 (4 PUTs) and run 2 (3 attempts) went through the proxy"
    );
    proxy.heal();
    clock.advance(HOUR);
    let r2 = wait_for("run 2 resumed", || {
        svc.runs(&cfg.id, 10)
            .unwrap()
            .into_iter()
            .find(|r| r.run_id == 2 && r.status == Status::Succeeded)
    })
    .await;
    assert_eq!(
        (r2.executions, r2.events, r2.tasks[1].attempts),
        (2, 250, 3)
    );
    assert_eq!(
        r2.tasks[1].object.as_ref(),
        Some(&second),
        "same object name on retry"
    );
    stop.send(true).unwrap();
    scheduler.await.unwrap();

    let manifests = check_complete(&view, &store, 500).await;
    assert_eq!(manifests.len(), 2);
    assert!(matches!(cfg.input.target, TargetSpec::S3 { .. }));
}
