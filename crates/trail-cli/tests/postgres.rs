//! Several `trail serve` processes on one PostgreSQL database, and PostgreSQL restarted under
//! ingest. Real processes, a real server (the throwaway cluster of `cargo xtask test`), real
//! HTTP on loopback.
//!
//! The two tests share the one test cluster and one of them restarts it, so they take
//! [`CLUSTER`] in turn (the other tests of this binary do not use PostgreSQL).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{run, Served};

static CLUSTER: Mutex<()> = Mutex::new(());

const ADMIN_KEY: &str = "multi-node-admin-key-0123456789abcdef0123456789abcdef";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn fresh_url(prefix: &str) -> String {
    rt().block_on(trail_postgres::testdb::fresh_database(prefix))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Rows of one SQL query on the test database, as `i64`s of the first column.
fn column(url: &str, sql: &str) -> Vec<i64> {
    rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
            .query(sql, &[])
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect()
    })
}

fn node(url: &str, dir: &Path) -> Served {
    Served::start(
        &["--store", url, "--listen", "127.0.0.1:0"],
        &[("TRAIL_BOOTSTRAP_KEY", ADMIN_KEY)],
        dir,
    )
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// (status, body) of a request; transport errors panic.
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let req = agent
        .request(method, url)
        .set("Authorization", key)
        .set("Content-Type", "application/json");
    let res = match body {
        Some(b) => req.send_string(&b.to_string()),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

const OUTCOMES: [&str; 3] = ["success", "failure", "userError"];

fn event(id: &str, i: i64) -> Value {
    json!({
        "id": id,
        "dateTime": (1_650_000_000_000_i64 + i * 1_000).to_string(),
        "recordType": "sqlQuery",
        "dataSourceId": 1 + i % 5,
        "dataSourceName": format!("ds {}", 1 + i % 5),
        "profileId": 10 + i % 3,
        "userId": format!("u{}@example.com", 10 + i % 3),
        "outcome": OUTCOMES[(i % 3) as usize],
    })
}

#[test]
fn two_nodes_on_one_database_store_each_event_once_gap_free_and_answer_alike() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let url = fresh_url("multinode");
    let dir = tempfile::tempdir().unwrap();
    let a = node(&url, dir.path());
    let b = node(&url, dir.path());
    let bases = [a.url(), b.url()];

    // Four writers, two per node; the same ids go through both nodes.
    let (batches, per_batch) = (20, 50);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = bases[w % 2].clone();
            std::thread::spawn(move || {
                let agent = agent();
                let (mut stored, mut dups) = (0, 0);
                for k in 0..batches {
                    let docs: Vec<Value> = (0..per_batch)
                        .map(|i| {
                            let n = ((w / 2) * batches + k) * per_batch + i;
                            event(&format!("e-{n}"), n as i64)
                        })
                        .collect();
                    let (st, body) = call(
                        &agent,
                        "POST",
                        &format!("{base}/v1/events"),
                        ADMIN_KEY,
                        Some(&json!(docs)),
                    );
                    assert_eq!(st, 200, "{body}");
                    let v: Value = serde_json::from_str(&body).unwrap();
                    stored += v["stored"].as_u64().unwrap();
                    dups += v["duplicates"].as_u64().unwrap();
                }
                (stored, dups)
            })
        })
        .collect();
    let (mut stored, mut dups) = (0, 0);
    for w in writers {
        let (s, d) = w.join().unwrap();
        stored += s;
        dups += d;
    }
    let distinct = (2 * batches * per_batch) as u64;
    assert_eq!(
        (stored, dups),
        (distinct, distinct),
        "each event stored once, the repeat reported"
    );

    // Sequence numbers 1..N without a gap, in the one table both nodes write.
    let seqs = column(&url, "SELECT seq FROM trail_events ORDER BY seq");
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let ids = column(&url, "SELECT count(*) FROM trail_event_ids");
    assert_eq!(ids, vec![seqs.len() as i64]);

    // Identical answers from both nodes (bounded to the ingested data: each search adds a
    // self-audit record of its own).
    let agent = agent();
    for q in [
        "maxDate=2023-01-01",
        "maxDate=2023-01-01&sortOrder=asc&size=500&offset=700",
        "maxDate=2023-01-01&dataSourceId=2,3&outcome=failure",
        "maxDate=2023-01-01&profileId=11&size=0",
    ] {
        let (sa, ja) = call(
            &agent,
            "GET",
            &format!("{}/audit?{q}", bases[0]),
            ADMIN_KEY,
            None,
        );
        let (sb, jb) = call(
            &agent,
            "GET",
            &format!("{}/audit?{q}", bases[1]),
            ADMIN_KEY,
            None,
        );
        assert_eq!((sa, sb), (200, 200), "{ja} {jb}");
        let (ja, jb): (Value, Value) = (
            serde_json::from_str(&ja).unwrap(),
            serde_json::from_str(&jb).unwrap(),
        );
        assert_eq!(ja, jb, "{q}");
        if q == "maxDate=2023-01-01" {
            assert_eq!(ja["count"], distinct);
        }
    }

    // A key created on node A (or by the CLI on the database) works on node B at once; revoked
    // on B, it stops working on A with the next request (no node caches keys: bound 0).
    let (st, body) = call(
        &agent,
        "POST",
        &format!("{}/v1/users", bases[0]),
        ADMIN_KEY,
        Some(&json!({"userId": "reader@example.com", "name": "Reader", "permissions": ["AUDIT"]})),
    );
    assert_eq!(st, 201, "{body}");
    let profile = serde_json::from_str::<Value>(&body).unwrap()["profileId"]
        .as_i64()
        .unwrap();
    let (st, body) = call(
        &agent,
        "POST",
        &format!("{}/v1/keys", bases[0]),
        ADMIN_KEY,
        Some(&json!({"name": "k", "profileId": profile})),
    );
    assert_eq!(st, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let key = created["key"].as_str().unwrap();
    let key_id = created["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| created["id"].to_string());
    let probe =
        |base: &str, key: &str| call(&agent, "GET", &format!("{base}/audit?size=0"), key, None).0;
    assert_eq!(probe(&bases[1], key), 200, "a key made on A works on B");
    let (st, body) = call(
        &agent,
        "DELETE",
        &format!("{}/v1/keys/{key_id}", bases[1]),
        ADMIN_KEY,
        None,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(probe(&bases[0], key), 401, "revoked on B, refused on A");
    assert_eq!(probe(&bases[1], key), 401);

    let (ok, out) = run(&[
        "keys",
        "create",
        "--store",
        &url,
        "--profile-id",
        &profile.to_string(),
        "--name",
        "cli",
    ]);
    assert!(ok, "{out}");
    let cli_key = out.lines().last().unwrap().trim().to_string();
    assert_eq!(
        probe(&bases[0], &cli_key),
        200,
        "a key made by `trail keys create --store` works at once"
    );
    assert_eq!(probe(&bases[1], &cli_key), 200);

    assert!(a.stop().success());
    assert!(b.stop().success());
}

fn pg_ctl(args: &[&str]) {
    let ctl =
        std::env::var("TRAIL_TEST_PG_CTL").expect("TRAIL_TEST_PG_CTL (set by `cargo xtask test`)");
    let user = std::env::var("TRAIL_TEST_PG_OS_USER").unwrap_or_default();
    let mut cmd = if user.is_empty() {
        Command::new(&ctl)
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--", &ctl]);
        c
    };
    let out = cmd.args(args).output().expect("run pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn postgres_restarted_under_ingest_gives_503_loses_nothing_acknowledged_and_trail_reconnects() {
    let _turn = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let data = std::env::var("TRAIL_TEST_POSTGRES_DATA").expect(
        "TRAIL_TEST_POSTGRES_DATA is not set: run the PostgreSQL tests with `cargo xtask test`",
    );
    let log = Path::new(&data).parent().unwrap().join("postgres.log");
    let url = fresh_url("fault");
    let dir = tempfile::tempdir().unwrap();
    let n = node(&url, dir.path());
    let base = n.url();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, base) = (stop.clone(), base.clone());
        std::thread::spawn(move || {
            let agent = agent();
            let mut acked: Vec<String> = Vec::new();
            let mut unavailable: Vec<String> = Vec::new();
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<String> = (0..20).map(|i| format!("f-{k}-{i}")).collect();
                let docs: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| event(id, i as i64))
                    .collect();
                let (st, body) = call(
                    &agent,
                    "POST",
                    &format!("{base}/v1/events"),
                    ADMIN_KEY,
                    Some(&json!(docs)),
                );
                match st {
                    200 => acked.extend(ids),
                    503 => unavailable.push(body),
                    other => panic!("unexpected {other}: {body}"),
                }
                k += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (acked, unavailable)
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    pg_ctl(&["-D", &data, "-m", "fast", "-w", "stop"]);
    std::thread::sleep(Duration::from_millis(300));
    // A search while the database is down: 503 with a clear JSON message.
    let agent = agent();
    let (st, body) = call(&agent, "GET", &format!("{base}/audit"), ADMIN_KEY, None);
    assert_eq!(st, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(v["error"], "unavailable", "{body}");
    assert!(v["message"].as_str().unwrap().contains("retry"), "{body}");
    std::thread::sleep(Duration::from_millis(1200));
    pg_ctl(&["-D", &data, "-l", log.to_str().unwrap(), "-w", "start"]);
    // Trail reconnects by itself: ingest succeeds again within a bound.
    let t0 = Instant::now();
    loop {
        let (st, body) = call(
            &agent,
            "GET",
            &format!("{base}/audit?size=0&maxDate=2023-01-01"),
            ADMIN_KEY,
            None,
        );
        if st == 200 {
            break;
        }
        assert_eq!(st, 503, "{body}");
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no reconnection within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (acked, unavailable) = writer.join().unwrap();
    assert!(!unavailable.is_empty(), "the writer saw the outage");
    for body in &unavailable {
        let v: Value = serde_json::from_str(body).expect("503 bodies are JSON");
        assert_eq!(v["error"], "unavailable", "{body}");
    }
    assert!(
        acked.len() >= 40,
        "batches were acknowledged before and after: {}",
        acked.len()
    );

    // Every acknowledged event is there, once; the sequence has no gap.
    let present: HashSet<String> = rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query("SELECT id FROM trail_event_ids", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    let missing: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let seqs = column(&url, "SELECT seq FROM trail_events ORDER BY seq");
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert!(n.stop().success());
}
