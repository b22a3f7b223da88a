//! Append semantics: durability across reopen, duplicates, atomic batches, snapshots.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use trail_model::SearchQuery;
use trail_store::embedded::EmbeddedStore;
use trail_store::{AppendResult, NewEvent};

use crate::support::{open_small, simple};

#[test]
fn duplicates_are_reported_not_stored_within_a_batch_and_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let r = store
        .append_blocking(vec![simple("a", 1), simple("b", 2), simple("a", 3)])
        .unwrap();
    assert_eq!((r.stored, r.duplicates), (2, 1));
    assert_eq!(r.results[2], AppendResult::Duplicate { seq: 1 });
    drop(store);
    let store = open_small(dir.path());
    let r = store
        .append_blocking(vec![simple("b", 9), simple("c", 4)])
        .unwrap();
    assert_eq!(
        r.results,
        vec![
            AppendResult::Duplicate { seq: 2 },
            AppendResult::Stored { seq: 3 }
        ]
    );
    assert_eq!(store.stats_blocking().events, 3);
}

#[test]
fn duplicates_are_detected_at_scale_after_blocks_are_sealed_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let batch = |from: usize| {
        (from..from + 500)
            .map(|i| simple(&format!("id-{i}"), i as i64))
            .collect::<Vec<_>>()
    };
    for b in 0..10 {
        assert_eq!(store.append_blocking(batch(b * 500)).unwrap().stored, 500);
    }
    drop(store);
    let store = open_small(dir.path());
    let r = store.append_blocking(batch(4_750)).unwrap();
    assert_eq!((r.stored, r.duplicates), (250, 250));
    assert_eq!(store.stats_blocking().events, 5_250);
    let ev = store.get_blocking("id-123").unwrap().expect("stored");
    assert_eq!(ev.seq, 124);
    assert!(ev.document.contains("\"id-123\""));
    assert!(store.get_blocking("nope").unwrap().is_none());
}

#[test]
fn documents_come_back_byte_for_byte_with_their_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let doc = r#"{ "id":"x1", "dateTime": 1634144773832, "recordType":"auditQuery", "profileId":2, "extra":{"kept":[1,2.50,"z"]} }"#;
    store
        .append_blocking(vec![NewEvent::parse(doc).unwrap()])
        .unwrap();
    let ev = store.get_blocking("x1").unwrap().unwrap();
    assert_eq!(ev.document, doc);
    use sha2::Digest;
    let want: [u8; 32] = sha2::Sha256::digest(doc.as_bytes()).into();
    assert_eq!(ev.hash, want);
    assert_eq!(ev.event_time_ms, 1_634_144_773_832);
}

#[test]
fn scan_returns_events_in_sequence_order_from_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    store
        .append_blocking(
            (0..200)
                .map(|i| simple(&format!("s{i}"), 1000 - i))
                .collect(),
        )
        .unwrap();
    let page = store.scan_blocking(150, 20).unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (151..=170).collect::<Vec<_>>()
    );
    assert_eq!(store.scan_blocking(195, 20).unwrap().len(), 5);
    assert!(store.scan_blocking(200, 20).unwrap().is_empty());
}

#[test]
fn concurrent_appends_get_dense_sequences_and_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = store.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for b in 0..25 {
                    let batch = (0..40)
                        .map(|i| simple(&format!("t{t}-b{b}-{i}"), i))
                        .collect();
                    for r in s.append_blocking(batch).unwrap().results {
                        if let AppendResult::Stored { seq } = r {
                            seqs.push(seq);
                        }
                    }
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=4_000).collect::<Vec<_>>());
}

#[test]
fn a_search_racing_appends_sees_one_consistent_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut b = 0;
            while !stop.load(Ordering::Relaxed) && b < 400 {
                s.append_blocking(
                    (0..25)
                        .map(|i| simple(&format!("r{b}-{i}"), (b * 25 + i) as i64))
                        .collect(),
                )
                .unwrap();
                b += 1;
            }
        })
    };
    let mut q = SearchQuery::new();
    q.size = 5;
    for _ in 0..300 {
        let a = store.search_blocking(&q).unwrap();
        assert_eq!(a.count % 25, 0, "a batch is visible whole or not at all");
        let rt_total: u64 = a.facets.record_types.iter().map(|f| f.count).sum();
        let outcome_total: u64 = a.facets.outcomes.iter().map(|f| f.count).sum();
        assert_eq!(rt_total, a.count);
        assert_eq!(outcome_total, a.count);
        if a.count > 0 {
            assert_eq!(
                a.max_time_ms,
                Some(a.count as i64 - 1),
                "max time is that of the newest visible event"
            );
            assert_eq!(
                a.hits[0].event_time_ms,
                a.count as i64 - 1,
                "the newest hit belongs to the same snapshot"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn a_second_process_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open_small(dir.path());
    let err = EmbeddedStore::open(dir.path()).err().expect("locked");
    assert!(
        err.to_string().contains("in use by another Trail process"),
        "{err}"
    );
}

#[test]
fn an_append_without_the_visibility_wait_is_durable_and_visible_once_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    store
        .append_blocking((0..100).map(|i| simple(&format!("bulk-{i}"), i)).collect())
        .unwrap();
    let r = store
        .append_durable_blocking(vec![simple("read-1", 500), simple("read-2", 501)])
        .unwrap();
    assert_eq!(
        r.results,
        vec![
            AppendResult::Stored { seq: 101 },
            AppendResult::Stored { seq: 102 }
        ]
    );
    store.wait_visible_blocking(102).unwrap();
    let all = store.search_blocking(&SearchQuery::new()).unwrap();
    assert_eq!(all.count, 102, "visible after wait_visible");
    drop(store);
    let store = open_small(dir.path());
    let ev = store.get_blocking("read-2").unwrap().expect("durable");
    assert_eq!(ev.seq, 102);
}

#[test]
fn closing_persists_every_full_block_so_reopening_rebuilds_none_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    // Blocks are sealed in the background; 13,000 events at once queue 203 of them.
    let batch = (0..13_000).map(|i| simple(&format!("e-{i}"), i)).collect();
    store.append_blocking(batch).unwrap();
    store.close_blocking().unwrap();
    let index = dir.path().join("index");
    for block in 0..203 {
        let file = index.join(format!("blk-{block:010}.idx"));
        assert!(file.exists(), "{} missing after close", file.display());
    }
    assert!(
        !index.join("blk-0000000203.idx").exists(),
        "block 203 is not full"
    );
    drop(store);
    let store = open_small(dir.path());
    assert_eq!(
        store.search_blocking(&SearchQuery::new()).unwrap().count,
        13_000
    );
}
