//! Store benchmark (not a test): durable ingest of N generated events, the peer query suite of
//! `../shared/bench/queries.json` run directly on the store, resident memory and reopen time.
//!
//! ```text
//! cargo bench -p trail-store --bench store_bench                       # N = 1,000,000
//! TRAIL_BENCH_N=10000000 cargo bench -p trail-store --bench store_bench
//! ```
//! Events come from `../shared/bench/gen.py N --seed 42` (generated into `$BENCH_DIR`, default
//! /tmp/bench, when missing). At N = 1M every answer is also compared with the peers' golden
//! file `results/reference_answers_n1000000_seed42.json`. Results go to stdout (a markdown table)
//! and to `target/trail-bench/store_N.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

use serde_json::{json, Value};
use trail_model::{timefmt, LegacyHit, Outcome, SearchAnswer, SearchQuery, SortOrder};
use trail_store::embedded::EmbeddedStore;
use trail_store::NewEvent;

const BATCH: usize = 1000;
const WRITERS: usize = 2;
const RUNS: usize = 7;

fn shared_bench() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench")
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn query_from(params: &Value) -> SearchQuery {
    let mut q = SearchQuery::new();
    let ints = |k: &str| {
        params
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    };
    q.data_source_ids = ints("dataSourceId");
    q.project_ids = ints("projectId");
    q.profile_ids = ints("profileId");
    if let Some(rt) = params.get("recordType").and_then(Value::as_str) {
        q.record_types = vec![rt.to_string()];
    }
    if let Some(o) = params.get("outcome").and_then(Value::as_str) {
        q.outcomes = vec![Outcome::parse(o).expect("known outcome")];
    }
    q.min_time_ms = params
        .get("minDate")
        .and_then(Value::as_str)
        .and_then(timefmt::parse_iso_ms);
    q.max_time_ms = params
        .get("maxDate")
        .and_then(Value::as_str)
        .and_then(timefmt::parse_iso_ms);
    q.blob_id = params
        .get("blobId")
        .and_then(Value::as_str)
        .map(str::to_string);
    q.purpose = params.get("purpose").and_then(Value::as_i64);
    q.offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0);
    q.size = params.get("size").and_then(Value::as_u64).unwrap_or(50) as usize;
    if params.get("sortOrder").and_then(Value::as_str) == Some("asc") {
        q.sort_order = SortOrder::Asc;
    }
    q
}

/// The answer in the peers' JSON shape (hits rendered as legacy hits), as the server sends it.
fn render(a: &SearchAnswer) -> Value {
    let hits: Vec<Value> = a
        .hits
        .iter()
        .map(|h| serde_json::to_value(LegacyHit::from_document(&h.document).unwrap()).unwrap())
        .collect();
    let ids = |v: &[trail_model::FacetEntry]| {
        v.iter()
            .map(|f| json!({"name": f.name, "id": f.id, "count": f.count.to_string()}))
            .collect::<Vec<_>>()
    };
    let names = |v: &[trail_model::NameCount]| {
        v.iter()
            .map(|f| json!({"name": f.name, "count": f.count.to_string()}))
            .collect::<Vec<_>>()
    };
    json!({
        "hits": hits,
        "facets": {
            "datasources": ids(&a.facets.datasources),
            "projects": ids(&a.facets.projects),
            "users": ids(&a.facets.users),
            "recordTypes": names(&a.facets.record_types),
            "outcomes": names(&a.facets.outcomes),
        },
        "minDate": a.min_time_ms.map(timefmt::format_iso_ms),
        "maxDate": a.max_time_ms.map(timefmt::format_iso_ms),
        "count": a.count,
    })
}

/// Compares with the peers' answer: page dateTimes, count, min/max and facets (ties within a
/// page may order differently between engines, as the peers' own digest allows).
fn same_as_reference(mine: &Value, reference: &Value) -> bool {
    let times = |v: &Value| {
        v["hits"]
            .as_array()
            .map(|h| h.iter().map(|x| x["dateTime"].clone()).collect::<Vec<_>>())
    };
    times(mine) == times(reference)
        && mine["count"] == reference["count"]
        && mine["minDate"] == reference["minDate"]
        && mine["maxDate"] == reference["maxDate"]
        && mine["facets"] == reference["facets"]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn run_suite(store: &EmbeddedStore, n: usize) -> Vec<Value> {
    let suite: Value = serde_json::from_str(
        &std::fs::read_to_string(shared_bench().join("queries.json")).unwrap(),
    )
    .unwrap();
    let reference: Option<Value> = (n == 1_000_000)
        .then(|| {
            std::fs::read_to_string(
                shared_bench().join("results/reference_answers_n1000000_seed42.json"),
            )
            .ok()
        })
        .flatten()
        .map(|s| serde_json::from_str(&s).unwrap());
    let mut rows = Vec::new();
    for q in suite["queries"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        let query = query_from(&q["params"]);
        let first = render(&store.search_blocking(&query).unwrap());
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let a = store.search_blocking(&query).unwrap();
            let body = serde_json::to_vec(&render(&a)).unwrap();
            std::hint::black_box(body);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let matches = reference
            .as_ref()
            .map(|r| same_as_reference(&first, &r[name]));
        rows.push(json!({"name": name, "median_ms": median(times.clone()), "max_ms": times.iter().cloned().fold(0.0, f64::max), "count": first["count"], "matches_reference": matches}));
    }
    rows
}

/// Reads every event through the export cursor (`scan_matching`, 5,000 per call, each record
/// checked against its SHA-256): the store's side of an export.
fn scan_everything(store: &EmbeddedStore, last_seq: u64) -> (f64, u64) {
    let t = Instant::now();
    let (mut after, mut bytes) = (0u64, 0u64);
    loop {
        let page = store
            .scan_matching_blocking(&SearchQuery::new(), after, last_seq, 5_000)
            .unwrap();
        bytes += page.iter().map(|e| e.document.len() as u64).sum::<u64>();
        match page.last() {
            Some(e) => after = e.seq,
            None => break,
        }
    }
    assert_eq!(after, last_seq, "the cursor scan reached every event");
    (t.elapsed().as_secs_f64(), bytes)
}

fn reopen_child(dir: &str, n: usize) {
    let t = Instant::now();
    let store = EmbeddedStore::open(dir).unwrap();
    let reopen_s = t.elapsed().as_secs_f64();
    let stats = store.stats_blocking();
    let rss_after_open = rss_kb();
    let suite = run_suite(&store, n);
    let (scan_s, scan_bytes) = scan_everything(&store, stats.last_seq);
    println!(
        "{}",
        json!({"reopen_s": reopen_s, "rss_kb_after_open": rss_after_open, "rss_kb_after_suite": rss_kb(), "index_bytes": stats.index_bytes, "events": stats.events, "suite": suite, "scan_s": scan_s, "scan_bytes": scan_bytes})
    );
}

fn main() {
    if let Ok(dir) = std::env::var("TRAIL_BENCH_REOPEN_CHILD") {
        let n = std::env::var("TRAIL_BENCH_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        return reopen_child(&dir, n);
    }
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` runs benches in test mode: nothing to do.
    }
    let n: usize = std::env::var("TRAIL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench_dir =
        PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp/bench".into()));
    std::fs::create_dir_all(&bench_dir).unwrap();
    let events = bench_dir.join(format!("events_{n}.ndjson"));
    let events = if n == 1_000_000 && bench_dir.join("events_1m.ndjson").exists() {
        bench_dir.join("events_1m.ndjson")
    } else {
        events
    };
    if !events.exists() {
        eprintln!("generating {} with gen.py ...", events.display());
        let ok = Command::new("python3")
            .arg(shared_bench().join("gen.py"))
            .args([
                n.to_string(),
                "--seed".into(),
                "42".into(),
                "--out".into(),
                events.display().to_string(),
                "--workers".into(),
                "2".into(),
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "gen.py failed");
    }
    let store_dir = bench_dir.join(format!("trail-store-{n}"));
    let _ = std::fs::remove_dir_all(&store_dir);
    let store = EmbeddedStore::open(&store_dir).unwrap();

    // Ingest: a reader thread cuts batches of 1,000 lines; WRITERS threads parse and append.
    let t = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Vec<String>>(8);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, rx) = (store.clone(), rx.clone());
            std::thread::spawn(move || {
                let mut stored = 0u64;
                loop {
                    let Ok(lines) = rx.lock().unwrap().recv() else {
                        break;
                    };
                    let batch: Vec<NewEvent> = lines
                        .into_iter()
                        .map(|l| NewEvent::parse(l).unwrap())
                        .collect();
                    stored += store.append_blocking(batch).unwrap().stored;
                }
                stored
            })
        })
        .collect();
    let mut batch = Vec::with_capacity(BATCH);
    for line in BufReader::with_capacity(1 << 20, std::fs::File::open(&events).unwrap())
        .lines()
        .take(n)
    {
        batch.push(line.unwrap());
        if batch.len() == BATCH {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    if !batch.is_empty() {
        tx.send(batch).unwrap();
    }
    drop(tx);
    let stored: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(stored as usize, n);
    let rss_after_ingest = rss_kb();
    let stats = store.stats_blocking();
    drop(store);

    // Reopen and queries in a fresh process, so memory is what a restarted server holds.
    let out = Command::new(std::env::current_exe().unwrap())
        .env("TRAIL_BENCH_REOPEN_CHILD", &store_dir)
        .env("TRAIL_BENCH_N", n.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child: Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .find(|l| l.starts_with(b"{"))
            .unwrap(),
    )
    .unwrap();
    let disk: u64 = walk_size(&store_dir);

    println!("\n## Trail embedded store, N = {n}\n");
    println!("| metric | value |\n|---|---:|");
    println!("| durable ingest (batches of {BATCH}, {WRITERS} writers, incl. JSON parsing) | {:.0} events/s ({ingest_s:.1} s) |", n as f64 / ingest_s);
    println!("| reopen | {:.2} s |", child["reopen_s"].as_f64().unwrap());
    println!(
        "| index memory (estimate) | {:.1} bytes/event |",
        stats.index_bytes as f64 / n as f64
    );
    println!(
        "| RSS after reopen (fresh process) | {} MB = {:.1} bytes/event |",
        child["rss_kb_after_open"].as_u64().unwrap() / 1024,
        child["rss_kb_after_open"].as_u64().unwrap() as f64 * 1024.0 / n as f64
    );
    println!(
        "| RSS after ingest (ingesting process) | {} MB |",
        rss_after_ingest / 1024
    );
    println!("| on disk | {} MB |", disk >> 20);
    let scan_s = child["scan_s"].as_f64().unwrap();
    println!(
        "| cursor scan of every event (`scan_matching`, 5,000 per call, SHA-256 checked) | {:.0} events/s, {:.0} MB/s |",
        n as f64 / scan_s,
        child["scan_bytes"].as_f64().unwrap() / scan_s / 1e6
    );
    println!(
        "\n| query | count | median ms | max ms | same answer as peers |\n|---|---:|---:|---:|---|"
    );
    let mut total = 0.0;
    for r in child["suite"].as_array().unwrap() {
        total += r["median_ms"].as_f64().unwrap();
        println!(
            "| {} | {} | {:.2} | {:.2} | {} |",
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
    let result = json!({"n": n, "ingest_s": ingest_s, "ingest_events_per_s": n as f64 / ingest_s, "index_bytes": stats.index_bytes, "rss_kb_after_ingest": rss_after_ingest, "disk_bytes": disk, "reopen": child});
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/trail-bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::write(
        out_dir.join(format!("store_{n}.json")),
        serde_json::to_vec_pretty(&result).unwrap(),
    )
    .unwrap();
}

fn walk_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        walk_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
