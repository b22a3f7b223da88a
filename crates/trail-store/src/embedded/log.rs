//! The segment log: the embedded store's source of truth.
//!
//! Design constraints:
//! - The log is append-only and split into segment files of bounded size (`max_segment_bytes`,
//!   never more than 4 GiB so that record offsets fit in 32 bits). A segment is named by the
//!   sequence number of its first event: `log/00000000000000000001.seg`.
//! - Writes go in **batch frames**. A frame holds one whole appended batch, so a batch is stored
//!   whole or not at all: a frame whose checksum fails is never half-applied.
//! - Every frame carries a CRC-32 of its body; every record inside carries the SHA-256 of its
//!   document bytes, which is also the event's hash for tamper evidence. Reads verify a frame
//!   they cover whole by its CRC-32 and any other record by its SHA-256 (see
//!   [`read_run_into`]); recovery and `verify` check both.
//! - A batch is acknowledged only after `fdatasync` covered its frame. Concurrent appenders share
//!   one sync (group commit; see `super::EmbeddedStore`).
//! - Only the last segment may end in a torn frame (a crash mid-write); recovery truncates it.
//!   Anything malformed before the end of the log is corruption and is reported with the segment
//!   and byte offset, never skipped.
//!
//! Layout:
//! ```text
//! segment  := "TRAILSG1" first_seq:u64le frame*
//! frame    := magic:u32le(0x314C5254) body_len:u32le crc32(body):u32le body
//! body     := first_seq:u64le count:u32le received_ms:i64le record{count}
//! record   := doc_len:u32le sha256:[u8;32] doc:[u8;doc_len]
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::event_hash::sha256_many;

pub const SEGMENT_MAGIC: &[u8; 8] = b"TRAILSG1";
pub const SEGMENT_HEADER_LEN: u64 = 16;
const FRAME_MAGIC: u32 = 0x314C_5254;
const FRAME_HEADER_LEN: usize = 12;
const BODY_FIXED_LEN: usize = 8 + 4 + 8;
pub const RECORD_HEADER_LEN: usize = 4 + 32;
/// Segments never grow past this, so that offsets fit in a `u32`.
pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;
/// Largest batch frame accepted.
pub const MAX_FRAME_BYTES: usize = 1 << 30;

/// Where one record lives: segment number (index into the segment list) and the byte offset of
/// its record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub segment: u32,
    pub offset: u32,
}

/// One open segment file.
#[derive(Debug)]
pub struct Segment {
    pub first_seq: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
}

/// A record read back from a segment.
#[derive(Clone, Debug)]
pub struct RecordBytes {
    pub hash: [u8; 32],
    pub document: String,
}

pub fn segment_path(log_dir: &Path, first_seq: u64) -> PathBuf {
    log_dir.join(format!("{first_seq:020}.seg"))
}

/// Lists segment files in sequence order.
pub fn list_segments(log_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let rd = fs::read_dir(log_dir).map_err(|e| StoreError::io(log_dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io(log_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".seg") {
            if let Ok(first) = stem.parse::<u64>() {
                out.push((first, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Creates a new empty segment (header written and synced, directory synced).
pub fn create_segment(log_dir: &Path, first_seq: u64) -> Result<Segment, StoreError> {
    let path = segment_path(log_dir, first_seq);
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    let mut header = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
    header.extend_from_slice(SEGMENT_MAGIC);
    header.extend_from_slice(&first_seq.to_le_bytes());
    file.write_all(&header)
        .map_err(|e| StoreError::io(&path, e))?;
    file.sync_all().map_err(|e| StoreError::io(&path, e))?;
    fsync_dir(log_dir)?;
    Ok(Segment {
        first_seq,
        path,
        file: Arc::new(file),
    })
}

pub fn open_segment(path: &Path, first_seq: u64, writable: bool) -> Result<Segment, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .append(writable)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    Ok(Segment {
        first_seq,
        path: path.to_path_buf(),
        file: Arc::new(file),
    })
}

/// A batch frame encoded and checksummed but for its first sequence number, the one part that
/// depends on the log's state: appenders encode outside the writer lock and only
/// [`UnsequencedFrame::sequence`] runs under it.
pub struct UnsequencedFrame {
    bytes: Vec<u8>,
    offsets: Vec<u32>,
    /// CRC-32 of the body after its sequence number.
    rest_crc: crc32fast::Hasher,
}

impl UnsequencedFrame {
    pub fn encode(received_ms: i64, docs: &[(&str, [u8; 32])]) -> UnsequencedFrame {
        let body_len: usize = BODY_FIXED_LEN
            + docs
                .iter()
                .map(|(d, _)| RECORD_HEADER_LEN + d.len())
                .sum::<usize>();
        let mut bytes = Vec::with_capacity(FRAME_HEADER_LEN + body_len);
        bytes.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        bytes.extend_from_slice(&(body_len as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&(docs.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&received_ms.to_le_bytes());
        let mut offsets = Vec::with_capacity(docs.len());
        for (doc, hash) in docs {
            offsets.push(bytes.len() as u32);
            bytes.extend_from_slice(&(doc.len() as u32).to_le_bytes());
            bytes.extend_from_slice(hash);
            bytes.extend_from_slice(doc.as_bytes());
        }
        let mut rest_crc = crc32fast::Hasher::new();
        rest_crc.update(&bytes[FRAME_HEADER_LEN + 8..]);
        UnsequencedFrame {
            bytes,
            offsets,
            rest_crc,
        }
    }

    /// The frame's length in bytes (never zero: a frame has a header).
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The finished frame, its records numbered from `first_seq`, and each record header's
    /// offset from the frame's start.
    pub fn sequence(mut self, first_seq: u64) -> (Vec<u8>, Vec<u32>) {
        let seq_at = FRAME_HEADER_LEN..FRAME_HEADER_LEN + 8;
        self.bytes[seq_at.clone()].copy_from_slice(&first_seq.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.bytes[seq_at]);
        crc.combine(&self.rest_crc);
        self.bytes[8..12].copy_from_slice(&crc.finalize().to_le_bytes());
        (self.bytes, self.offsets)
    }
}

/// A whole frame decoded from memory (see [`decode_frame`]).
pub struct DecodedFrame {
    /// The frame's length in bytes.
    pub len: usize,
    pub first_seq: u64,
    pub received_ms: i64,
    pub documents: Vec<String>,
}

/// Decodes the frame at the start of `buf`: `None` unless its magic, length, CRC-32 and record
/// layout are all sound and every document is UTF-8 (so torn or stale bytes give `None`).
pub fn decode_frame(buf: &[u8]) -> Option<DecodedFrame> {
    let header: &[u8; FRAME_HEADER_LEN] = buf.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
    let FrameHeader {
        magic,
        body_len,
        crc,
    } = FrameHeader::decode(header);
    let body_len = body_len as usize;
    if magic != FRAME_MAGIC || !(BODY_FIXED_LEN..=MAX_FRAME_BYTES).contains(&body_len) {
        return None;
    }
    let body = buf.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + body_len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let prefix = BodyPrefix::of(body);
    let documents = record_spans(body, prefix.count)
        .ok()?
        .into_iter()
        .map(|(_, doc)| String::from_utf8(body[doc].to_vec()).ok())
        .collect::<Option<Vec<String>>>()?;
    Some(DecodedFrame {
        len: FRAME_HEADER_LEN + body_len,
        first_seq: prefix.first_seq,
        received_ms: prefix.received_ms,
        documents,
    })
}

/// The document of the record whose header is at `offset` in `frame` (a frame in memory, not
/// yet written), if the frame holds a record there.
pub fn document_in_frame(frame: &[u8], offset: usize) -> Option<&str> {
    std::str::from_utf8(&frame[document_range(frame, offset)?]).ok()
}

/// The fixed part of a frame's body, before its records.
struct BodyPrefix {
    first_seq: u64,
    count: u32,
    received_ms: i64,
}

impl BodyPrefix {
    /// Reads it from `body`, which its frame's length check made at least [`BODY_FIXED_LEN`]
    /// bytes long.
    fn of(body: &[u8]) -> BodyPrefix {
        let field = |at: usize, len: usize| &body[at..at + len];
        BodyPrefix {
            first_seq: u64::from_le_bytes(field(0, 8).try_into().unwrap_or_default()),
            count: u32::from_le_bytes(field(8, 4).try_into().unwrap_or_default()),
            received_ms: i64::from_le_bytes(field(12, 8).try_into().unwrap_or_default()),
        }
    }
}

/// Where the `count` records of a frame's `body` lie: each one's header offset in the body and
/// its document's range. Fails, saying why, unless they fill the body exactly.
fn record_spans(body: &[u8], count: u32) -> Result<Vec<(usize, Range<usize>)>, String> {
    let mut spans = Vec::with_capacity((count as usize).min(body.len() / RECORD_HEADER_LEN));
    let mut at = BODY_FIXED_LEN;
    for i in 0..count {
        let doc = document_range(body, at)
            .ok_or_else(|| format!("record {i} of the batch overruns its frame"))?;
        let next = doc.end;
        spans.push((at, doc));
        at = next;
    }
    if at != body.len() {
        return Err("frame has trailing bytes after its records".into());
    }
    Ok(spans)
}

/// The range of the document of the record whose header is at `at` in `buf`, if the whole
/// record lies within `buf`.
fn document_range(buf: &[u8], at: usize) -> Option<Range<usize>> {
    let len = u32::from_le_bytes(buf.get(at..at.checked_add(4)?)?.try_into().ok()?) as usize;
    let start = at.checked_add(RECORD_HEADER_LEN)?;
    let end = start.checked_add(len)?;
    (end <= buf.len()).then_some(start..end)
}

/// Reads one record at `offset`, checking its SHA-256.
pub fn read_record(segment: &Segment, offset: u32) -> Result<RecordBytes, StoreError> {
    let mut one = read_run(segment, &[offset])?;
    one.pop().ok_or_else(|| StoreError::Corrupt {
        segment: segment.path.clone(),
        offset: offset as u64,
        reason: "record missing".into(),
    })
}

/// Reads the records at `offsets` (ascending, all in `segment`, close together) with one read of
/// the byte range that spans them, each checked against its SHA-256.
pub fn read_run(segment: &Segment, offsets: &[u32]) -> Result<Vec<RecordBytes>, StoreError> {
    let records: Vec<RunRecord> = offsets
        .iter()
        .map(|&offset| RunRecord { offset, seq: 0 })
        .collect();
    let mut bytes = Vec::new();
    let found = read_run_into(segment, &records, &mut bytes)?;
    found
        .into_iter()
        .zip(offsets)
        .map(|((hash, start, end), &offset)| {
            let document =
                String::from_utf8(bytes[start..end].to_vec()).map_err(|_| StoreError::Corrupt {
                    segment: segment.path.clone(),
                    offset: offset as u64,
                    reason: "record is not UTF-8".into(),
                })?;
            Ok(RecordBytes { hash, document })
        })
        .collect()
}

/// One record a run read asks for: where it is and its sequence number (0 when unknown).
#[derive(Clone, Copy, Debug)]
pub struct RunRecord {
    pub offset: u32,
    pub seq: u64,
}

/// Reads the records (ascending offsets, all in `segment`, close together) with one read of the
/// byte range that spans them and appends their documents to `out`; returns each record's hash
/// and the range of `out` that holds its document.
///
/// Every record is verified before it is returned, in one of two ways:
/// - a batch frame that lies whole inside the range (its header found just before its first
///   record, which is recognised by the frame's magic and first sequence number) is checked by
///   its CRC-32, which covers the documents and their stored hashes: one cheap pass instead of
///   one SHA-256 per record, the bulk of an export's reading cost;
/// - any other record (a frame only partly read, a sequence number not given, a frame whose
///   CRC-32 fails) is checked against its SHA-256, and a mismatch is reported as corruption at
///   that record's offset.
///
/// The CRC-32 guards against accidental damage exactly as the SHA-256 check did (a damaged
/// document fails the frame's CRC, then its own SHA-256); deliberate rewriting of a document
/// together with its hash is beyond both and is what the Merkle tree and signed checkpoints
/// detect.
pub fn read_run_into(
    segment: &Segment,
    records: &[RunRecord],
    out: &mut Vec<u8>,
) -> Result<Vec<([u8; 32], usize, usize)>, StoreError> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(Vec::new());
    };
    let (first, last) = (first.offset, last.offset);
    let corrupt = |offset: u32, reason: String| StoreError::Corrupt {
        segment: segment.path.clone(),
        offset: offset as u64,
        reason,
    };
    let mut header = [0u8; RECORD_HEADER_LEN];
    segment
        .file
        .read_exact_at(&mut header, last as u64)
        .map_err(|e| corrupt(last, format!("record header unreadable: {e}")))?;
    let last_len = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
    if last_len > MAX_FRAME_BYTES {
        return Err(corrupt(
            last,
            format!("record length {last_len} is impossible"),
        ));
    }
    // The bytes just before the first record: its frame's header when it opens a frame.
    let lead = if first as u64 >= SEGMENT_HEADER_LEN + FRAME_PREFIX_LEN as u64 {
        FRAME_PREFIX_LEN as u32
    } else {
        0
    };
    let start = first - lead;
    let end = last as usize + RECORD_HEADER_LEN + last_len;
    // A buffer of its own (not `out`): a sparse run spans far more bytes than its documents.
    let mut buf = vec![0u8; end - start as usize];
    segment
        .file
        .read_exact_at(&mut buf, start as u64)
        .map_err(|e| corrupt(first, format!("records unreadable: {e}")))?;
    let verified = frames_verified_by_crc(&buf, start, records);
    let mut located = Vec::with_capacity(records.len());
    let mut unverified = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let at = (r.offset - start) as usize;
        let body = at + RECORD_HEADER_LEN;
        let len = buf
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
            .ok_or_else(|| corrupt(r.offset, "record header outside its run".into()))?;
        if buf.get(body..body + len).is_none() {
            return Err(corrupt(
                r.offset,
                format!("record length {len} runs past its run"),
            ));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&buf[at + 4..body]);
        if !verified[i] {
            unverified.push(i);
        }
        located.push((hash, body, body + len));
    }
    let docs: Vec<&[u8]> = unverified
        .iter()
        .map(|&i| &buf[located[i].1..located[i].2])
        .collect();
    for (&i, computed) in unverified.iter().zip(sha256_many(&docs)) {
        if computed != located[i].0 {
            return Err(corrupt(
                records[i].offset,
                "record does not match its SHA-256".into(),
            ));
        }
    }
    out.reserve(located.iter().map(|(_, s, e)| e - s).sum());
    Ok(located
        .into_iter()
        .map(|(hash, s, e)| {
            let start = out.len();
            out.extend_from_slice(&buf[s..e]);
            (hash, start, out.len())
        })
        .collect())
}

/// A frame's header and the fixed part of its body: what lies between a frame's start and its
/// first record.
const FRAME_PREFIX_LEN: usize = FRAME_HEADER_LEN + BODY_FIXED_LEN;

/// Which of `records` (read into `buf`, which starts at segment offset `start`) lie in a frame
/// that is whole inside `buf` and passes its CRC-32.
fn frames_verified_by_crc(buf: &[u8], start: u32, records: &[RunRecord]) -> Vec<bool> {
    let mut verified = vec![false; records.len()];
    let mut i = 0;
    while i < records.len() {
        let r = records[i];
        let at = (r.offset - start) as usize;
        let frame_end = (r.seq != 0 && at >= FRAME_PREFIX_LEN)
            .then(|| whole_frame_at(buf, at - FRAME_PREFIX_LEN, r.seq))
            .flatten();
        let Some(frame_end) = frame_end else {
            i += 1;
            continue;
        };
        while i < records.len() && ((records[i].offset - start) as usize) < frame_end {
            verified[i] = true;
            i += 1;
        }
    }
    verified
}

/// When `buf[at..]` starts a frame whose first record has sequence number `seq`, which lies
/// whole in `buf` and whose CRC-32 holds: where the frame ends in `buf`.
fn whole_frame_at(buf: &[u8], at: usize, seq: u64) -> Option<usize> {
    let body = at + FRAME_HEADER_LEN;
    let header = FrameHeader::decode(buf.get(at..body)?.try_into().ok()?);
    if header.magic != FRAME_MAGIC {
        return None;
    }
    let first_seq = u64::from_le_bytes(buf.get(body..body + 8)?.try_into().ok()?);
    if first_seq != seq {
        return None;
    }
    let end = body.checked_add(header.body_len as usize)?;
    (crc32fast::hash(buf.get(body..end)?) == header.crc).then_some(end)
}

/// The fields of a frame header (see the layout in the module docs).
struct FrameHeader {
    magic: u32,
    body_len: u32,
    crc: u32,
}

impl FrameHeader {
    fn decode(bytes: &[u8; FRAME_HEADER_LEN]) -> FrameHeader {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        FrameHeader {
            magic: word(0),
            body_len: word(4),
            crc: word(8),
        }
    }
}

/// One batch frame found while scanning a segment.
pub struct ScannedBatch {
    pub first_seq: u64,
    pub received_ms: i64,
    /// (record offset in the segment, hash, document)
    pub records: Vec<(u32, [u8; 32], String)>,
}

/// How a segment scan ended.
#[derive(Debug, PartialEq, Eq)]
pub struct ScanEnd {
    /// Length of the valid prefix of the file.
    pub valid_len: u64,
    /// True when bytes after `valid_len` were a torn (incomplete) final frame.
    pub torn_tail: bool,
    /// Sequence number after the last valid batch.
    pub next_seq: u64,
}

/// Scans a segment frame by frame, checking every checksum and the sequence continuity, and
/// hands each batch to `on_batch` (batches whose events all precede `skip_before_seq` are not
/// decoded into documents). A malformed frame at the very end is a torn tail when `is_last`;
/// anything else malformed is [`StoreError::Corrupt`].
pub fn scan_segment(
    segment: &Segment,
    is_last: bool,
    skip_before_seq: u64,
    mut on_batch: impl FnMut(ScannedBatch) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let path = &segment.path;
    let file_len = segment
        .file
        .metadata()
        .map_err(|e| StoreError::io(path, e))?
        .len();
    let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
        segment: path.clone(),
        offset,
        reason,
    };
    // A handle of its own: the shared one's cursor belongs to the appender.
    let own = File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, own);
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    if file_len < SEGMENT_HEADER_LEN {
        if is_last {
            return Ok(ScanEnd {
                valid_len: 0,
                torn_tail: true,
                next_seq: segment.first_seq,
            });
        }
        return Err(corrupt(0, "segment shorter than its header".into()));
    }
    reader
        .read_exact(&mut header)
        .map_err(|e| StoreError::io(path, e))?;
    if &header[0..8] != SEGMENT_MAGIC {
        return Err(corrupt(0, "not a Trail segment (bad magic)".into()));
    }
    let first = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
    if first != segment.first_seq {
        return Err(corrupt(
            8,
            format!(
                "header says first sequence {first}, file name says {}",
                segment.first_seq
            ),
        ));
    }
    let mut pos = SEGMENT_HEADER_LEN;
    let mut next_seq = segment.first_seq;
    let mut body = Vec::new();
    loop {
        let remaining = file_len - pos;
        if remaining == 0 {
            return Ok(ScanEnd {
                valid_len: pos,
                torn_tail: false,
                next_seq,
            });
        }
        // Decide torn-vs-corrupt for a bad frame at `pos`.
        let bad = |reason: String, frame_end: u64| -> Result<ScanEnd, StoreError> {
            if is_last && frame_end >= file_len {
                Ok(ScanEnd {
                    valid_len: pos,
                    torn_tail: true,
                    next_seq,
                })
            } else {
                Err(corrupt(pos, reason))
            }
        };
        if remaining < FRAME_HEADER_LEN as u64 {
            return bad("truncated frame header".into(), file_len);
        }
        let mut fh = [0u8; FRAME_HEADER_LEN];
        reader
            .read_exact(&mut fh)
            .map_err(|e| StoreError::io(path, e))?;
        let FrameHeader {
            magic,
            body_len,
            crc,
        } = FrameHeader::decode(&fh);
        let body_len = body_len as u64;
        let frame_end = pos + FRAME_HEADER_LEN as u64 + body_len;
        if magic != FRAME_MAGIC {
            // A crash can leave zeroes (or nothing recognisable) only at the very end.
            let rest_is_zero = is_last && tail_is_zero(segment, pos, file_len)?;
            return if rest_is_zero {
                bad("zeroed tail".into(), file_len)
            } else {
                bad("bad frame magic".into(), pos + 1)
            };
        }
        if frame_end > file_len {
            return bad(
                format!("frame of {body_len} bytes runs past the end of the file"),
                frame_end,
            );
        }
        if body_len < BODY_FIXED_LEN as u64 || body_len > MAX_FRAME_BYTES as u64 {
            return bad(format!("impossible frame length {body_len}"), frame_end);
        }
        body.resize(body_len as usize, 0);
        reader
            .read_exact(&mut body)
            .map_err(|e| StoreError::io(path, e))?;
        if crc32fast::hash(&body) != crc {
            return bad("frame checksum mismatch".into(), frame_end);
        }
        let BodyPrefix {
            first_seq: batch_first,
            count,
            received_ms,
        } = BodyPrefix::of(&body);
        if batch_first != next_seq {
            return Err(corrupt(
                pos,
                format!("batch starts at sequence {batch_first}, expected {next_seq}"),
            ));
        }
        let spans = record_spans(&body, count).map_err(|reason| corrupt(pos, reason))?;
        let count = u64::from(count);
        let decode = batch_first + count > skip_before_seq;
        let mut wanted: Vec<(u64, usize, Range<usize>)> = Vec::new();
        if decode {
            for (i, (at, doc)) in (0u64..).zip(spans) {
                if batch_first + i >= skip_before_seq {
                    let record_offset = pos + FRAME_HEADER_LEN as u64 + at as u64;
                    wanted.push((record_offset, at + 4, doc));
                }
            }
        }
        let docs: Vec<&[u8]> = wanted.iter().map(|(_, _, r)| &body[r.clone()]).collect();
        let computed = sha256_many(&docs);
        let mut records = Vec::with_capacity(wanted.len());
        for ((record_offset, hash_at, doc), computed) in wanted.drain(..).zip(computed) {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&body[hash_at..hash_at + 32]);
            if computed != hash {
                return Err(corrupt(
                    record_offset,
                    "record does not match its SHA-256".into(),
                ));
            }
            let document = String::from_utf8(body[doc].to_vec())
                .map_err(|_| corrupt(record_offset, "record is not UTF-8".into()))?;
            records.push((record_offset as u32, hash, document));
        }
        if decode {
            on_batch(ScannedBatch {
                first_seq: batch_first,
                received_ms,
                records,
            })?;
        }
        next_seq = batch_first + count;
        pos = frame_end;
    }
}

fn tail_is_zero(segment: &Segment, from: u64, to: u64) -> Result<bool, StoreError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(buf.len());
        segment
            .file
            .read_exact_at(&mut buf[..n], at)
            .map_err(|e| StoreError::io(&segment.path, e))?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_hash::sha256;

    /// A segment of three frames of `per_frame` records each; the record at `bad_hash` (frame,
    /// record) is stored with a wrong SHA-256 under a correct frame CRC. Returns the segment and
    /// every record's (offset, seq).
    fn segment(
        dir: &Path,
        per_frame: usize,
        bad_hash: Option<(usize, usize)>,
    ) -> (Segment, Vec<RunRecord>) {
        let segment = create_segment(dir, 1).unwrap();
        let mut records = Vec::new();
        let mut at = SEGMENT_HEADER_LEN as u32;
        for frame in 0..3 {
            let docs: Vec<String> = (0..per_frame)
                .map(|i| format!(r#"{{"id":"f{frame}-{i}","n":{i}}}"#))
                .collect();
            let hashed: Vec<(&str, [u8; 32])> = docs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut h = sha256(d.as_bytes());
                    if bad_hash == Some((frame, i)) {
                        h[0] ^= 1;
                    }
                    (d.as_str(), h)
                })
                .collect();
            let first_seq = 1 + (frame * per_frame) as u64;
            let (bytes, offsets) = UnsequencedFrame::encode(0, &hashed).sequence(first_seq);
            (&*segment.file).write_all(&bytes).unwrap();
            for (i, o) in offsets.into_iter().enumerate() {
                records.push(RunRecord {
                    offset: at + o,
                    seq: first_seq + i as u64,
                });
            }
            at += bytes.len() as u32;
        }
        (segment, records)
    }

    fn flip(segment: &Segment, offset: u64) {
        let f = OpenOptions::new().write(true).open(&segment.path).unwrap();
        let mut b = [0u8; 1];
        segment.file.read_exact_at(&mut b, offset).unwrap();
        f.write_all_at(&[b[0] ^ 0x20], offset).unwrap();
    }

    #[test]
    fn a_frame_numbered_after_encoding_carries_the_checksum_of_its_whole_body() {
        let docs = [(r#"{"id":"a"}"#, [1u8; 32]), ("{}", [2u8; 32])];
        for first_seq in [1, 77, u64::MAX / 3] {
            let frame = UnsequencedFrame::encode(5, &docs);
            let len = frame.byte_len();
            let (bytes, offsets) = frame.sequence(first_seq);
            assert_eq!(bytes.len(), len);
            assert_eq!(bytes[12..20], first_seq.to_le_bytes());
            let stored_crc = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
            assert_eq!(stored_crc, crc32fast::hash(&bytes[12..]), "seq {first_seq}");
            assert_eq!(offsets, vec![32, 32 + 36 + 10]);
        }
    }

    #[test]
    fn a_frame_decodes_from_memory_and_any_damage_or_truncation_gives_none() {
        let docs = [(r#"{"id":"a"}"#, [1u8; 32]), ("{}", [2u8; 32])];
        let (mut bytes, offsets) = UnsequencedFrame::encode(5, &docs).sequence(42);
        bytes.extend_from_slice(b"trailing bytes of whatever comes next");
        let frame = decode_frame(&bytes).expect("a sound frame");
        assert_eq!(
            (frame.len, frame.first_seq, frame.received_ms),
            (bytes.len() - 37, 42, 5)
        );
        assert_eq!(frame.documents, [r#"{"id":"a"}"#, "{}"]);
        assert_eq!(
            document_in_frame(&bytes, offsets[1] as usize),
            Some("{}"),
            "a record read from a frame in memory"
        );
        assert!(decode_frame(&bytes[..frame.len - 1]).is_none(), "truncated");
        for at in [0, 5, 9, 14, 40, frame.len - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x20;
            assert!(decode_frame(&damaged).is_none(), "byte {at} flipped");
        }
        assert!(decode_frame(&[0u8; 64]).is_none(), "zeroes");
    }

    #[test]
    fn a_run_returns_each_document_with_its_stored_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, records) = segment(dir.path(), 5, None);
        let mut out = Vec::new();
        let found = read_run_into(&segment, &records, &mut out).unwrap();
        assert_eq!(found.len(), 15);
        for (i, (hash, start, end)) in found.iter().enumerate() {
            let doc = format!(r#"{{"id":"f{}-{}","n":{}}}"#, i / 5, i % 5, i % 5);
            assert_eq!(&out[*start..*end], doc.as_bytes(), "record {i}");
            assert_eq!(*hash, sha256(doc.as_bytes()), "record {i}");
        }
    }

    #[test]
    fn whole_frames_are_verified_by_their_crc_and_partial_ones_by_sha256() {
        let dir = tempfile::tempdir().unwrap();
        // Frame 1's record 2 carries a wrong SHA-256 that its frame's CRC-32 covers.
        let (segment, records) = segment(dir.path(), 5, Some((1, 2)));
        let mut out = Vec::new();
        // Frame 1 read whole: checked by its CRC-32 alone, so the wrong hash is not recomputed.
        read_run_into(&segment, &records[5..10], &mut out).expect("the CRC-32 holds");
        read_run_into(&segment, &records, &mut out).expect("the CRC-32s hold");
        // Frame 1 read from its second record: no frame header in the run, so each record is
        // checked against its SHA-256, and the wrong one is reported where it is.
        match read_run_into(&segment, &records[6..10], &mut out) {
            Err(StoreError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, records[7].offset as u64);
                assert!(reason.contains("SHA-256"), "{reason}");
            }
            other => panic!("expected a SHA-256 mismatch, got {other:?}"),
        }
        // Without sequence numbers, no frame can be recognised: SHA-256 for every record.
        assert!(read_run(&segment, &[records[7].offset]).is_err());
    }

    #[test]
    fn a_damaged_document_in_a_whole_frame_is_reported_at_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let (segment, records) = segment(dir.path(), 5, None);
        // A byte inside the document of record 8 (frame 1, record 3).
        flip(
            &segment,
            records[8].offset as u64 + RECORD_HEADER_LEN as u64 + 3,
        );
        let mut out = Vec::new();
        match read_run_into(&segment, &records, &mut out) {
            Err(StoreError::Corrupt { offset, .. }) => {
                assert_eq!(offset, records[8].offset as u64)
            }
            other => panic!("expected corruption at record 8, got {other:?}"),
        }
    }
}
