//! Store benchmark (not a test): durable ingest of N generated events, the peer query suite of
//! `../shared/bench/queries.json` run directly on the store, resident memory and reopen time.
//!
//! ```text
//! cargo bench -p trail-store --bench store_bench                       # N = 1,000,000
//! TRAIL_BENCH_N=10000000 cargo bench -p trail-store --bench store_bench
//! ```
//! `TRAIL_BENCH_INGEST_ONLY=1` stops after the ingest (for profiling it).
//! `TRAIL_BENCH_WRITERS` (default 16) sets how many threads parse and append concurrently, like
//! as many producers: each waits for its batch's group commit, so a few leave the cores idle
//! (at 1M on the 2-core VM, paired: 351–365k events/s with 4 writers, 376–382k with 16; 32 no
//! better).
//! `TRAIL_BENCH_DURABLE_ONLY=1` makes writers wait for durability only (as the HTTP service's
//! self-audit does), not for visibility; the clock still stops once every event is visible.
//! The NDJSON input is read into memory before the clock starts (the peers' incremental-append
//! figures load their rows first too); parsing each document is measured.
//! Events come from `../shared/bench/gen.py N --seed 42` (generated into `$BENCH_DIR`, default
//! /tmp/bench, when missing). At N = 1M every answer is also compared with the peers' golden
//! file `results/reference_answers_n1000000_seed42.json`. Results go to stdout (a markdown table)
//! and to `target/trail-bench/store_N.json`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use trail_model::SearchQuery;
use trail_store::embedded::EmbeddedStore;
use trail_store::NewEvent;

/// The allocator of the `trail` binary, so the figures are the ones it gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1000;
const RUNS: usize = 7;

fn runs() -> usize {
    std::env::var("TRAIL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
}

#[path = "support/peer_suite.rs"]
mod peer_suite;
use peer_suite::shared_bench;

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

fn run_suite(store: &EmbeddedStore, n: usize) -> Vec<Value> {
    peer_suite::run(n, runs(), |q| store.search_blocking(q).unwrap())
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
    // `TRAIL_BENCH_SETTLE_S`: wait before the suite, so the background preparation of the
    // loaded blocks (`EmbeddedStore::warm`) is done and the suite measures a settled store.
    if let Some(settle) = std::env::var("TRAIL_BENCH_SETTLE_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_secs_f64(settle));
    }
    let suite = run_suite(&store, n);
    // Searches build some per-block counts on first use: the memory they settle at.
    let index_bytes_after_suite = store.stats_blocking().index_bytes;
    let (scan_s, scan_bytes) = scan_everything(&store, stats.last_seq);
    println!(
        "{}",
        json!({"reopen_s": reopen_s, "rss_kb_after_open": rss_after_open, "rss_kb_after_suite": rss_kb(), "index_bytes": stats.index_bytes, "index_bytes_after_suite": index_bytes_after_suite, "events": stats.events, "suite": suite, "scan_s": scan_s, "scan_bytes": scan_bytes})
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
    // The input is read and cut into batches of 1,000 lines before the clock starts, as the
    // peers' incremental-append figures load their rows first: the figure is the store's, not
    // the file reader's. Parsing each document stays inside the measured time.
    let mut batches: Vec<Vec<String>> = Vec::with_capacity(n.div_ceil(BATCH));
    for line in BufReader::with_capacity(1 << 20, std::fs::File::open(&events).unwrap())
        .lines()
        .take(n)
    {
        if batches.last().is_none_or(|b| b.len() == BATCH) {
            batches.push(Vec::with_capacity(BATCH));
        }
        batches.last_mut().unwrap().push(line.unwrap());
    }
    let durable_only = std::env::var_os("TRAIL_BENCH_DURABLE_ONLY").is_some();
    let writer_threads: usize = std::env::var("TRAIL_BENCH_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|w| *w > 0)
        .unwrap_or(16);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let store = EmbeddedStore::open(&store_dir).unwrap();
    let t = Instant::now();
    let writers: Vec<_> = (0..writer_threads)
        .map(|_| {
            let (store, queue) = (store.clone(), queue.clone());
            std::thread::spawn(move || {
                let (mut stored, mut last_seq) = (0u64, 0u64);
                loop {
                    let Some(lines) = queue.lock().unwrap().next() else {
                        break;
                    };
                    let batch: Vec<NewEvent> = lines
                        .into_iter()
                        .map(|l| NewEvent::parse(l).unwrap())
                        .collect();
                    let report = if durable_only {
                        store.append_durable_blocking(batch)
                    } else {
                        store.append_blocking(batch)
                    }
                    .unwrap();
                    stored += report.stored;
                    last_seq = last_seq.max(
                        report
                            .results
                            .iter()
                            .filter_map(|r| r.stored_seq())
                            .max()
                            .unwrap_or(0),
                    );
                }
                (stored, last_seq)
            })
        })
        .collect();
    let (mut stored, mut last_seq) = (0u64, 0u64);
    for w in writers {
        let (s, l) = w.join().unwrap();
        stored += s;
        last_seq = last_seq.max(l);
    }
    store.wait_visible_blocking(last_seq).unwrap();
    let ingest_s = t.elapsed().as_secs_f64();
    assert_eq!(stored as usize, n);
    let rss_after_ingest = rss_kb();
    let stats = store.stats_blocking();
    drop(store);
    if std::env::var_os("TRAIL_BENCH_INGEST_ONLY").is_some() {
        println!(
            "durable ingest ({writer_threads} writers): {:.0} events/s ({ingest_s:.1} s)",
            n as f64 / ingest_s
        );
        return;
    }

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
    println!("| durable ingest (batches of {BATCH}, {writer_threads} writers, incl. JSON parsing) | {:.0} events/s ({ingest_s:.1} s) |", n as f64 / ingest_s);
    println!("| reopen | {:.2} s |", child["reopen_s"].as_f64().unwrap());
    println!(
        "| index memory (estimate) | {:.1} bytes/event |",
        stats.index_bytes as f64 / n as f64
    );
    println!(
        "| index memory after the query suite (estimate) | {:.1} bytes/event |",
        child["index_bytes_after_suite"]
            .as_f64()
            .unwrap_or(f64::NAN)
            / n as f64
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
