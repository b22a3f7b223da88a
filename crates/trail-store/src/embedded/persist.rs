//! Persisted form of sealed index blocks and of the dictionaries.
//!
//! The dictionaries are saved with each sealed block. Blob ids grow with the events (one in
//! forty carries a new one), so rewriting them whole would make each seal cost more than the
//! last: they go to an append-only `blobs.log` of checksummed frames, each holding the names
//! added since the previous frame, and only the small dictionaries are rewritten
//! (`dicts.json`). A torn frame ends the log at open and is cut off; blocks needing the blob
//! ids it held are rebuilt from the log like any other missing block.
//!
//! The index is derived data: the log is the truth. A block file that is missing, truncated or
//! fails its checksum is simply rebuilt from the log at open. Files are written to a temporary
//! name and renamed, so a reader never sees half a file; they are not fsync'd (a lost block is
//! rebuilt, never wrong). Posting lists are persisted too, so a reopen only reads: rebuilding
//! them costs tens of milliseconds per block, seconds at ten million events.
//!
//! ```text
//! file    := "TRAILIX4" payload_len:u64le crc32(payload):u32le payload
//! payload := base_row:u64 len:u32 min_time:i64 max_time:i64 dict_sizes:[u32;6]
//!            time:times offset:[u32] data_source:codes project:codes profile:codes
//!            record_type:codes outcome:[u8] segment_runs ext received_runs ext
//!            data_source_extra ext blob ext purpose ext fingerprints:[u64]
//!            (times and codes: width-tagged, see `columns`)
//!            postings:[posting_list; 6]   (data source, project, profile, record type,
//!                                           outcome, purpose; see `PostingList::encode`)
//!
//! blobs.log := frame*
//! frame     := first_code:u32le count:u32le payload_len:u32le crc32(payload):u32le payload
//! payload   := (len:u32le utf8_bytes){count}          (codes first_code + 1 ..= first_code + count)
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::columns::{Codes, Times};
use super::index::{Block, Dicts, PostingList, Postings};
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"TRAILIX4";

pub fn block_path(index_dir: &Path, block_no: u64) -> PathBuf {
    index_dir.join(format!("blk-{block_no:010}.idx"))
}

pub fn dicts_path(index_dir: &Path) -> PathBuf {
    index_dir.join("dicts.json")
}

fn blobs_path(index_dir: &Path) -> PathBuf {
    index_dir.join("blobs.log")
}

const BLOB_FRAME_HEADER: usize = 16;

/// The dictionary sizes a block needs: (data source, project, profile, record type, blob, purpose).
pub type DictNeeds = [u32; 6];

pub fn dict_sizes(d: &Dicts) -> DictNeeds {
    [
        d.data_source.ids.len() as u32,
        d.project.ids.len() as u32,
        d.profile.ids.len() as u32,
        d.record_type.names.len() as u32,
        d.blob.names.len() as u32,
        d.purpose.ids.len() as u32,
    ]
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| StoreError::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

/// What one seal persists of the dictionaries, copied under the dictionaries' read lock so that
/// the encoding and the writes happen after it is released.
pub struct DictsToSave {
    small: Dicts,
    /// Blob ids from code `blobs_from + 1` on: those not yet in `blobs.log`.
    blobs_from: u32,
    new_blobs: Vec<String>,
}

impl DictsToSave {
    /// `blobs_saved` is how many blob ids `blobs.log` holds (see [`load_dicts`], [`save_dicts`]).
    pub fn of(d: &Dicts, blobs_saved: u32) -> DictsToSave {
        DictsToSave {
            small: d.without_blobs(),
            blobs_from: blobs_saved,
            new_blobs: d.blob.names[(blobs_saved as usize).min(d.blob.names.len())..].to_vec(),
        }
    }
}

/// Appends the new blob ids to `blobs.log`, then rewrites `dicts.json`. Returns how many blob
/// ids `blobs.log` now holds.
pub fn save_dicts(index_dir: &Path, save: &DictsToSave) -> Result<u32, StoreError> {
    if !save.new_blobs.is_empty() {
        let mut payload = Vec::with_capacity(save.new_blobs.iter().map(|b| b.len() + 4).sum());
        for name in &save.new_blobs {
            payload.extend_from_slice(&(name.len() as u32).to_le_bytes());
            payload.extend_from_slice(name.as_bytes());
        }
        let mut frame = Vec::with_capacity(BLOB_FRAME_HEADER + payload.len());
        frame.extend_from_slice(&save.blobs_from.to_le_bytes());
        frame.extend_from_slice(&(save.new_blobs.len() as u32).to_le_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        let path = blobs_path(index_dir);
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&frame))
            .map_err(|e| StoreError::io(&path, e))?;
    }
    let bytes = serde_json::to_vec(&save.small).map_err(|e| StoreError::Invalid(e.to_string()))?;
    write_atomically(&dicts_path(index_dir), &bytes)?;
    Ok(save.blobs_from + save.new_blobs.len() as u32)
}

/// Loads the dictionaries and how many blob ids `blobs.log` holds. A torn or corrupt frame
/// ends `blobs.log` and is cut off, so later frames follow the valid ones. A store written
/// before `blobs.log` existed keeps its blob ids in `dicts.json`; its first seal rewrites them
/// into `blobs.log`.
pub fn load_dicts(index_dir: &Path) -> (Dicts, u32) {
    let mut d: Dicts = fs::read(dicts_path(index_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let path = blobs_path(index_dir);
    let mut blobs_saved = 0;
    if let Ok(bytes) = fs::read(&path) {
        let (names, valid_len) = read_blob_frames(&bytes);
        if valid_len < bytes.len() {
            // Cut the torn frame, or the next seal would append behind it. Failing to is
            // harmless: the frames past it are ignored and their blocks rebuilt.
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(valid_len as u64));
        }
        blobs_saved = names.len() as u32;
        d.blob.names = names;
    }
    d.rebuild_lookups();
    (d, blobs_saved)
}

/// The blob ids of the longest valid prefix of `blobs.log`, and that prefix's length.
fn read_blob_frames(bytes: &[u8]) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + BLOB_FRAME_HEADER) {
        let field = |i: usize| u32::from_le_bytes(header[i * 4..i * 4 + 4].try_into().unwrap());
        let (first, count, len, crc) = (field(0), field(1), field(2) as usize, field(3));
        let start = at + BLOB_FRAME_HEADER;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if first as usize != names.len() || crc32fast::hash(payload) != crc {
            break;
        }
        let Some(frame_names) = decode_names(payload, count) else {
            break;
        };
        names.extend(frame_names);
        at = start + len;
    }
    (names, at)
}

fn decode_names(mut payload: &[u8], count: u32) -> Option<Vec<String>> {
    // Each name takes at least its 4-byte length: a damaged count cannot ask for more.
    let mut names = Vec::with_capacity((count as usize).min(payload.len() / 4));
    for _ in 0..count {
        let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
        let name = std::str::from_utf8(payload.get(4..4 + len)?).ok()?;
        names.push(name.to_string());
        payload = &payload[4 + len..];
    }
    payload.is_empty().then_some(names)
}

struct Out(Vec<u8>);

impl Out {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn pairs(&mut self, v: &[(u32, u32)]) {
        self.u32(v.len() as u32);
        for (a, b) in v {
            self.u32(*a);
            self.u32(*b);
        }
    }
}

pub fn save_block(
    index_dir: &Path,
    block: &Block,
    needs: DictNeeds,
    block_rows: usize,
) -> Result<(), StoreError> {
    let mut o = Out(Vec::with_capacity(block.len() * 48 + 1024));
    o.u64(block.base_row);
    o.u32(block.len() as u32);
    o.i64(block.min_time);
    o.i64(block.max_time);
    needs.iter().for_each(|n| o.u32(*n));
    block.time.encode(&mut o.0);
    block.offset.iter().for_each(|v| o.u32(*v));
    for col in [
        &block.data_source,
        &block.project,
        &block.profile,
        &block.record_type,
    ] {
        col.encode(&mut o.0);
    }
    o.0.extend_from_slice(&block.outcome);
    o.pairs(&block.segment_runs);
    o.u32(block.received_runs.len() as u32);
    for (r, t) in &block.received_runs {
        o.u32(*r);
        o.i64(*t);
    }
    o.pairs(&block.data_source_extra);
    o.pairs(&block.blob);
    o.pairs(&block.purpose);
    block.fingerprints.iter().for_each(|f| o.u64(*f));
    if let Some(p) = &block.postings {
        for list in p.lists() {
            list.encode(&mut o.0);
        }
    }
    let payload = o.0;
    let mut file = Vec::with_capacity(payload.len() + 20);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    file.extend_from_slice(&payload);
    write_atomically(
        &block_path(index_dir, block.base_row / block_rows as u64),
        &file,
    )
}

struct In<'a> {
    b: &'a [u8],
    at: usize,
}

impl In<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
    fn pairs(&mut self) -> Option<Vec<(u32, u32)>> {
        let n = self.u32()? as usize;
        let flat = self.u32s(n.checked_mul(2)?)?;
        Some(flat.chunks_exact(2).map(|c| (c[0], c[1])).collect())
    }
}

/// Loads a block file; `None` when it is missing or damaged (it is then rebuilt from the log).
pub fn load_block(index_dir: &Path, block_no: u64) -> Option<(Block, DictNeeds)> {
    let bytes = fs::read(block_path(index_dir, block_no)).ok()?;
    if bytes.len() < 20 || &bytes[0..8] != MAGIC {
        return None;
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
    let payload = bytes.get(20..20usize.checked_add(len)?)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let mut i = In { b: payload, at: 0 };
    let mut b = Block::new(i.u64()?);
    let n = i.u32()? as usize;
    b.min_time = i.i64()?;
    b.max_time = i.i64()?;
    let mut needs = [0u32; 6];
    for v in needs.iter_mut() {
        *v = i.u32()?;
    }
    let (time, used) = Times::decode(payload.get(i.at..)?, n)?;
    i.at += used;
    b.time = time;
    b.offset = i.u32s(n)?;
    let mut codes = || -> Option<Codes> {
        let (c, used) = Codes::decode(payload.get(i.at..)?, n)?;
        i.at += used;
        Some(c)
    };
    b.data_source = codes()?;
    b.project = codes()?;
    b.profile = codes()?;
    b.record_type = codes()?;
    b.outcome = i.take(n)?.to_vec();
    b.segment_runs = i.pairs()?;
    let runs = i.u32()? as usize;
    for _ in 0..runs {
        let r = i.u32()?;
        b.received_runs.push((r, i.i64()?));
    }
    b.data_source_extra = i.pairs()?;
    b.blob = i.pairs()?;
    b.purpose = i.pairs()?;
    let fps = i.take(n.checked_mul(8)?)?;
    b.fingerprints = fps
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let mut lists = Vec::with_capacity(6);
    for _ in 0..6 {
        let (list, used) = PostingList::decode(payload.get(i.at..)?, n)?;
        i.at += used;
        lists.push(list);
    }
    if i.at != payload.len() || b.outcome.iter().any(|o| *o > 5) {
        return None;
    }
    let mut lists = lists.into_iter();
    b.postings = Some(Postings {
        data_source: lists.next()?,
        project: lists.next()?,
        profile: lists.next()?,
        record_type: lists.next()?,
        outcome: lists.next()?,
        purpose: lists.next()?,
    });
    Some((b, needs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_frame(first: u32, count: u32, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        for field in [first, count, payload.len() as u32, crc32fast::hash(payload)] {
            frame.extend_from_slice(&field.to_le_bytes());
        }
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn a_blob_frame_counting_more_names_than_it_holds_ends_the_log() {
        let name = |s: &str| [&(s.len() as u32).to_le_bytes()[..], s.as_bytes()].concat();
        let mut log = blob_frame(0, 2, &[name("b-1"), name("b-2")].concat());
        let valid = log.len();
        // A checksum matches whatever the bytes say; a count of 4 billion must not make the
        // reader reserve room for them.
        log.extend(blob_frame(2, u32::MAX, &name("b-3")));
        assert_eq!(
            read_blob_frames(&log),
            (vec!["b-1".into(), "b-2".into()], valid)
        );
    }
}
