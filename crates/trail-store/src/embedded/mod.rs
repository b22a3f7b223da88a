//! The embedded store: one data directory, no server to run.
//!
//! ```text
//! <data-dir>/
//!   LOCK                held (flock) by the one process that has the store open
//!   log/*.seg           the segment log: the truth (see `log`)
//!   log/urgent.journal  urgent frames not yet durable in the log (see `journal`)
//!   index/blk-*.idx     sealed index blocks (derived; rebuilt from the log when missing)
//!   index/dicts.json    value dictionaries but blob ids (derived, rewritten at each seal)
//!   index/blobs.log     blob-id dictionary, appended at each seal (derived; see `persist`)
//!   meta.redb           users, permissions, API-key hashes (see `crate::metadata`)
//! ```
//!
//! Write path (group commit): an appender hashes its documents, settles ids repeated within the
//! batch and encodes its frame as if every id were new; then, under the writer lock, it checks
//! the other ids against those stored, assigns dense sequence numbers (numbering the frame),
//! gives the frame its place in the log and queues it. Nothing else happens under that lock:
//! 2 cores, many appenders, and the lock's holder is often preempted, so its stretches must
//! stay short. After the lock the appender writes the queued frames in order, unless another
//! appender is writing them (`write_queued`), and waits for a sync covering its frame: the
//! sync thread runs one `fdatasync` for every frame written so far and hands those batches to
//! the publisher thread, which adds them to the index in sequence order and wakes their
//! appenders. So N concurrent appenders cost one sync, the next group's sync overlaps this
//! group's indexing, and an event becomes visible to searches only once it is durable. Full
//! blocks are sealed (merged, given posting lists, persisted) by a sealer thread afterwards:
//! no append waits for a seal.
//!
//! Syncs run on a thread of their own, not on an appender's, because appenders may run at a
//! lower priority (the server's ingest lane): a starved appender leading the sync held up
//! every waiter behind it, the record a search writes about itself included.
//!
//! That record is an urgent append (`append_durable_blocking`). It joins a queue that every
//! holder of the writer lock numbers before and after its own batch, so it does not wait for
//! every appender queued on the lock; once numbered it is written to the urgent journal and
//! synced there, so it does not wait for the bulk frames numbered before it to reach the log
//! (a write into the page cache has been seen to take 430 ms on a busy VM). The log gets it
//! in its turn. Measured with `http_load` (8 ingest clients, 2 searching, 10M events onto
//! 10M, 2 cores): the record's wait was 13 ms median and 33–36 ms p99 when it was written
//! and synced in the log under the lock, 3.9 ms and 33 ms with the queue, 1.6–1.9 ms and
//! 15 ms with the journal.
//!
//! Threads per open store: `trail-sync` (syncs written frames, and writes queued ones nobody
//! is writing), `trail-publish` (indexes synced groups), `trail-seal` (seals full blocks),
//! `trail-warm` (derived indexes of sealed blocks). They run at the priority of the thread
//! that opened the store; each ends when the store is dropped.
//!
//! Recovery: open loads the persisted index blocks, then replays the log after them, checking
//! every frame; a torn final frame is truncated away, anything else malformed is reported with
//! its segment and offset. Then the journal's frames go through the append path again, which
//! stores the events a crash kept from the log.

pub mod columns;
pub mod index;
pub mod journal;
pub mod log;
pub mod persist;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use trail_model::{Dimensions, SearchAnswer, SearchQuery, StoredEvent};

use self::index::{Block, Compiled, DictSizes, Dicts, BLOCK_ROWS};
use self::log::{Location, Segment};
use crate::error::StoreError;
use crate::event_hash;
use crate::metadata::RedbMetadata;
use crate::{
    AppendReport, AppendResult, AuditStore, NewEvent, PackedEvent, PackedEvents, StoreStats,
};

/// Tunables of the embedded store.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Segment files roll over past this size.
    pub max_segment_bytes: u64,
    /// Rows per sealed index block (at most [`BLOCK_ROWS`]); small values exercise sealing in tests.
    pub block_rows: usize,
    /// Run first on each of the store's indexing threads (`trail-publish`, `trail-seal`,
    /// `trail-warm`): the server lowers their scheduling priority with it, as it lowers its
    /// ingest threads', so that searches get the CPU first. Not on `trail-sync`, which
    /// appends wait for.
    pub indexing_thread_start: Option<ThreadStart>,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            max_segment_bytes: 256 << 20,
            block_rows: BLOCK_ROWS,
            indexing_thread_start: None,
        }
    }
}

/// Code a thread runs when it starts (see [`EmbeddedOptions::indexing_thread_start`]).
#[derive(Clone)]
pub struct ThreadStart(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for ThreadStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadStart")
    }
}

/// A row to read: its block, its row within the block, and where its record lies.
type Placed<'b> = (&'b Block, u32, Location);

/// 64-bit fingerprint of an event id: the first 8 bytes of its SHA-256. Fingerprints only find
/// candidates; a match is confirmed against the stored id, so a collision never drops an event.
type Fingerprint = u64;

fn fingerprint(id: &str) -> Fingerprint {
    fingerprint_of_hash(&event_hash::sha256(id.as_bytes()))
}

fn fingerprint_of_hash(h: &[u8; 32]) -> Fingerprint {
    u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// One stored id: its fingerprint (as two words, so an entry is 12 bytes) and its row.
#[derive(Clone, Copy)]
struct DedupEntry {
    fp: [u32; 2],
    row: u32,
}

impl DedupEntry {
    fn new(fp: Fingerprint, row: u32) -> DedupEntry {
        DedupEntry {
            fp: [(fp >> 32) as u32, fp as u32],
            row,
        }
    }

    fn fingerprint(&self) -> u64 {
        (self.fp[0] as u64) << 32 | self.fp[1] as u64
    }
}

/// Event ids already stored, as fingerprints (never as strings): about 13 bytes per slot.
/// Sharded, so the table can be rebuilt in parallel at open and no single resize stalls
/// appends for long: a shard doubles under the writer lock, rehashing every entry. With 16
/// shards of a 15M-event store each doubling took 70–80 ms there, every search's record
/// queued behind it; with 256 a doubling at 20M events moves 80k entries.
struct Dedup {
    shards: Vec<HashTable<DedupEntry>>,
}

const DEDUP_SHARDS: usize = 256;

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            shards: (0..DEDUP_SHARDS).map(|_| HashTable::new()).collect(),
        }
    }
}

/// A fingerprint's shard: from bits 32 to 39, which no shard's table uses. Its bucket comes
/// from the low bits and its control tag from the top 7 (hashbrown's layout), so a shard by
/// the top bits would give all of its entries nearly the same tag and every probe false
/// matches.
fn shard_of(fp: Fingerprint) -> usize {
    (fp >> 32) as usize % DEDUP_SHARDS
}

impl Dedup {
    /// Builds the table from (fingerprint, row) pairs already split by shard. Each shard is
    /// filled in the order of the slots its entries land in, so the inserts walk memory
    /// sequentially instead of missing the cache on every one.
    fn build(parts: Vec<Vec<(Fingerprint, u32)>>) -> Dedup {
        let shards = parts
            .into_par_iter()
            .map(|mut part| {
                let mut table = HashTable::with_capacity(part.len());
                let slots = (part.len().max(8) * 8 / 7).next_power_of_two();
                part.sort_unstable_by_key(|(fp, _)| *fp as usize & (slots - 1));
                for (fp, row) in part {
                    table.insert_unique(fp, DedupEntry::new(fp, row), DedupEntry::fingerprint);
                }
                table
            })
            .collect();
        Dedup { shards }
    }

    fn insert(&mut self, fp: Fingerprint, row: u32) {
        self.shards[shard_of(fp)].insert_unique(
            fp,
            DedupEntry::new(fp, row),
            DedupEntry::fingerprint,
        );
    }

    /// Reads the table where each fingerprint would be, to bring those lines into cache.
    fn touch(&self, fps: impl Iterator<Item = Fingerprint>) {
        let found = fps
            .filter(|&fp| {
                self.shards[shard_of(fp)]
                    .find(fp, |e| e.fingerprint() == fp)
                    .is_some()
            })
            .count();
        std::hint::black_box(found);
    }

    /// Records `row` under `fp` if no row has that fingerprint yet; `false` (and nothing
    /// recorded) if one does.
    fn try_insert_new(&mut self, fp: Fingerprint, row: u32) -> bool {
        match self.shards[shard_of(fp)].entry(
            fp,
            |e| e.fingerprint() == fp,
            DedupEntry::fingerprint,
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(DedupEntry::new(fp, row));
                true
            }
        }
    }

    /// Rows whose id has this fingerprint (almost always zero or one).
    fn candidates(&self, fp: Fingerprint) -> Vec<u32> {
        self.shards[shard_of(fp)]
            .iter_hash(fp)
            .filter(|e| e.fingerprint() == fp)
            .map(|e| e.row)
            .collect()
    }

    fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|t| t.capacity() * (std::mem::size_of::<DedupEntry>() + 1))
            .sum()
    }
}

/// Just the id of a stored document.
#[derive(serde::Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

fn id_of(document: &str) -> Option<String> {
    serde_json::from_str::<IdOnly>(document)
        .ok()
        .map(|d| d.id.into_owned())
}

/// A written batch on its way to the index.
struct PendingBatch {
    first_row: u64,
    received_ms: i64,
    /// Every event of the appended batch, with its id's fingerprint.
    dims: Vec<Dimensions>,
    fingerprints: Vec<Fingerprint>,
    /// Which of them were stored, in sequence order; `None` when all were (the others repeated
    /// an id already stored).
    stored: Option<Vec<usize>>,
    /// Where each stored event is, in sequence order.
    locations: Vec<Location>,
}

impl PendingBatch {
    /// The stored events in sequence order.
    fn rows(&self) -> impl Iterator<Item = (&Dimensions, Location, Fingerprint)> + '_ {
        self.locations.iter().enumerate().map(|(k, location)| {
            let i = self.stored.as_ref().map_or(k, |stored| stored[k]);
            (&self.dims[i], *location, self.fingerprints[i])
        })
    }
}

/// A batch written to the log, waiting for the sync that makes it durable.
struct Written {
    /// The log position just after its frame.
    lsn_end: u64,
    /// The segment holding it. Segments before it were synced when the log moved on.
    segment: Arc<Segment>,
    batch: PendingBatch,
}

/// What the writer lock guards: numbering. Its holder checks ids, numbers the batch and gives
/// its frame a place in the log; the frame is written after the lock (see [`LogWriter`]).
struct Writer {
    next_seq: u64,
    /// The log position after the last numbered frame (bytes since open, across segments):
    /// the positions group commit syncs up to.
    lsn: u64,
    /// Where the next numbered frame goes: its segment's number and offset.
    segment_no: u32,
    pos: u64,
    dedup: Dedup,
    poisoned: Option<String>,
}

/// What the write lock guards: the segment being written. Numbered frames are written in
/// sequence order by whichever appender holds it ([`EmbeddedStore::write_queued`]).
struct LogWriter {
    log_dir: PathBuf,
    current: Arc<Segment>,
}

/// A frame numbered under the writer lock, waiting in the write queue for its turn.
struct QueuedFrame {
    /// The row of its first event (its first sequence number less one) and how many it holds.
    first_row: u64,
    rows: u64,
    /// The segment it goes to and its offset there.
    segment_no: u32,
    base: u64,
    /// It is the first frame of a new segment, which is created before it is written.
    opens_segment: bool,
    bytes: Vec<u8>,
    /// The log position after it.
    lsn_end: u64,
    /// Handed to the sync thread once written.
    batch: Mutex<Option<PendingBatch>>,
}

impl Writer {
    /// Records why the store stopped taking appends; see [`Inner::is_poisoned`].
    fn poison(&mut self, inner: &Inner, msg: String) -> StoreError {
        self.poisoned = Some(msg.clone());
        inner.is_poisoned.store(true, Ordering::Release);
        StoreError::Poisoned(msg)
    }
}

struct IndexState {
    sealed: Vec<Arc<Block>>,
    /// Full blocks still in the chunks they were appended in, oldest first, waiting for the
    /// sealer (see [`EmbeddedStore::seal`]); searched like open chunks until then.
    unsealed: VecDeque<Vec<Arc<Block>>>,
    open: Vec<Arc<Block>>,
    open_rows: usize,
    block_rows: usize,
}

impl IndexState {
    fn rows(&self) -> u64 {
        (self.sealed.len() + self.unsealed.len()) as u64 * self.block_rows as u64
            + self.open_rows as u64
    }

    /// Every block and chunk, in row order.
    fn blocks(&self) -> impl Iterator<Item = &Arc<Block>> {
        self.sealed
            .iter()
            .chain(self.unsealed.iter().flatten())
            .chain(self.open.iter())
    }

    fn snapshot(&self) -> Vec<Arc<Block>> {
        self.blocks().cloned().collect()
    }
}

struct Inner {
    dir: PathBuf,
    index_dir: PathBuf,
    options: EmbeddedOptions,
    writer: Mutex<Writer>,
    /// Whether `Writer::poisoned` is set: waiters check it without taking the writer lock,
    /// which appenders hold while they check ids and write their frames.
    is_poisoned: std::sync::atomic::AtomicBool,
    /// Locations of rows written but not yet in the index: (first row, locations). Pushed
    /// under the writer lock, in sequence order; popped by the publisher once indexed.
    unpublished: Mutex<VecDeque<(u64, Vec<Location>)>>,
    /// Numbered frames not yet written, in sequence order: pushed under the writer lock,
    /// removed once written (see [`EmbeddedStore::write_queued`]).
    write_queue: Mutex<VecDeque<Arc<QueuedFrame>>>,
    /// Held while writing queued frames.
    log_writer: Mutex<LogWriter>,
    /// Written batches not yet synced, in log order. Pushed by the write lock's holder;
    /// drained by the sync leader (see [`EmbeddedStore::wait_visible_lsn`]).
    pending: Mutex<VecDeque<Written>>,
    /// Where urgent appends become durable without waiting for the log (see `journal`).
    journal: journal::Journal,
    /// Log positions of written frames, for the sync thread (see
    /// [`EmbeddedStore::wait_visible_lsn`]); `None` when that thread could not start, and
    /// appenders lead the group commits themselves.
    sync_queue: Option<std::sync::mpsc::Sender<u64>>,
    /// Held by the thread leading a group commit (draining `pending` and syncing it).
    sync_lock: Mutex<()>,
    /// Log position up to which `fdatasync` has completed: appends up to here are durable.
    synced_lsn: AtomicU64,
    /// Log position up to which appends are durable and published (visible to searches).
    visible_lsn: AtomicU64,
    /// Signalled (with `progress_lock`) whenever `visible_lsn` advances, a block is sealed or
    /// the store is poisoned.
    progress: parking_lot::Condvar,
    progress_lock: Mutex<()>,
    /// Urgent appends waiting for the writer lock's next holder (see
    /// [`EmbeddedStore::append_urgent`]), and whether there are any, read without the lock.
    urgent: Mutex<Vec<Arc<UrgentAppend>>>,
    urgent_queued: std::sync::atomic::AtomicBool,
    /// Synced groups on their way to the publisher thread (see [`EmbeddedStore::wait_visible_lsn`]);
    /// `None` when that thread could not start, and the sync leader publishes itself.
    publish_queue: Option<std::sync::mpsc::Sender<SyncedGroup>>,
    /// Full blocks for the sealer thread, in row order (see [`EmbeddedStore::seal`]); `None`
    /// when that thread could not start, and the publisher seals itself.
    seal_queue: Option<std::sync::mpsc::Sender<Vec<Arc<Block>>>>,
    segments: RwLock<Vec<Arc<Segment>>>,
    index: RwLock<IndexState>,
    dicts: RwLock<Dicts>,
    /// How many blob ids `index/blobs.log` holds; held while a seal saves the dictionaries,
    /// so their frames are appended in order.
    blobs_saved: Mutex<u32>,
    metadata: Arc<RedbMetadata>,
    /// Sealed blocks waiting for their derived indexes (see [`EmbeddedStore::warm`]); the
    /// thread that builds them ends when the store is dropped.
    warm_queue: Option<std::sync::mpsc::Sender<Vec<Arc<Block>>>>,
    /// Searches evaluating now (see [`EmbeddedStore::search_blocking`]).
    searches_running: AtomicUsize,
    _lock: File,
}

impl Inner {
    /// The store's poisoning as an error, if it is poisoned; takes the writer lock only then.
    fn fail_if_poisoned(&self) -> Result<(), StoreError> {
        if !self.is_poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let w = self.writer.lock();
        Err(StoreError::Poisoned(w.poisoned.clone().unwrap_or_default()))
    }

    /// Whether the events up to sequence number `seq` are visible to searches.
    fn is_visible(&self, seq: u64) -> bool {
        self.index.read().rows() >= seq
    }
}

/// One search counted in [`Inner::searches_running`] while it lives.
struct SearchRunning<'a> {
    counter: &'a AtomicUsize,
    /// No other search was running when this one started.
    alone: bool,
}

impl<'a> SearchRunning<'a> {
    fn enter(counter: &'a AtomicUsize) -> SearchRunning<'a> {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        SearchRunning {
            counter,
            alone: before == 0,
        }
    }
}

impl Drop for SearchRunning<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An append made ready outside the writer lock: hashed, its repeated ids settled, its frame
/// encoded as if every id were new (re-encoded under the lock only when some id is already
/// stored).
struct PreparedAppend {
    received_ms: i64,
    documents: Vec<String>,
    doc_hashes: Vec<[u8; 32]>,
    /// Moved into the written batch by [`EmbeddedStore::commit_locked`].
    dims: Vec<Dimensions>,
    fingerprints: Vec<Fingerprint>,
    /// For each event, the index of the batch's earlier event with its id, if any.
    repeat_of: Vec<Option<usize>>,
    /// The indices of the events whose id the batch does not repeat from earlier.
    firsts: Vec<usize>,
    all_new_frame: Option<log::UnsequencedFrame>,
}

impl PreparedAppend {
    fn new(batch: Vec<NewEvent>) -> Result<PreparedAppend, StoreError> {
        PreparedAppend::received_at(batch, now_ms())
    }

    fn received_at(batch: Vec<NewEvent>, received_ms: i64) -> Result<PreparedAppend, StoreError> {
        // Documents and ids hashed in one SIMD pass: the first half are the stored-bytes
        // hashes, the second the ids' (whose first 8 bytes are the dedup fingerprint).
        let mut doc_hashes = {
            let messages: Vec<&[u8]> = batch
                .iter()
                .map(|e| e.document.as_bytes())
                .chain(batch.iter().map(|e| e.dims.id.as_bytes()))
                .collect();
            event_hash::sha256_each(&messages)
        };
        let fingerprints: Vec<Fingerprint> = doc_hashes[batch.len()..]
            .iter()
            .map(fingerprint_of_hash)
            .collect();
        doc_hashes.truncate(batch.len());
        let (documents, dims): (Vec<String>, Vec<Dimensions>) =
            batch.into_iter().map(|e| (e.document, e.dims)).unzip();
        let mut first_with_id: FxHashMap<&str, usize> =
            FxHashMap::with_capacity_and_hasher(dims.len(), Default::default());
        let repeat_of: Vec<Option<usize>> = dims
            .iter()
            .enumerate()
            .map(|(i, d)| match first_with_id.entry(d.id.as_str()) {
                std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                    None
                }
            })
            .collect();
        drop(first_with_id);
        let firsts: Vec<usize> = (0..dims.len())
            .filter(|&i| repeat_of[i].is_none())
            .collect();
        let mut prepared = PreparedAppend {
            received_ms,
            documents,
            doc_hashes,
            dims,
            fingerprints,
            repeat_of,
            firsts,
            all_new_frame: None,
        };
        let frame = log::UnsequencedFrame::encode(received_ms, &prepared.docs_of(&prepared.firsts));
        // Checked before any id is claimed: a subset of the batch is never larger.
        if frame.byte_len() > log::MAX_FRAME_BYTES {
            return Err(StoreError::Invalid(format!(
                "a batch of {} bytes exceeds the {} byte frame limit; split it",
                frame.byte_len(),
                log::MAX_FRAME_BYTES
            )));
        }
        prepared.all_new_frame = Some(frame);
        Ok(prepared)
    }

    /// The documents at `indices`, with their hashes, for a frame.
    fn docs_of(&self, indices: &[usize]) -> Vec<(&str, [u8; 32])> {
        indices
            .iter()
            .map(|&i| (self.documents[i].as_str(), self.doc_hashes[i]))
            .collect()
    }
}

/// What the writer lock's holder did with one prepared append.
struct Committed {
    /// Each event's result; `None` for events repeating an earlier id of their batch.
    results: Vec<Option<AppendResult>>,
    /// Its frame, queued to be written; `None` when nothing was stored.
    frame: Option<Arc<QueuedFrame>>,
}

impl Committed {
    /// The batch's report, an event repeating an earlier id of its batch reported as a
    /// duplicate of that event's sequence number.
    fn report(&self, repeat_of: &[Option<usize>]) -> AppendReport {
        let mut report = AppendReport {
            results: Vec::with_capacity(self.results.len()),
            ..Default::default()
        };
        for (result, repeat_of) in self.results.iter().zip(repeat_of) {
            let result = match (result, repeat_of) {
                (Some(result), _) => *result,
                (None, Some(first)) => AppendResult::Duplicate {
                    seq: match self.results[*first] {
                        Some(AppendResult::Stored { seq } | AppendResult::Duplicate { seq }) => seq,
                        None => unreachable!("a first occurrence has a result"),
                    },
                },
                (None, None) => unreachable!("every first occurrence has a result"),
            };
            match result {
                AppendResult::Stored { .. } => report.stored += 1,
                AppendResult::Duplicate { .. } => report.duplicates += 1,
            }
            report.results.push(result);
        }
        report
    }
}

/// An urgent append waiting for a holder of the writer lock to commit it (see
/// [`EmbeddedStore::append_urgent`]).
struct UrgentAppend {
    /// Taken by the thread that commits it.
    prepared: Mutex<Option<PreparedAppend>>,
    outcome: Mutex<Option<Result<Committed, StoreError>>>,
    /// Signalled (with `outcome`) once the outcome is set.
    done: parking_lot::Condvar,
}

/// Batches made durable by one `fdatasync`, to be published in the order of their syncs.
struct SyncedGroup {
    /// The log position the sync covered.
    target: u64,
    batches: Vec<PendingBatch>,
}

/// Starts a named thread that runs `work` on each item sent to the returned queue, in order,
/// and ends when the queue closes. `None` (with a warning saying what happens instead) when the
/// thread cannot start.
fn start_queue_thread<T: Send + 'static>(
    name: &str,
    instead: &str,
    on_start: Option<ThreadStart>,
    mut work: impl FnMut(T) + Send + 'static,
) -> Option<std::sync::mpsc::Sender<T>> {
    let (queue, items) = std::sync::mpsc::channel::<T>();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(start) = on_start {
                (start.0)();
            }
            items.into_iter().for_each(&mut work)
        });
    match spawned {
        Ok(_) => Some(queue),
        Err(e) => {
            tracing::warn!("cannot start thread {name} ({e}); {instead}");
            None
        }
    }
}

/// Starts one of the store's own threads (`trail-publish`, `trail-seal`): it runs `work` on
/// each item sent, in order, holding the store only meanwhile, and ends when the store is
/// dropped (its queue closes). An error or a panic in `work` poisons the store. `None` when
/// the thread cannot start; the caller then does the work itself (see `hand_over`).
fn start_store_thread<T: Send + 'static>(
    name: &str,
    store: std::sync::Weak<Inner>,
    on_start: Option<ThreadStart>,
    work: fn(&EmbeddedStore, T) -> Result<(), StoreError>,
) -> Option<std::sync::mpsc::Sender<T>> {
    let what = name.to_string();
    start_queue_thread(name, "its work runs inline", on_start, move |item| {
        let Some(inner) = store.upgrade() else {
            return;
        };
        let store = EmbeddedStore { inner };
        let run = std::panic::AssertUnwindSafe(|| work(&store, item));
        match std::panic::catch_unwind(run) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                store.poison(format!("{what} failed: {e}"));
            }
            Err(_) => {
                store.poison(format!("{what} panicked"));
            }
        }
    })
}

/// Starts the thread behind [`EmbeddedStore::warm`]. Unlike the threads of
/// [`start_store_thread`], it holds only the blocks, never the store: warming every block
/// after an open takes over a second at 10M events, and holding the store that long would
/// keep its directory locked after the store is dropped.
fn start_warm_thread(
    on_start: Option<ThreadStart>,
) -> Option<std::sync::mpsc::Sender<Vec<Arc<Block>>>> {
    start_queue_thread(
        "trail-warm",
        "searches will prepare sealed blocks as they need them",
        on_start,
        |blocks: Vec<Arc<Block>>| blocks.iter().for_each(|b| b.build_derived()),
    )
}

/// Sends `item` to a store thread's queue; gives it back when there is no such thread (it
/// could not start, or has ended), for the caller to do the work itself.
fn hand_over<T>(queue: &Option<std::sync::mpsc::Sender<T>>, item: T) -> Option<T> {
    match queue {
        Some(queue) => queue.send(item).err().map(|unsent| unsent.0),
        None => Some(item),
    }
}

/// The embedded store. Cheap to clone; all clones share one open data directory.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, recovering from any crash.
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(dir, EmbeddedOptions::default())
    }

    pub fn open_with(
        dir: impl AsRef<Path>,
        options: EmbeddedOptions,
    ) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if options.block_rows == 0 || options.block_rows > BLOCK_ROWS {
            return Err(StoreError::Invalid(format!(
                "block_rows must be between 1 and {BLOCK_ROWS}"
            )));
        }
        let block_rows = options.block_rows;
        let log_dir = dir.join("log");
        let index_dir = dir.join("index");
        for d in [&dir, &log_dir, &index_dir] {
            fs::create_dir_all(d).map_err(|e| StoreError::io(d, e))?;
        }
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| StoreError::io(&lock_path, e))?;
        // A process that just exited (or a fork that has not yet exec'd) may hold the lock for a
        // moment: wait briefly before declaring the directory in use.
        let mut attempts = 0;
        while lock.try_lock().is_err() {
            attempts += 1;
            if attempts > 40 {
                return Err(StoreError::Locked(dir));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let metadata = Arc::new(RedbMetadata::open(&dir.join("meta.redb"))?);

        // 1. Persisted index blocks: the longest valid prefix.
        let (mut dicts, blobs_saved) = persist::load_dicts(&index_dir);
        let sealed = load_sealed_blocks(&index_dir, &dicts, block_rows);
        let covered_rows = sealed.len() as u64 * block_rows as u64;
        let per_shard = covered_rows as usize / DEDUP_SHARDS + 16;
        let mut parts: Vec<Vec<(Fingerprint, u32)>> = (0..DEDUP_SHARDS)
            .map(|_| Vec::with_capacity(per_shard))
            .collect();
        let mut sealed_arcs = Vec::with_capacity(sealed.len());
        for mut b in sealed {
            for (i, f) in b.fingerprints.iter().enumerate() {
                parts[shard_of(*f)].push((*f, (b.base_row + i as u64) as u32));
            }
            b.release_persisted_only();
            sealed_arcs.push(Arc::new(b));
        }
        let dedup = Dedup::build(parts);

        // 2. The log: replay what the index does not cover, validate the tail.
        let mut listed = log::list_segments(&log_dir)?;
        if listed.is_empty() {
            let s = log::create_segment(&log_dir, 1)?;
            listed.push((1, s.path.clone()));
        }
        let last_no = listed.len() - 1;
        let mut segments = Vec::with_capacity(listed.len());
        for (i, (first, path)) in listed.iter().enumerate() {
            segments.push(Arc::new(log::open_segment(path, *first, i == last_no)?));
        }
        let first_needed = covered_rows + 1;
        let start_no = listed
            .iter()
            .rposition(|(first, _)| *first <= first_needed)
            .unwrap_or(0);
        let mut replay: Vec<PendingBatch> = Vec::new();
        let mut next_seq = listed[start_no].0;
        let mut tail_end = None;
        for (no, seg) in segments.iter().enumerate().skip(start_no) {
            if seg.first_seq != next_seq && no != start_no {
                return Err(StoreError::Corrupt {
                    segment: seg.path.clone(),
                    offset: 0,
                    reason: format!("segment starts at sequence {}, but the previous one ended before {next_seq}", seg.first_seq),
                });
            }
            let is_last = no == last_no;
            let end = log::scan_segment(seg, is_last, first_needed, |batch| {
                let n = batch.records.len();
                let (mut dims, mut fingerprints, mut locations) = (
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                    Vec::with_capacity(n),
                );
                for (offset, _hash, doc) in batch.records {
                    let d = trail_model::parse_event(&doc).map_err(|e| StoreError::Corrupt {
                        segment: seg.path.clone(),
                        offset: offset as u64,
                        reason: format!("stored event no longer parses: {e}"),
                    })?;
                    fingerprints.push(fingerprint(&d.id));
                    dims.push(d);
                    locations.push(Location {
                        segment: no as u32,
                        offset,
                    });
                }
                let skipped = first_needed.saturating_sub(batch.first_seq);
                replay.push(PendingBatch {
                    first_row: batch.first_seq - 1 + skipped,
                    received_ms: batch.received_ms,
                    dims,
                    fingerprints,
                    stored: None,
                    locations,
                });
                Ok(())
            })?;
            next_seq = end.next_seq;
            if is_last {
                tail_end = Some(end);
            }
        }
        let tail = tail_end.expect("the last segment is always scanned");
        let current = segments[last_no].clone();
        if tail.torn_tail {
            tracing::warn!(segment = %current.path.display(), valid_len = tail.valid_len, "dropping a torn tail left by a crash");
            let f = &current.file;
            f.set_len(tail.valid_len)
                .map_err(|e| StoreError::io(&current.path, e))?;
            if tail.valid_len < log::SEGMENT_HEADER_LEN {
                use std::io::Write;
                f.set_len(0).map_err(|e| StoreError::io(&current.path, e))?;
                let mut header = log::SEGMENT_MAGIC.to_vec();
                header.extend_from_slice(&current.first_seq.to_le_bytes());
                (&**f)
                    .write_all(&header)
                    .map_err(|e| StoreError::io(&current.path, e))?;
            }
            f.sync_all().map_err(|e| StoreError::io(&current.path, e))?;
        }
        let pos = tail.valid_len.max(log::SEGMENT_HEADER_LEN);
        if next_seq - 1 < covered_rows {
            return Err(StoreError::Corrupt {
                segment: current.path.clone(),
                offset: pos,
                reason: format!("the log ends at sequence {} but the index covers {covered_rows} events: log data is missing", next_seq - 1),
            });
        }

        let (journal, journaled) = journal::Journal::open(&log_dir)?;
        let indexing = options.indexing_thread_start.clone();
        let inner = |weak: &std::sync::Weak<Inner>| Inner {
            dir: dir.clone(),
            index_dir,
            options,
            writer: Mutex::new(Writer {
                next_seq,
                lsn: 0,
                segment_no: last_no as u32,
                pos,
                dedup,
                poisoned: None,
            }),
            write_queue: Mutex::new(VecDeque::new()),
            log_writer: Mutex::new(LogWriter { log_dir, current }),
            journal,
            is_poisoned: std::sync::atomic::AtomicBool::new(false),
            unpublished: Mutex::new(VecDeque::new()),
            pending: Mutex::new(VecDeque::new()),
            sync_queue: start_store_thread("trail-sync", weak.clone(), None, |store, lsn| {
                // An urgent appender asks for a frame that may not be written yet: if no
                // appender is writing, this thread writes it.
                let sync = store
                    .write_queued()
                    .and_then(|()| store.lead_group_commit(lsn));
                match sync {
                    // Poisoned already, with its reason; its waiters are to learn it.
                    Err(StoreError::Poisoned(_)) => {
                        store.notify_progress();
                        Ok(())
                    }
                    other => other,
                }
            }),
            sync_lock: Mutex::new(()),
            synced_lsn: AtomicU64::new(0),
            visible_lsn: AtomicU64::new(0),
            progress: parking_lot::Condvar::new(),
            progress_lock: Mutex::new(()),
            publish_queue: start_store_thread(
                "trail-publish",
                weak.clone(),
                indexing.clone(),
                |store, group| {
                    store.publish_group(group);
                    Ok(())
                },
            ),
            seal_queue: start_store_thread(
                "trail-seal",
                weak.clone(),
                indexing.clone(),
                EmbeddedStore::seal,
            ),
            segments: RwLock::new(segments),
            index: RwLock::new(IndexState {
                sealed: sealed_arcs,
                unsealed: VecDeque::new(),
                open: Vec::new(),
                open_rows: 0,
                block_rows,
            }),
            dicts: RwLock::new(std::mem::take(&mut dicts)),
            blobs_saved: Mutex::new(blobs_saved),
            metadata,
            searches_running: AtomicUsize::new(0),
            urgent: Mutex::new(Vec::new()),
            urgent_queued: Default::default(),
            warm_queue: start_warm_thread(indexing.clone()),
            _lock: lock,
        };
        let store = EmbeddedStore {
            inner: Arc::new_cyclic(inner),
        };
        {
            let mut w = store.inner.writer.lock();
            for b in &replay {
                for (i, (_, _, fp)) in b.rows().enumerate() {
                    w.dedup.insert(fp, (b.first_row + i as u64) as u32);
                }
            }
        }
        // Blocks sealed after the replay are warmed by `seal`.
        store.warm(store.inner.index.read().sealed.clone());
        store.publish(replay)?;
        store.recover_journaled(journaled)?;
        Ok(store)
    }

    /// Appends again the journaled urgent frames whose events the log lost in a crash (see
    /// `journal`): events already stored are duplicates and stay as they are.
    fn recover_journaled(&self, frames: Vec<log::DecodedFrame>) -> Result<(), StoreError> {
        let mut recovered = 0;
        for frame in frames {
            let batch = frame
                .documents
                .into_iter()
                .map(NewEvent::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Corrupt {
                    segment: self.inner.dir.join("log").join("urgent.journal"),
                    offset: 0,
                    reason: format!("a journaled event no longer parses: {e}"),
                })?;
            let prepared = PreparedAppend::received_at(batch, frame.received_ms)?;
            recovered += self.append_prepared(prepared)?.stored;
        }
        if recovered > 0 {
            tracing::warn!(
                events = recovered,
                "recovered acknowledged events from the urgent journal that a crash kept from the log"
            );
        }
        Ok(())
    }

    /// Builds the derived indexes of sealed blocks ([`Block::build_derived`]) in the
    /// background, so that the first searches after an open or a seal do not pay for them. One
    /// long-lived thread of its own, not the search pool: a search never queues behind this
    /// work, and it takes at most one core (about 1.3 CPU-seconds after opening 10M events).
    /// Without that thread, searches build what they need as they go.
    fn warm(&self, blocks: Vec<Arc<Block>>) {
        if !blocks.is_empty() {
            // Without the thread, searches build what they need.
            let _ = hand_over(&self.inner.warm_queue, blocks);
        }
    }

    /// Builds the derived indexes of every sealed block now, on this thread, instead of
    /// waiting for the background preparation (for tests and benchmarks that want a settled
    /// store; searches are exact either way).
    pub fn prepare_sealed_blocks(&self) {
        // Without a seal in between, searches would meet full blocks still in chunks.
        let _ = self.wait_sealed();
        let sealed = self.inner.index.read().sealed.clone();
        sealed.iter().for_each(|b| b.build_derived());
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Users, permissions and API keys of this data directory.
    pub fn metadata(&self) -> Arc<RedbMetadata> {
        self.inner.metadata.clone()
    }

    /// Appends a batch and returns once it is durable and visible to searches (blocking).
    pub fn append_blocking(&self, batch: Vec<NewEvent>) -> Result<AppendReport, StoreError> {
        self.append_prepared(PreparedAppend::new(batch)?)
    }

    fn append_prepared(&self, mut prepared: PreparedAppend) -> Result<AppendReport, StoreError> {
        let committed = self.with_writer(|w| self.commit_locked(w, &mut prepared))?;
        let report = committed.report(&prepared.repeat_of);
        // Freed after the lock: 400 kB a batch.
        drop(prepared);
        if let Some(lsn) = committed.frame.map(|frame| frame.lsn_end) {
            self.write_queued()?;
            self.wait_visible_lsn(lsn)?;
        }
        Ok(report)
    }

    /// Appends a batch and returns once it is durable, perhaps before searches see it
    /// (blocking); see [`AuditStore::append_without_visibility_wait`].
    pub fn append_durable_blocking(
        &self,
        batch: Vec<NewEvent>,
    ) -> Result<AppendReport, StoreError> {
        self.append_urgent(batch)
    }

    /// Returns once the events up to sequence number `seq` are visible to searches (blocking).
    pub fn wait_visible_blocking(&self, seq: u64) -> Result<(), StoreError> {
        self.wait_for_progress(|inner| inner.is_visible(seq))
    }

    /// Blocks until `reached` holds, re-checking whenever the background threads make progress
    /// (`notify_progress`); fails once the store is poisoned.
    fn wait_for_progress(&self, reached: impl Fn(&Inner) -> bool) -> Result<(), StoreError> {
        let mut progress = self.inner.progress_lock.lock();
        while !reached(&self.inner) {
            self.inner.fail_if_poisoned()?;
            self.inner.progress.wait(&mut progress);
        }
        Ok(())
    }

    /// Appends a small batch that someone waits for (Trail's record of a search), durably,
    /// without queueing behind bulk appends.
    ///
    /// The batch joins the urgent queue, which every holder of the writer lock numbers first
    /// (see [`EmbeddedStore::with_writer`]); while the lock is free the caller numbers the
    /// queue itself. So it waits for the rest of at most one bulk append's numbering, not for
    /// every appender queued on the lock: under 350k events/s of HTTP ingest (`http_load`, 8
    /// ingest clients, 2 cores) a search's record had waited 9.6 ms (median) for the lock
    /// behind bulk appenders holding it 1.8 ms each. Its frame is then written to the urgent
    /// journal and synced (see `journal`), so it does not wait for the bulk frames numbered
    /// before it to be written to the log either; the log gets it in its turn. Nor does it
    /// wait for indexing. When the journal cannot take the frame (too large, or full of
    /// frames the log has not synced yet) it waits for the log instead.
    fn append_urgent(&self, batch: Vec<NewEvent>) -> Result<AppendReport, StoreError> {
        let prepared = PreparedAppend::new(batch)?;
        let repeat_of = prepared.repeat_of.clone();
        let urgent = Arc::new(UrgentAppend {
            prepared: Mutex::new(Some(prepared)),
            outcome: Mutex::new(None),
            done: parking_lot::Condvar::new(),
        });
        self.inner.urgent.lock().push(urgent.clone());
        self.inner.urgent_queued.store(true, Ordering::Release);
        let committed = loop {
            let mut outcome = urgent.outcome.lock();
            if let Some(committed) = outcome.take() {
                break committed;
            }
            drop(outcome);
            if let Some(mut w) = self.inner.writer.try_lock() {
                self.commit_urgent_queue(&mut w);
                continue;
            }
            let mut outcome = urgent.outcome.lock();
            if outcome.is_none() {
                // A holder that takes the lock without emptying the queue (a rare reader of
                // the writer state) would leave the batch waiting: look again soon.
                urgent
                    .done
                    .wait_for(&mut outcome, std::time::Duration::from_millis(2));
            }
        }?;
        let report = committed.report(&repeat_of);
        let Some(frame) = committed.frame else {
            return Ok(report);
        };
        let lsn = frame.lsn_end;
        let synced = self.inner.synced_lsn.load(Ordering::Acquire);
        let journaled = synced >= lsn
            || {
                match self.inner.journal.write_durable(&frame.bytes, lsn, synced) {
                    Ok(journaled) => journaled,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot write the urgent journal; waiting for the log instead");
                        false
                    }
                }
            };
        drop(frame);
        // The log still gets the frame in its turn: the sync thread writes it if no appender
        // is writing, and syncs and publishes it in its group.
        if let Some(lsn) = hand_over(&self.inner.sync_queue, lsn) {
            self.write_queued()?;
            self.lead_group_commit(lsn)?;
        }
        if !journaled {
            self.write_queued()?;
            self.wait_visible_lsn(lsn)?;
        }
        Ok(report)
    }

    /// Runs `work` under the writer lock, committing the urgent queue before it and after it
    /// (see [`EmbeddedStore::append_urgent`]).
    fn with_writer<T>(&self, work: impl FnOnce(&mut Writer) -> T) -> T {
        let mut w = self.inner.writer.lock();
        self.commit_urgent_queue(&mut w);
        let result = work(&mut w);
        self.commit_urgent_queue(&mut w);
        result
    }

    /// Commits every queued urgent append, in queue order, and wakes their appenders.
    fn commit_urgent_queue(&self, w: &mut Writer) {
        if !self.inner.urgent_queued.load(Ordering::Acquire) {
            return;
        }
        let queued = {
            let mut urgent = self.inner.urgent.lock();
            self.inner.urgent_queued.store(false, Ordering::Release);
            std::mem::take(&mut *urgent)
        };
        for urgent in queued {
            let Some(mut prepared) = urgent.prepared.lock().take() else {
                continue;
            };
            let committed = self.commit_locked(w, &mut prepared);
            #[cfg(test)]
            tests::URGENT_COMMITTED_HERE.with(|n| n.set(n.get() + 1));
            *urgent.outcome.lock() = Some(committed);
            urgent.done.notify_one();
        }
    }

    /// The part of an append done under the writer lock: checks the batch's ids against those
    /// stored, numbers the events and writes the frame. Nothing else may happen here: its
    /// holder is often preempted, and every appender waits for it.
    fn commit_locked(
        &self,
        w: &mut Writer,
        p: &mut PreparedAppend,
    ) -> Result<Committed, StoreError> {
        if let Some(poisoned) = &w.poisoned {
            return Err(StoreError::Poisoned(poisoned.clone()));
        }
        let first_seq = w.next_seq;
        if first_seq - 1 + p.firsts.len() as u64 > u32::MAX as u64 {
            return Err(StoreError::Invalid(
                "this store holds its maximum of 4,294,967,295 events".into(),
            ));
        }
        let mut results: Vec<Option<AppendResult>> = vec![None; p.dims.len()];
        // Lookups that only read overlap their cache misses; the claims that follow then
        // find the table's lines in cache.
        w.dedup.touch(p.firsts.iter().map(|&i| p.fingerprints[i]));
        // Indices into the batch of the events to store, in input order.
        let mut to_store: Vec<usize> = Vec::with_capacity(p.firsts.len());
        for &i in &p.firsts {
            let id = p.dims[i].id.as_str();
            let new_row = (first_seq - 1 + to_store.len() as u64) as u32;
            let claim = self.claim_row(w, p.fingerprints[i], id, new_row, first_seq - 1)?;
            results[i] = Some(match claim {
                Some(row) => AppendResult::Duplicate {
                    seq: row as u64 + 1,
                },
                None => {
                    to_store.push(i);
                    AppendResult::Stored {
                        seq: first_seq + to_store.len() as u64 - 1,
                    }
                }
            });
        }
        if to_store.is_empty() {
            return Ok(Committed {
                results,
                frame: None,
            });
        }
        let frame = match p.all_new_frame.take() {
            Some(frame) if to_store.len() == p.firsts.len() => frame,
            _ => log::UnsequencedFrame::encode(p.received_ms, &p.docs_of(&to_store)),
        };
        let max_seg = self
            .inner
            .options
            .max_segment_bytes
            .min(log::MAX_SEGMENT_BYTES);
        let opens_segment =
            w.pos > log::SEGMENT_HEADER_LEN && w.pos + frame.byte_len() as u64 > max_seg;
        if opens_segment {
            w.segment_no += 1;
            w.pos = log::SEGMENT_HEADER_LEN;
        }
        let (frame, offsets) = frame.sequence(first_seq);
        let base = w.pos;
        w.pos += frame.len() as u64;
        w.lsn += frame.len() as u64;
        w.next_seq += to_store.len() as u64;
        let locations: Vec<Location> = offsets
            .iter()
            .map(|offset| Location {
                segment: w.segment_no,
                offset: (base + *offset as u64) as u32,
            })
            .collect();
        self.inner
            .unpublished
            .lock()
            .push_back((first_seq - 1, locations.clone()));
        let all_stored = to_store.len() == p.dims.len();
        let rows = to_store.len() as u64;
        let queued = Arc::new(QueuedFrame {
            first_row: first_seq - 1,
            rows,
            segment_no: w.segment_no,
            base,
            opens_segment,
            bytes: frame,
            lsn_end: w.lsn,
            batch: Mutex::new(Some(PendingBatch {
                first_row: first_seq - 1,
                received_ms: p.received_ms,
                stored: (!all_stored).then_some(to_store),
                locations,
                fingerprints: std::mem::take(&mut p.fingerprints),
                dims: std::mem::take(&mut p.dims),
            })),
        });
        self.inner.write_queue.lock().push_back(queued.clone());
        Ok(Committed {
            results,
            frame: Some(queued),
        })
    }

    /// Writes the queued frames in sequence order, unless another thread is writing them
    /// (which then writes the frames queued meanwhile too), and hands each run written to the
    /// sync thread. So a bulk appender numbers its batch under the writer lock and writes it
    /// after, and one stalled in a write holds up the log, not the numbering of what follows.
    fn write_queued(&self) -> Result<(), StoreError> {
        loop {
            let Some(mut writer) = self.inner.log_writer.try_lock() else {
                return Ok(());
            };
            let mut last_lsn = None;
            loop {
                // Left in the queue while it is written: `claim_row` reads unwritten records
                // from there.
                let Some(frame) = self.inner.write_queue.lock().front().cloned() else {
                    break;
                };
                self.write_frame(&mut writer, &frame)?;
                self.inner.write_queue.lock().pop_front();
                last_lsn = Some(frame.lsn_end);
            }
            drop(writer);
            if let Some(lsn) = last_lsn {
                if let Some(lsn) = hand_over(&self.inner.sync_queue, lsn) {
                    self.lead_group_commit(lsn)?;
                }
            }
            // A frame queued after the last look, by an appender that found the lock taken,
            // is this thread's to write.
            if self.inner.write_queue.lock().is_empty() {
                return Ok(());
            }
        }
    }

    /// Writes one frame (opening its segment first if it is the first of one) and passes its
    /// batch on to be synced. A failure poisons the store.
    fn write_frame(&self, writer: &mut LogWriter, frame: &QueuedFrame) -> Result<(), StoreError> {
        self.inner.fail_if_poisoned()?;
        if frame.opens_segment {
            let current = writer.current.clone();
            if let Err(e) = current.file.sync_data() {
                let msg = format!("fdatasync of {} failed: {e}", current.path.display());
                return Err(self.poison(msg));
            }
            let created = log::create_segment(&writer.log_dir, frame.first_row + 1);
            let segment = match created {
                Ok(segment) => Arc::new(segment),
                Err(e) => return Err(self.poison(format!("cannot start a new segment: {e}"))),
            };
            let mut segments = self.inner.segments.write();
            debug_assert_eq!(segments.len(), frame.segment_no as usize);
            segments.push(segment.clone());
            writer.current = segment;
        }
        let segment = writer.current.clone();
        if let Err(e) = (&*segment.file).write_all_ext(&frame.bytes) {
            let msg = format!("write to {} failed: {e}", segment.path.display());
            let _ = segment.file.set_len(frame.base);
            return Err(self.poison(msg));
        }
        let batch = frame.batch.lock().take();
        if let Some(batch) = batch {
            self.inner.pending.lock().push_back(Written {
                lsn_end: frame.lsn_end,
                segment,
                batch,
            });
        }
        Ok(())
    }

    /// Group commit: returns once a sync covering `lsn` has completed and its batches are
    /// published to searches.
    ///
    /// Whoever writes a run of frames hands the position after it to the sync thread, which
    /// leads a group for it unless a sync already covered it: it drains every written batch,
    /// syncs them with one `fdatasync`, and hands them to the publisher thread. Leaders only
    /// sync, so the next group's sync overlaps this group's indexing. Without the sync thread
    /// the writer leads the group itself.
    fn wait_visible_lsn(&self, lsn: u64) -> Result<(), StoreError> {
        self.wait_for_progress(|inner| inner.visible_lsn.load(Ordering::Acquire) >= lsn)
    }

    /// Syncs every written batch unless a sync covering `lsn` completed meanwhile, and hands
    /// them to the publisher. Nothing to do when none is written yet: whoever writes the frame
    /// at `lsn` asks again.
    fn lead_group_commit(&self, lsn: u64) -> Result<(), StoreError> {
        let _leader = self.inner.sync_lock.lock();
        if self.inner.synced_lsn.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        self.inner.fail_if_poisoned()?;
        let written: Vec<Written> = self.inner.pending.lock().drain(..).collect();
        let Some(last) = written.last() else {
            return Ok(());
        };
        let (segment, target) = (last.segment.clone(), last.lsn_end);
        let batches = written.into_iter().map(|w| w.batch).collect();
        if let Err(e) = segment.file.sync_data() {
            let msg = format!("fdatasync of {} failed: {e}", segment.path.display());
            return Err(self.poison(msg));
        }
        #[cfg(test)]
        tests::SYNCS_LED_HERE.with(|led| led.set(led.get() + 1));
        self.inner.synced_lsn.store(target, Ordering::Release);
        let group = SyncedGroup { target, batches };
        // Sent while `sync_lock` is held, so groups reach the publisher in sync order.
        if let Some(group) = hand_over(&self.inner.publish_queue, group) {
            self.publish_group(group);
        }
        Ok(())
    }

    /// Publishes one synced group and wakes its waiters; a failure poisons the store.
    fn publish_group(&self, group: SyncedGroup) {
        if self.inner.is_poisoned.load(Ordering::Acquire) {
            return self.notify_progress();
        }
        if let Err(e) = self.publish(group.batches) {
            self.poison(format!("indexing failed: {e}"));
            return;
        }
        let published = self.inner.index.read().rows();
        {
            let mut unpublished = self.inner.unpublished.lock();
            while unpublished
                .front()
                .is_some_and(|(first, locs)| first + locs.len() as u64 <= published)
            {
                unpublished.pop_front();
            }
        }
        self.inner
            .visible_lsn
            .store(group.target, Ordering::Release);
        self.notify_progress();
    }

    /// Stops the store taking appends, for `msg`, and wakes every waiter to learn it; returns
    /// the error to report.
    fn poison(&self, msg: String) -> StoreError {
        let error = self.inner.writer.lock().poison(&self.inner, msg);
        self.notify_progress();
        error
    }

    /// Wakes every thread waiting for visibility or a seal (or to see a poisoning).
    fn notify_progress(&self) {
        let _progress = self.inner.progress_lock.lock();
        self.inner.progress.notify_all();
    }

    /// Adds durable batches to the index, in sequence order, and hands full blocks to the
    /// sealer. Only one thread publishes at a time (the publisher thread, else the sync
    /// leader; or `open`).
    fn publish(&self, batches: Vec<PendingBatch>) -> Result<(), StoreError> {
        if batches.is_empty() {
            return Ok(());
        }
        let block_rows = self.inner.options.block_rows;
        let (mut open, mut open_rows, mut next_row) = {
            let ix = self.inner.index.read();
            (ix.open.clone(), ix.open_rows, ix.rows())
        };
        // Full blocks' chunks, merged and indexed after the dictionaries are unlocked.
        let mut to_seal: Vec<Vec<Arc<Block>>> = Vec::new();
        {
            let mut dicts = self.inner.dicts.write();
            let mut chunk = Block::new(next_row);
            for batch in &batches {
                debug_assert_eq!(batch.first_row, next_row + chunk.len() as u64);
                for (dims, location, fp) in batch.rows() {
                    chunk.push_event(&mut dicts, dims, location, batch.received_ms, fp);
                    if open_rows + chunk.len() == block_rows {
                        next_row += chunk.len() as u64;
                        open.push(Arc::new(std::mem::replace(
                            &mut chunk,
                            Block::new(next_row),
                        )));
                        to_seal.push(std::mem::take(&mut open));
                        open_rows = 0;
                    }
                }
                // A search waiting to compile its filters goes first, between two batches.
                parking_lot::RwLockWriteGuard::bump(&mut dicts);
            }
            if !chunk.is_empty() {
                open_rows += chunk.len();
                open.push(Arc::new(chunk));
            }
        }
        drop(batches);
        let mut ix = self.inner.index.write();
        ix.unsealed.extend(to_seal.iter().cloned());
        ix.open = open;
        ix.open_rows = open_rows;
        drop(ix);
        for chunks in to_seal {
            if let Some(chunks) = hand_over(&self.inner.seal_queue, chunks) {
                self.seal(chunks)?;
            }
        }
        Ok(())
    }

    /// Seals the oldest full block, whose chunks are `chunks`: merges them, builds its
    /// posting lists, persists it (with the dictionaries its codes need) and swaps it in.
    /// Searches see the same rows before and after; sealing only makes them cheaper to
    /// search, so appends never wait for it.
    fn seal(&self, chunks: Vec<Arc<Block>>) -> Result<(), StoreError> {
        let block_rows = self.inner.options.block_rows;
        let mut merged = Block::with_capacity(chunks[0].base_row, block_rows);
        for c in &chunks {
            merged.extend_from(c);
        }
        merged.build_postings();
        merged.narrow_columns();
        {
            // Copied under the read lock, written after it: the publisher waits for this lock.
            let mut blobs_saved = self.inner.blobs_saved.lock();
            let (to_save, needs) = {
                let d = self.inner.dicts.read();
                (
                    persist::DictsToSave::of(&d, *blobs_saved),
                    persist::dict_sizes(&d),
                )
            };
            *blobs_saved = persist::save_dicts(&self.inner.index_dir, &to_save)?;
            drop(blobs_saved);
            persist::save_block(&self.inner.index_dir, &merged, needs, block_rows)?;
        }
        merged.release_persisted_only();
        let sealed = Arc::new(merged);
        {
            let mut ix = self.inner.index.write();
            let oldest = ix.unsealed.pop_front();
            debug_assert!(oldest.is_some_and(|o| Arc::ptr_eq(&o[0], &chunks[0])));
            ix.sealed.push(sealed.clone());
        }
        self.notify_progress();
        self.warm(vec![sealed]);
        Ok(())
    }

    /// [`AuditStore::close`] (blocking): syncs the log and waits for every full block to be
    /// sealed and persisted, so the next open rebuilds none of them from the log.
    pub fn close_blocking(&self) -> Result<(), StoreError> {
        self.wait_sealed()?;
        self.write_queued()?;
        let writer = self.inner.log_writer.lock();
        writer
            .current
            .file
            .sync_data()
            .map_err(|e| StoreError::io(&writer.current.path, e))
    }

    /// Waits until every full block is sealed (or the store is poisoned).
    fn wait_sealed(&self) -> Result<(), StoreError> {
        self.wait_for_progress(|inner| inner.index.read().unsealed.is_empty())
    }

    /// Answers a search from one snapshot (blocking).
    ///
    /// A search that starts while no other is running spreads its blocks over the thread pool;
    /// one that starts while others run evaluates on the calling thread. The pool's threads
    /// finish the work they hold before they take new work, so a second search sent to the pool
    /// would wait for the whole of the first: under concurrent searches a small one queued
    /// behind a large one (2 search clients beside ingest, p99 64–81 ms always pooled against
    /// 56–63 ms this way, `http_load` on 10M events).
    pub fn search_blocking(&self, query: &SearchQuery) -> Result<SearchAnswer, StoreError> {
        let running = SearchRunning::enter(&self.inner.searches_running);
        self.search_with(query, running.alone)
    }

    /// Answers a search from one snapshot on the calling thread only, whatever else runs.
    pub fn search_on_this_thread_blocking(
        &self,
        query: &SearchQuery,
    ) -> Result<SearchAnswer, StoreError> {
        let _running = SearchRunning::enter(&self.inner.searches_running);
        self.search_with(query, false)
    }

    fn search_with(&self, query: &SearchQuery, parallel: bool) -> Result<SearchAnswer, StoreError> {
        let blocks = self.inner.index.read().snapshot();
        let (compiled, sizes) = {
            let d = self.inner.dicts.read();
            (Compiled::new(query, &d), DictSizes::of(&d))
        };
        let raw = index::execute(&blocks, &compiled, query, sizes, parallel);
        let facets = raw.facets(&compiled, &self.inner.dicts.read());
        let hits = self.read_rows(&blocks, &raw.page_rows)?;
        Ok(SearchAnswer {
            hits,
            count: raw.count,
            min_time_ms: raw.min_time,
            max_time_ms: raw.max_time,
            facets,
        })
    }

    fn read_record(&self, location: Location) -> Result<log::RecordBytes, StoreError> {
        let segment = self.inner.segments.read()[location.segment as usize].clone();
        log::read_record(&segment, location.offset)
    }

    fn read_row(&self, blocks: &[Arc<Block>], row: u64) -> Result<StoredEvent, StoreError> {
        let mut one = self.read_rows(blocks, &[row])?;
        one.pop()
            .ok_or_else(|| StoreError::Unavailable(format!("row {row} was not read")))
    }

    /// Reads many rows, in the given order, with one read per run of nearby records.
    /// The placement of each row and the runs (ranges of `rows`) that one read each fetches.
    fn plan_runs<'b>(
        blocks: &'b [Arc<Block>],
        rows: &[u64],
    ) -> (Vec<Placed<'b>>, Vec<Range<usize>>) {
        /// Records further apart than this are read separately rather than with the bytes between.
        const MAX_GAP: u32 = 64 << 10;
        /// One read covers at most this many bytes.
        const MAX_RUN: u32 = 4 << 20;
        let placed: Vec<Placed> = rows
            .iter()
            .map(|row| {
                let (b, r) = index::find_row(blocks, *row);
                (b, r, b.location(r))
            })
            .collect();
        let mut runs = Vec::new();
        let mut start = 0;
        while start < placed.len() {
            let first = placed[start].2;
            let mut end = start + 1;
            while end < placed.len() {
                let (prev, next) = (placed[end - 1].2, placed[end].2);
                if next.segment != first.segment
                    || next.offset <= prev.offset
                    || next.offset - prev.offset > MAX_GAP
                    || next.offset - first.offset > MAX_RUN
                {
                    break;
                }
                end += 1;
            }
            runs.push(start..end);
            start = end;
        }
        (placed, runs)
    }

    fn read_rows(
        &self,
        blocks: &[Arc<Block>],
        rows: &[u64],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let packed = self.read_rows_packed(blocks, rows)?;
        (0..packed.events.len())
            .map(|i| packed.to_stored(i))
            .collect()
    }

    /// The events of `rows` with their documents in one buffer, each verified as
    /// [`log::read_run_into`] says (by its frame's CRC-32 or its own SHA-256).
    fn read_rows_packed(
        &self,
        blocks: &[Arc<Block>],
        rows: &[u64],
    ) -> Result<PackedEvents, StoreError> {
        let (placed, runs) = Self::plan_runs(blocks, rows);
        let segments = self.inner.segments.read().clone();
        let mut out = PackedEvents {
            bytes: Vec::new(),
            events: Vec::with_capacity(rows.len()),
        };
        for run in runs {
            let run = &placed[run];
            let records: Vec<log::RunRecord> = run
                .iter()
                .map(|(b, r, location)| log::RunRecord {
                    offset: location.offset,
                    seq: b.base_row + *r as u64 + 1,
                })
                .collect();
            let found = log::read_run_into(
                &segments[run[0].2.segment as usize],
                &records,
                &mut out.bytes,
            )?;
            for (((b, r, _), record), (hash, start, end)) in run.iter().zip(&records).zip(found) {
                out.events.push(PackedEvent {
                    seq: record.seq,
                    hash,
                    received_ms: b.received_of(*r),
                    event_time_ms: b.time.get(*r as usize),
                    start,
                    end,
                });
            }
        }
        Ok(out)
    }

    /// The event with this id, if stored and durable.
    pub fn get_blocking(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let candidates = self.inner.writer.lock().dedup.candidates(fingerprint(id));
        let blocks = self.inner.index.read().snapshot();
        let visible = blocks.last().map_or(0, |b| b.base_row + b.len() as u64);
        for row in candidates.into_iter().filter(|r| (*r as u64) < visible) {
            let ev = self.read_row(&blocks, row as u64)?;
            if id_of(&ev.document).as_deref() == Some(id) {
                return Ok(Some(ev));
            }
        }
        Ok(None)
    }

    /// The row already holding `id`, if any (written, durable or not); otherwise records
    /// `new_row` as holding it, and the caller must write it there (or poison the store trying).
    /// Called under the writer lock, so no append can race it. Rows from `batch_first_row` on
    /// are the caller's batch, not yet written: ids repeated within a batch are settled before,
    /// so those rows hold other ids that merely share the fingerprint.
    ///
    /// One probe of the table in the common case, a new id: the lookup finds the free slot.
    fn claim_row(
        &self,
        w: &mut Writer,
        fp: Fingerprint,
        id: &str,
        new_row: u32,
        batch_first_row: u64,
    ) -> Result<Option<u32>, StoreError> {
        if w.dedup.try_insert_new(fp, new_row) {
            return Ok(None);
        }
        for row in w.dedup.candidates(fp) {
            if row as u64 >= batch_first_row {
                continue;
            }
            let unpublished = self
                .inner
                .unpublished
                .lock()
                .iter()
                .find(|(first, locs)| (*first..*first + locs.len() as u64).contains(&(row as u64)))
                .map(|(first, locs)| locs[(row as u64 - first) as usize]);
            let location = match unpublished {
                Some(location) => location,
                None => {
                    let blocks = self.inner.index.read().snapshot();
                    let (b, r) = index::find_row(&blocks, row as u64);
                    b.location(r)
                }
            };
            // A frame still queued is read from memory: it may not be written yet (it leaves
            // the queue only once written).
            let queued = self
                .inner
                .write_queue
                .lock()
                .iter()
                .find(|f| (f.first_row..f.first_row + f.rows).contains(&(row as u64)))
                .cloned();
            let found = match queued {
                Some(frame) => {
                    let at = location.offset as u64 - frame.base;
                    let document = log::document_in_frame(&frame.bytes, at as usize);
                    document.and_then(id_of)
                }
                None => id_of(&self.read_record(location)?.document),
            };
            if found.as_deref() == Some(id) {
                return Ok(Some(row));
            }
        }
        w.dedup.insert(fp, new_row);
        Ok(None)
    }

    /// Events after `after_seq` in sequence order (blocking).
    pub fn scan_blocking(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let blocks = self.inner.index.read().snapshot();
        let visible = blocks.last().map_or(0, |b| b.base_row + b.len() as u64);
        let rows: Vec<u64> =
            (after_seq..visible.min(after_seq.saturating_add(limit as u64))).collect();
        self.read_rows(&blocks, &rows)
    }

    /// Events matching `query`'s filters with sequence in `after_seq + 1 ..= up_to_seq`, in
    /// sequence order (blocking). See [`AuditStore::scan_matching`].
    pub fn scan_matching_blocking(
        &self,
        query: &SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (blocks, rows) = self.matching_rows(query, after_seq, up_to_seq, limit);
        self.read_rows(&blocks, &rows)
    }

    /// [`Self::scan_matching_blocking`] with the documents in one buffer.
    pub fn scan_matching_packed_blocking(
        &self,
        query: &SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<PackedEvents, StoreError> {
        let (blocks, rows) = self.matching_rows(query, after_seq, up_to_seq, limit);
        self.read_rows_packed(&blocks, &rows)
    }

    /// The index snapshot and the first `limit` rows after `after_seq`, up to `up_to_seq`,
    /// that match `query`.
    fn matching_rows(
        &self,
        query: &SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> (Vec<Arc<Block>>, Vec<u64>) {
        let blocks = self.inner.index.read().snapshot();
        let visible = blocks.last().map_or(0, |b| b.base_row + b.len() as u64);
        // Row r holds sequence r + 1: rows after_seq .. end_row are wanted.
        let end_row = up_to_seq.min(visible);
        let compiled = Compiled::new(query, &self.inner.dicts.read());
        let first = blocks.partition_point(|b| b.base_row + b.len() as u64 <= after_seq);
        let mut rows: Vec<u64> = Vec::new();
        for b in &blocks[first..] {
            let wanted = limit - rows.len();
            if b.base_row >= end_row || wanted == 0 {
                break;
            }
            let lo = after_seq.saturating_sub(b.base_row) as u32;
            let hi = (end_row - b.base_row).min(b.len() as u64) as u32;
            match b.evaluate(&compiled) {
                index::Match::None => {}
                index::Match::All => {
                    rows.extend((lo..hi).take(wanted).map(|r| b.base_row + r as u64))
                }
                index::Match::Rows(bm) => {
                    rows.extend(bm.range(lo..hi).take(wanted).map(|r| b.base_row + r as u64))
                }
            }
        }
        (blocks, rows)
    }

    /// Counts and index memory.
    pub fn stats_blocking(&self) -> StoreStats {
        let ix = self.inner.index.read();
        let rows = ix.rows();
        let blocks: usize = ix.blocks().map(|b| b.heap_bytes()).sum();
        drop(ix);
        let dedup = self.inner.writer.lock().dedup.heap_bytes();
        StoreStats {
            events: rows,
            last_seq: rows,
            index_bytes: (blocks + dedup) as u64,
        }
    }

    /// Reads and checks every record of every segment (slow; for `trail verify` and tests).
    pub fn verify_blocking(&self) -> Result<u64, StoreError> {
        let segments = self.inner.segments.read().clone();
        let mut n = 0u64;
        let last = segments.len() - 1;
        for (i, s) in segments.iter().enumerate() {
            log::scan_segment(s, i == last, 0, |b| {
                n += b.records.len() as u64;
                Ok(())
            })?;
        }
        Ok(n)
    }
}

trait WriteAllExt {
    fn write_all_ext(self, buf: &[u8]) -> std::io::Result<()>;
}

impl WriteAllExt for &File {
    fn write_all_ext(mut self, buf: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.write_all(buf)
    }
}

fn load_sealed_blocks(index_dir: &Path, dicts: &Dicts, block_rows: usize) -> Vec<Block> {
    let have = persist::dict_sizes(dicts);
    let mut n = 0u64;
    while persist::block_path(index_dir, n).exists() {
        n += 1;
    }
    let loaded: Vec<Option<Block>> = (0..n)
        .into_par_iter()
        .map(|no| {
            let (b, needs) = persist::load_block(index_dir, no)?;
            let fits = needs
                .iter()
                .zip(have.iter())
                .all(|(need, have)| need <= have)
                && b.base_row == no * block_rows as u64
                && b.len() == block_rows
                && b.time.len() == block_rows
                && codes_within(&b, needs);
            fits.then_some(b)
        })
        .collect();
    let mut out = Vec::new();
    for b in loaded {
        match b {
            Some(b) => out.push(b),
            None => break,
        }
    }
    // Anything after the first damaged block is stale: it will be rebuilt from the log.
    for no in out.len() as u64..n {
        let _ = fs::remove_file(persist::block_path(index_dir, no));
    }
    out
}

fn codes_within(b: &Block, needs: persist::DictNeeds) -> bool {
    let max_pair = |v: &[(u32, u32)]| v.iter().map(|p| p.1).max().unwrap_or(0);
    let rows_ok = |v: &[(u32, u32)]| v.iter().all(|p| (p.0 as usize) < b.len());
    b.data_source.max() <= needs[0]
        && max_pair(&b.data_source_extra) <= needs[0]
        && b.project.max() <= needs[1]
        && b.profile.max() <= needs[2]
        && b.record_type.max() <= needs[3]
        && max_pair(&b.blob) <= needs[4]
        && max_pair(&b.purpose) <= needs[5]
        && rows_ok(&b.data_source_extra)
        && rows_ok(&b.blob)
        && rows_ok(&b.purpose)
}

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn append(&self, batch: Vec<NewEvent>) -> Result<AppendReport, StoreError> {
        let s = self.clone();
        blocking(move || s.append_blocking(batch)).await
    }

    async fn append_without_visibility_wait(
        &self,
        batch: Vec<NewEvent>,
    ) -> Result<AppendReport, StoreError> {
        let s = self.clone();
        blocking(move || s.append_durable_blocking(batch)).await
    }

    async fn wait_visible(&self, seq: u64) -> Result<(), StoreError> {
        if self.inner.is_visible(seq) {
            return Ok(());
        }
        let s = self.clone();
        blocking(move || s.wait_visible_blocking(seq)).await
    }

    async fn search(&self, query: SearchQuery) -> Result<SearchAnswer, StoreError> {
        let s = self.clone();
        blocking(move || s.search_blocking(&query)).await
    }

    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let s = self.clone();
        let id = id.to_string();
        blocking(move || s.get_blocking(&id)).await
    }

    async fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.clone();
        blocking(move || s.scan_blocking(after_seq, limit)).await
    }

    async fn scan_matching(
        &self,
        query: SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let s = self.clone();
        blocking(move || s.scan_matching_blocking(&query, after_seq, up_to_seq, limit)).await
    }

    async fn scan_matching_packed(
        &self,
        query: SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<PackedEvents, StoreError> {
        let s = self.clone();
        blocking(move || s.scan_matching_packed_blocking(&query, after_seq, up_to_seq, limit)).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(self.stats_blocking())
    }

    async fn close(&self) -> Result<(), StoreError> {
        let s = self.clone();
        blocking(move || s.close_blocking()).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Log syncs this thread ran (see [`EmbeddedStore::lead_group_commit`]).
        pub(super) static SYNCS_LED_HERE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        /// Urgent appends this thread committed (see [`EmbeddedStore::commit_urgent_queue`]).
        pub(super) static URGENT_COMMITTED_HERE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }

    fn event(id: &str) -> NewEvent {
        NewEvent::parse(format!(
            r#"{{"id":"{id}","dateTime":"1000","recordType":"sqlQuery","success":true}}"#
        ))
        .unwrap()
    }

    /// Two ids whose SHA-256 share the first 8 bytes are too rare to find, so the claims are
    /// made directly with one id's fingerprint.
    #[test]
    fn ids_sharing_a_fingerprint_are_told_apart_by_the_stored_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.append_blocking(vec![event("a")]).unwrap();
        let shared = fingerprint("a");
        let mut w = store.inner.writer.lock();
        // Rows from 1 on are a batch not yet written: claimed rows there hold other ids, and
        // reading them would fail.
        let claim = |w: &mut Writer, id: &str, row: u32| store.claim_row(w, shared, id, row, 1);
        assert_eq!(claim(&mut w, "b", 1).unwrap(), None, "another id: new");
        assert_eq!(
            claim(&mut w, "a", 2).unwrap(),
            Some(0),
            "a itself: stored at row 0"
        );
        assert_eq!(claim(&mut w, "c", 2).unwrap(), None, "a third id: new");
        let mut rows = w.dedup.candidates(shared);
        rows.sort_unstable();
        assert_eq!(
            rows,
            vec![0, 1, 2],
            "every claim is recorded under the fingerprint"
        );
    }

    /// An appender may run at a lower priority than the store (the server's ingest lane); if
    /// it led a sync, every waiter behind it would wait for it to be scheduled. (An urgent
    /// appender syncs the urgent journal, not the log.)
    #[test]
    fn appenders_leave_log_syncs_to_the_sync_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        for i in 0..10 {
            let durable = store.append_durable_blocking(vec![event(&format!("d{i}"))]);
            assert_eq!(durable.unwrap().stored, 1);
            let visible = store.append_blocking(vec![event(&format!("v{i}"))]);
            assert_eq!(visible.unwrap().stored, 1);
        }
        assert_eq!(
            SYNCS_LED_HERE.with(|led| led.get()),
            0,
            "the appending thread ran no fdatasync itself"
        );
        let written = store.inner.writer.lock().lsn;
        assert_eq!(store.inner.synced_lsn.load(Ordering::Acquire), written);
        assert_eq!(store.stats_blocking().events, 20);
    }

    /// A search's record must not queue behind every bulk appender waiting for the writer
    /// lock: the lock's holder commits it, and the next holder would anyway before its own.
    #[test]
    fn the_writer_locks_holder_commits_a_queued_urgent_append_and_it_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.append_blocking(vec![event("bulk-0")]).unwrap();
        let urgent = store.with_writer(|_| {
            let s = store.clone();
            let urgent = std::thread::spawn(move || s.append_durable_blocking(vec![event("read")]));
            while !store.inner.urgent_queued.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            urgent
        });
        assert_eq!(
            URGENT_COMMITTED_HERE.with(|n| n.get()),
            1,
            "the lock's holder committed the queued append when it was done"
        );
        let report = urgent.join().unwrap().unwrap();
        assert_eq!(report.results, vec![AppendResult::Stored { seq: 2 }]);
        let bulk = store
            .append_blocking(vec![event("bulk-1"), event("read")])
            .unwrap();
        assert_eq!(
            bulk.results,
            vec![
                AppendResult::Stored { seq: 3 },
                AppendResult::Duplicate { seq: 2 }
            ]
        );
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.get_blocking("read").unwrap().map(|e| e.seq), Some(2));
        assert_eq!(store.stats_blocking().events, 3);
    }

    /// Copies a data directory as a crash would leave it: whatever its files hold now.
    fn crash_image(from: &Path) -> tempfile::TempDir {
        let to = tempfile::tempdir().unwrap();
        for sub in ["log", "index"] {
            std::fs::create_dir_all(to.path().join(sub)).unwrap();
            for entry in std::fs::read_dir(from.join(sub)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), to.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
        std::fs::copy(from.join("meta.redb"), to.path().join("meta.redb")).unwrap();
        to
    }

    /// Holds the log writer, as a write stalled in the page cache would, and appends `batch`
    /// on another thread until its frame is numbered and queued behind the stall, not written.
    fn append_behind_a_stalled_log_writer(
        store: &EmbeddedStore,
        batch: Vec<NewEvent>,
    ) -> (
        parking_lot::MutexGuard<'_, LogWriter>,
        std::thread::JoinHandle<Result<AppendReport, StoreError>>,
    ) {
        let stalled = store.inner.log_writer.lock();
        let s = store.clone();
        let appending = std::thread::spawn(move || s.append_blocking(batch));
        while store.inner.write_queue.lock().is_empty() {
            std::thread::yield_now();
        }
        (stalled, appending)
    }

    /// A write into the page cache has been seen to take 430 ms on a busy machine; a search's
    /// record numbered after it must not wait for it, and must survive a crash all the same.
    #[test]
    fn an_urgent_append_is_durable_in_the_journal_while_the_log_writer_is_stalled() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.append_blocking(vec![event("before")]).unwrap();
        let (stalled, bulk) = append_behind_a_stalled_log_writer(&store, vec![event("bulk")]);
        let report = store.append_durable_blocking(vec![event("read")]).unwrap();
        assert_eq!(report.results, vec![AppendResult::Stored { seq: 3 }]);
        assert_eq!(
            store.inner.write_queue.lock().len(),
            2,
            "neither frame reached the log"
        );
        let image = crash_image(dir.path());
        drop(stalled);
        store.write_queued().unwrap();
        assert_eq!(bulk.join().unwrap().unwrap().stored, 1);

        let recovered = EmbeddedStore::open(image.path()).unwrap();
        let read = recovered
            .get_blocking("read")
            .unwrap()
            .expect("acknowledged");
        assert_eq!(read.seq, 2, "numbered after what the log kept");
        assert_eq!(
            recovered.get_blocking("bulk").unwrap(),
            None,
            "never acknowledged"
        );
        drop(recovered);
        let reopened = EmbeddedStore::open(image.path()).unwrap();
        assert_eq!(
            reopened.stats_blocking().events,
            2,
            "recovered once, not twice"
        );
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let ids: Vec<String> = store
            .scan_blocking(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| trail_model::parse_event(&e.document).unwrap().id)
            .collect();
        assert_eq!(ids, ["before", "bulk", "read"], "the log got both in order");
    }

    /// A retried batch can arrive while the first try is numbered but not yet written: its id
    /// is then read from the frame in memory.
    #[test]
    fn an_id_numbered_but_not_yet_written_is_found_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.append_blocking(vec![event("a")]).unwrap();
        let batch = vec![event("b"), event("c")];
        let (stalled, first) = append_behind_a_stalled_log_writer(&store, batch);
        // The id table has c's fingerprint, so the id stored at its row decides, as it would
        // for two ids sharing a fingerprint.
        let retry = store.append_blocking(vec![event("c")]).unwrap();
        assert_eq!(retry.results, vec![AppendResult::Duplicate { seq: 3 }]);
        drop(stalled);
        store.write_queued().unwrap();
        assert_eq!(first.join().unwrap().unwrap().stored, 2);
        assert_eq!(store.stats_blocking().events, 3);
    }
}
