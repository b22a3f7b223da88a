//! Torn tails are dropped; corruption anywhere else is reported with segment and offset.

use std::fs;
use std::os::unix::fs::FileExt;

use rand::{Rng, SeedableRng};
use trail_store::embedded::log::list_segments;
use trail_store::StoreError;

use crate::support::{open_small, simple};

fn fill(dir: &std::path::Path, batches: usize) {
    let store = open_small(dir);
    for b in 0..batches {
        store
            .append_blocking(
                (0..10)
                    .map(|i| simple(&format!("b{b}-{i}"), (b * 10 + i) as i64))
                    .collect(),
            )
            .unwrap();
    }
    // Full blocks are sealed and persisted in the background; waiting for that here keeps a
    // test that then changes `index/` from racing the sealer thread.
    store.close_blocking().unwrap();
}

/// A power cut mid-write: the file ends at byte `len`.
fn cut_at(path: &std::path::Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn torn_tail_at_a_random_byte_is_dropped_whole_batches_survive() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        fill(dir.path(), 12);
        let segs = list_segments(&dir.path().join("log")).unwrap();
        let (_, last) = segs.last().unwrap();
        let len = fs::metadata(last).unwrap().len();
        let cut = rng.gen_range(16..len);
        cut_at(last, cut);
        let store = open_small(dir.path());
        let n = store.stats_blocking().events;
        assert_eq!(n % 10, 0, "round {round}: batches are atomic, got {n}");
        for seq in 1..=n {
            let id = format!("b{}-{}", (seq - 1) / 10, (seq - 1) % 10);
            assert!(
                store.get_blocking(&id).unwrap().is_some(),
                "round {round}: {id} lost"
            );
        }
        // The store is writable again after recovery and keeps sequences dense.
        let r = store.append_blocking(vec![simple("after", 1)]).unwrap();
        assert_eq!(r.stored, 1);
        assert_eq!(store.stats_blocking().events, n + 1);
        store.verify_blocking().unwrap();
    }
}

fn flip_middle_of_first_segment(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let segs = list_segments(&dir.join("log")).unwrap();
    assert!(segs.len() > 2, "the test needs sealed segments");
    let (_, first) = &segs[0];
    let len = fs::metadata(first).unwrap().len();
    let at = len / 2;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(first)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    (first.clone(), at)
}

#[test]
fn flipped_byte_in_a_sealed_segment_is_reported_by_verify_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 80);
    let (segment, at) = flip_middle_of_first_segment(dir.path());
    let store = open_small(dir.path());
    match store.verify_blocking() {
        Err(StoreError::Corrupt {
            segment: s, offset, ..
        }) => {
            assert_eq!(s, segment);
            assert!(
                offset <= at,
                "reported offset {offset} is at or before the flipped byte {at}"
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Reading every event hits the damaged record and says where it is.
    let all = store.scan_blocking(0, 1_000);
    let err = all.expect_err("a damaged record must not be returned");
    assert!(
        err.to_string().contains(&segment.display().to_string()),
        "{err}"
    );
}

#[test]
fn flipped_byte_is_reported_at_open_when_the_log_must_be_replayed() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 80);
    let (segment, _) = flip_middle_of_first_segment(dir.path());
    fs::remove_dir_all(dir.path().join("index")).unwrap();
    let err = trail_store::embedded::EmbeddedStore::open_with(
        dir.path(),
        crate::support::small_options(),
    )
    .err()
    .expect("corrupt");
    match err {
        StoreError::Corrupt { segment: s, .. } => assert_eq!(s, segment),
        other => panic!("expected corruption, got {other}"),
    }
}

#[test]
fn damaged_index_files_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 30);
    let blk = dir.path().join("index").join("blk-0000000001.idx");
    let bytes = fs::read(&blk).unwrap();
    fs::write(&blk, &bytes[..bytes.len() / 2]).unwrap();
    let store = open_small(dir.path());
    assert_eq!(store.stats_blocking().events, 300);
    let mut q = trail_model::SearchQuery::new();
    q.min_time_ms = Some(100);
    q.max_time_ms = Some(199);
    assert_eq!(store.search_blocking(&q).unwrap().count, 100);
}

/// An event with its own blob id, `blob-id-{i}`.
fn blob_event(i: usize) -> trail_store::NewEvent {
    trail_store::NewEvent::parse(crate::support::legacy_doc(
        &format!("blob-{i}"),
        i as i64,
        Some((1, "DS one")),
        None,
        Some((2, "katie@example.com")),
        "sqlQuery",
        "success",
        Some(&format!("blob-id-{i}")),
        None,
    ))
    .unwrap()
}

fn append_blob_events(dir: &std::path::Path, events: std::ops::Range<usize>) {
    let store = open_small(dir);
    for chunk in events.collect::<Vec<_>>().chunks(50) {
        store
            .append_blocking(chunk.iter().map(|&i| blob_event(i)).collect())
            .unwrap();
    }
    store.close_blocking().unwrap();
}

/// The blob ids in `index/blobs.log`, read by its documented frame format, and its number of
/// frames; panics unless the file is a whole number of valid frames, each starting where the
/// previous ended.
fn blob_log(dir: &std::path::Path) -> (Vec<String>, usize) {
    let bytes = fs::read(dir.join("index").join("blobs.log")).unwrap();
    let (mut names, mut at, mut frames) = (Vec::new(), 0, 0);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    while at < bytes.len() {
        let (first, count, len, crc) =
            (u32_at(at), u32_at(at + 4), u32_at(at + 8), u32_at(at + 12));
        let payload = &bytes[at + 16..at + 16 + len];
        assert_eq!(
            first,
            names.len(),
            "frame at byte {at} does not follow the previous one"
        );
        assert_eq!(crc32fast::hash(payload) as usize, crc, "frame at byte {at}");
        let mut p = 0;
        for _ in 0..count {
            let n = u32::from_le_bytes(payload[p..p + 4].try_into().unwrap()) as usize;
            names.push(String::from_utf8(payload[p + 4..p + 4 + n].to_vec()).unwrap());
            p += 4 + n;
        }
        assert_eq!(p, len, "frame at byte {at} has bytes past its names");
        at += 16 + len;
        frames += 1;
    }
    (names, frames)
}

/// `blob-id-0`, `blob-id-1`, ... : the blob ids of [`blob_event`]s in code order.
fn blob_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("blob-id-{i}")).collect()
}

fn assert_blob_ids_found(dir: &std::path::Path, events: std::ops::Range<usize>) {
    let store = open_small(dir);
    for i in events {
        let mut q = trail_model::SearchQuery::new();
        q.blob_id = Some(format!("blob-id-{i}"));
        let found = store.search_blocking(&q).unwrap();
        assert_eq!(found.count, 1, "blob-id-{i}");
        assert_eq!(found.hits[0].event_time_ms, i as i64);
    }
}

#[test]
fn blob_ids_are_persisted_append_only_one_frame_per_sealed_block() {
    let dir = tempfile::tempdir().unwrap();
    append_blob_events(dir.path(), 0..200);
    // 64-row blocks: three sealed, each appending the blob ids added since the previous seal
    // (rows of the open block included), so at least the sealed rows' 192.
    let (names, frames) = blob_log(dir.path());
    assert_eq!(frames, 3);
    assert!(names.len() >= 192, "{} blob ids persisted", names.len());
    assert_eq!(names, blob_ids(names.len()));
    let json = fs::read_to_string(dir.path().join("index").join("dicts.json")).unwrap();
    assert!(
        !json.contains("blob-id-"),
        "blob ids are not rewritten whole"
    );
    assert_blob_ids_found(dir.path(), 0..200);
}

#[test]
fn a_torn_blob_log_is_cut_at_open_and_the_blocks_needing_it_rebuilt() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        append_blob_events(dir.path(), 0..320);
        let path = dir.path().join("index").join("blobs.log");
        let len = fs::metadata(&path).unwrap().len();
        let cut = rng.gen_range(1..len);
        cut_at(&path, cut);
        assert_blob_ids_found(dir.path(), 0..320);
        // Sealing more appends after the cut: the log is whole frames again, in code order.
        append_blob_events(dir.path(), 320..400);
        let (names, _) = blob_log(dir.path());
        assert!(
            names.len() >= 384,
            "cut at byte {cut} of {len}: {} ids",
            names.len()
        );
        assert_eq!(names, blob_ids(names.len()), "cut at byte {cut} of {len}");
        assert_blob_ids_found(dir.path(), 0..400);
    }
}

#[test]
fn a_store_keeping_blob_ids_in_dicts_json_opens_and_moves_them_to_the_blob_log() {
    let dir = tempfile::tempdir().unwrap();
    append_blob_events(dir.path(), 0..200);
    // The layout before `blobs.log`: every blob id in `dicts.json`.
    let index = dir.path().join("index");
    let mut dicts: serde_json::Value =
        serde_json::from_slice(&fs::read(index.join("dicts.json")).unwrap()).unwrap();
    dicts["blob"]["names"] = blob_log(dir.path()).0.into();
    fs::write(index.join("dicts.json"), dicts.to_string()).unwrap();
    fs::remove_file(index.join("blobs.log")).unwrap();
    assert_blob_ids_found(dir.path(), 0..200);
    append_blob_events(dir.path(), 200..260);
    // The first seal after the move writes every blob id known, in one frame.
    let (names, frames) = blob_log(dir.path());
    assert_eq!(frames, 1);
    assert!(names.len() >= 256, "{} blob ids persisted", names.len());
    assert_eq!(names, blob_ids(names.len()));
    assert_blob_ids_found(dir.path(), 0..260);
}
