//! PostgreSQL backend benchmark (not a test): ingest of N generated events through
//! `AuditStore::append`, then the peer query suite of `../shared/bench/queries.json` through
//! `AuditStore::search`, on a durable cluster.
//!
//! ```text
//! cargo xtask bench-postgres            # N = 1,000,000; starts and removes its own cluster
//! cargo xtask bench-postgres 10000000
//! ```
//! Events: `$BENCH_DIR/events_1m.ndjson` (or `events_N.ndjson`), made by
//! `../shared/bench/gen.py N --seed 42`. Batches of `TRAIL_BENCH_BATCH` (default 1,000) events,
//! two concurrent writers (the ingest lock lets one commit at a time; the other parses and
//! hashes meanwhile). After ingest, `VACUUM (FREEZE, ANALYZE)` as the peers ran it. Each query:
//! one warm-up, then the median of 7 runs. At N = 1M answers are compared with the peers' golden
//! file. Results: stdout (markdown) and `target/trail-bench/postgres_N.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use trail_postgres::{testdb, PgOptions, PostgresStore};
use trail_store::{AuditStore, NewEvent};

const WRITERS: usize = 2;
const RUNS: usize = 7;

#[path = "../../trail-store/benches/support/peer_suite.rs"]
mod peer_suite;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` runs benches in test mode: nothing to do.
    }
    let n: usize = std::env::var("TRAIL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch_size: usize = std::env::var("TRAIL_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let bench_dir =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp/bench".into()));
    let events = if n == 1_000_000 && bench_dir.join("events_1m.ndjson").exists() {
        bench_dir.join("events_1m.ndjson")
    } else {
        bench_dir.join(format!("events_{n}.ndjson"))
    };
    assert!(
        events.exists(),
        "{} is missing: make it with ../shared/bench/gen.py {n} --seed 42 --out ...",
        events.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = rt
        .block_on(testdb::fresh_database("bench"))
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(
        rt.block_on(PostgresStore::connect_with(&url, PgOptions::default()))
            .unwrap(),
    );

    // Ingest: this thread cuts batches; WRITERS tasks parse and append.
    let t = Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<String>>(4);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, rx) = (store.clone(), rx.clone());
            rt.spawn(async move {
                let mut stored = 0u64;
                loop {
                    let Some(lines) = rx.lock().await.recv().await else {
                        break;
                    };
                    let batch: Vec<NewEvent> = lines
                        .into_iter()
                        .map(|l| NewEvent::parse(l).unwrap())
                        .collect();
                    stored += store.append(batch).await.unwrap().stored;
                }
                stored
            })
        })
        .collect();
    let mut batch = Vec::with_capacity(batch_size);
    for line in BufReader::with_capacity(1 << 20, std::fs::File::open(&events).unwrap())
        .lines()
        .take(n)
    {
        batch.push(line.unwrap());
        if batch.len() == batch_size {
            tx.blocking_send(std::mem::replace(
                &mut batch,
                Vec::with_capacity(batch_size),
            ))
            .unwrap();
        }
    }
    if !batch.is_empty() {
        tx.blocking_send(batch).unwrap();
    }
    drop(tx);
    let stored: u64 = writers.into_iter().map(|w| rt.block_on(w).unwrap()).sum();
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(stored as usize, n);

    let (vacuum_s, disk_bytes, heap_bytes) = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let t = Instant::now();
        client
            .batch_execute("VACUUM (FREEZE, ANALYZE)")
            .await
            .unwrap();
        let vacuum_s = t.elapsed().as_secs_f64();
        let size: i64 = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .unwrap()
            .get(0);
        let heap: i64 = client
            .query_one(
                "SELECT sum(pg_relation_size(c.oid))::bigint FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'trail_events'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (vacuum_s, size, heap)
    });

    let rows = peer_suite::run(n, RUNS, |q| rt.block_on(store.search(q.clone())).unwrap());

    println!("\n## Trail PostgreSQL backend, N = {n}\n");
    println!("| metric | value |\n|---|---:|");
    println!(
        "| durable ingest (batches of {batch_size}, {WRITERS} writers, incl. JSON parsing, binary COPY, all indexes) | {:.0} events/s ({ingest_s:.1} s) |",
        n as f64 / ingest_s
    );
    println!("| VACUUM (FREEZE, ANALYZE) after ingest | {vacuum_s:.1} s |");
    println!("| database size | {} MB |", disk_bytes >> 20);
    println!(
        "| events heap (main fork of the partitions: dimensions and inline documents) | {} MB |",
        heap_bytes >> 20
    );
    println!(
        "\n| query | count | median ms | max ms | same answer as peers |\n|---|---:|---:|---:|---|"
    );
    let mut total = 0.0;
    for r in &rows {
        total += r["median_ms"].as_f64().unwrap();
        println!(
            "| {} | {} | {:.1} | {:.1} | {} |",
            r["name"].as_str().unwrap(),
            r["count"],
            r["median_ms"].as_f64().unwrap(),
            r["max_ms"].as_f64().unwrap(),
            match r["matches_reference"].as_bool() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "(no golden file at this N)",
            }
        );
    }
    println!("| **suite total (sum of medians)** | | **{total:.1}** | | |");
    let result = json!({"n": n, "batch": batch_size, "ingest_s": ingest_s, "ingest_events_per_s": n as f64 / ingest_s, "vacuum_s": vacuum_s, "disk_bytes": disk_bytes, "heap_bytes": heap_bytes, "suite": rows});
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/trail-bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(
        out_dir.join(format!("postgres_{n}.json")),
        serde_json::to_vec_pretty(&result).unwrap(),
    )
    .unwrap();
}
