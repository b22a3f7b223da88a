//! Crash test: a child process appends concurrently and is killed with SIGKILL at a random
//! moment, 50 times over the same data directory. After each kill the store must reopen with
//! every acknowledged event present exactly once and every batch present whole or not at all.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use trail_store::embedded::{EmbeddedOptions, EmbeddedStore};
use trail_store::NewEvent;

const CHILD_ENV: &str = "TRAIL_CRASH_CHILD_DIR";
const ROUNDS: u32 = 50;

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        max_segment_bytes: 1 << 20,
        block_rows: 1024,
        ..EmbeddedOptions::default()
    }
}

fn batch_size(round: u32, thread: u32, n: u32) -> u32 {
    1 + (round * 7919 + thread * 104_729 + n * 31) % 40
}

fn batch(round: u32, thread: u32, n: u32) -> Vec<NewEvent> {
    let size = batch_size(round, thread, n);
    (0..size)
        .map(|e| {
            let id = format!("r{round}-t{thread}-b{n}-s{size}-e{e}");
            NewEvent::parse(crate::support::legacy_doc(
                &id,
                (round * 100_000 + n * 100 + e) as i64,
                Some((1 + e as i64 % 5, "ds")),
                None,
                Some((thread as i64, "writer")),
                "sqlQuery",
                "success",
                None,
                None,
            ))
            .unwrap()
        })
        .collect()
}

/// The writer: runs only when the parent test starts this binary with `CHILD_ENV` set.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var("TRAIL_CRASH_ROUND").unwrap().parse().unwrap();
    let store = EmbeddedStore::open_with(&dir, options()).unwrap();
    if round > 0 {
        // A client retrying the previous round's first batch: stored at most once.
        store.append_blocking(batch(round - 1, 0, 0)).unwrap();
    }
    // Threads 0 to 2 append in bulk; thread 3 as Trail records its searches (the urgent path,
    // committed by whichever thread holds the writer lock and synced by the appender itself).
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    if t == 3 {
                        s.append_durable_blocking(batch(round, t, n)).unwrap();
                    } else {
                        s.append_blocking(batch(round, t, n)).unwrap();
                    }
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK r{round}-t{t}-b{n}-s{}", batch_size(round, t, n)).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn sigkill_during_concurrent_appends_loses_no_acknowledged_event() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2024);
    let mut acked: HashSet<String> = HashSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_writer_child",
                "--nocapture",
                "--test-threads=1",
                "--quiet",
            ])
            .env(CHILD_ENV, dir.path())
            .env("TRAIL_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("ACK ").map(str::to_string))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        acked.extend(lines);

        let store = EmbeddedStore::open_with(dir.path(), options()).unwrap();
        let events = store.scan_blocking(0, usize::MAX).unwrap();
        let mut ids = HashSet::new();
        let mut per_batch: HashMap<String, u32> = HashMap::new();
        for e in &events {
            let d = trail_model::parse_event(&e.document).unwrap();
            assert!(
                ids.insert(d.id.clone()),
                "round {round}: {} stored twice",
                d.id
            );
            let (batch_id, _) = d.id.rsplit_once("-e").unwrap();
            *per_batch.entry(batch_id.to_string()).or_default() += 1;
        }
        for (batch_id, n) in &per_batch {
            let size: u32 = batch_id.rsplit_once("-s").unwrap().1.parse().unwrap();
            assert_eq!(*n, size, "round {round}: batch {batch_id} is half-present");
        }
        for a in &acked {
            assert!(
                per_batch.contains_key(a),
                "round {round}: acknowledged batch {a} lost"
            );
        }
        assert_eq!(store.stats_blocking().events, events.len() as u64);
        drop(store);
    }
    assert!(
        acked.len() > ROUNDS as usize,
        "the writer made progress ({} acknowledged batches)",
        acked.len()
    );
}
