//! Trail's storage layer: the [`AuditStore`] and [`MetadataStore`] traits every backend implements,
//! and the embedded backend (a checksummed segment log plus a columnar/bitmap index, with users
//! and keys in `redb`).
//!
//! Architecture invariant: nothing here knows HTTP. The server talks to `dyn AuditStore` and
//! `dyn MetadataStore` only, so the PostgreSQL backend can stand in for the embedded one.

pub mod embedded;
pub mod error;
pub mod event_hash;
pub mod metadata;

use async_trait::async_trait;
pub use error::StoreError;
pub use metadata::{ApiKeyInfo, MetadataStore, NewUser, Permission, User};
use trail_model::{Dimensions, EventError, SearchAnswer, SearchQuery, StoredEvent};

/// Stored events whose documents lie in one buffer (see [`AuditStore::scan_matching_packed`]).
/// Two packs of the same events may differ in their buffers (a backend may leave other bytes
/// between documents), so compare them event by event, through [`Self::document`].
#[derive(Clone, Debug, Default)]
pub struct PackedEvents {
    /// The documents' stored bytes: event `i`'s are `bytes[events[i].start..events[i].end]`,
    /// in sequence order, possibly with other bytes between them.
    pub bytes: Vec<u8>,
    /// One entry per event, in sequence order.
    pub events: Vec<PackedEvent>,
}

/// One event of [`PackedEvents`]: [`StoredEvent`] with its document as a range of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedEvent {
    pub seq: u64,
    pub hash: [u8; 32],
    pub received_ms: i64,
    pub event_time_ms: i64,
    pub start: usize,
    pub end: usize,
}

impl PackedEvents {
    /// Packs owned events.
    pub fn from_events(events: &[StoredEvent]) -> PackedEvents {
        let mut packed = PackedEvents {
            bytes: Vec::with_capacity(events.iter().map(|e| e.document.len()).sum()),
            events: Vec::with_capacity(events.len()),
        };
        for e in events {
            let start = packed.bytes.len();
            packed.bytes.extend_from_slice(e.document.as_bytes());
            packed.events.push(PackedEvent {
                seq: e.seq,
                hash: e.hash,
                received_ms: e.received_ms,
                event_time_ms: e.event_time_ms,
                start,
                end: packed.bytes.len(),
            });
        }
        packed
    }

    /// The stored bytes of event `i`.
    pub fn document(&self, i: usize) -> &[u8] {
        let e = &self.events[i];
        &self.bytes[e.start..e.end]
    }

    /// Event `i` as an owned [`StoredEvent`] (its document checked to be UTF-8).
    pub fn to_stored(&self, i: usize) -> Result<StoredEvent, StoreError> {
        let e = &self.events[i];
        let document = std::str::from_utf8(self.document(i))
            .map_err(|_| StoreError::Database(format!("stored event seq {} is not UTF-8", e.seq)))?
            .to_string();
        Ok(StoredEvent {
            seq: e.seq,
            hash: e.hash,
            received_ms: e.received_ms,
            event_time_ms: e.event_time_ms,
            document,
        })
    }
}

/// An event ready to append: its document exactly as received, and the dimensions derived from it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub document: String,
    pub dims: Dimensions,
}

impl NewEvent {
    /// Validates one document and derives its dimensions.
    pub fn parse(document: impl Into<String>) -> Result<NewEvent, EventError> {
        let document = document.into();
        let dims = trail_model::parse_event(&document)?;
        Ok(NewEvent { document, dims })
    }
}

/// What became of one event of an appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendResult {
    /// Stored under this new sequence number.
    Stored { seq: u64 },
    /// An event with the same `id` was already stored (under this sequence number); nothing
    /// was written for it.
    Duplicate { seq: u64 },
}

impl AppendResult {
    /// The new sequence number, if this event was stored (not a duplicate).
    pub fn stored_seq(&self) -> Option<u64> {
        match self {
            AppendResult::Stored { seq } => Some(*seq),
            AppendResult::Duplicate { .. } => None,
        }
    }
}

/// The outcome of one [`AuditStore::append`], returned only once the batch is durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendReport {
    pub stored: u64,
    pub duplicates: u64,
    /// One entry per input event, in input order.
    pub results: Vec<AppendResult>,
}

impl AppendReport {
    /// The sequence numbers of the events this append stored (not its duplicates), in input
    /// order.
    pub fn stored_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.results.iter().filter_map(AppendResult::stored_seq)
    }
}

/// Size and shape of a store, for `/readyz`, benchmarks and operators.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub events: u64,
    /// Highest sequence number committed (0 when empty).
    pub last_seq: u64,
    /// Bytes of index structures held in memory (estimate).
    pub index_bytes: u64,
}

/// The audit event store.
///
/// Semantics every backend honours:
/// - **Durability**: `append` returns only after every stored event of the batch is durable
///   (fsync'd, or committed in PostgreSQL). An acknowledged event survives any crash.
/// - **Atomicity**: a batch is stored whole or not at all.
/// - **Idempotence**: an event whose `id` is already stored (or appears earlier in the same batch)
///   is reported as [`AppendResult::Duplicate`] and not stored again, across restarts.
/// - **Sequence**: stored events get dense sequence numbers 1, 2, 3, ... in commit order, and a
///   SHA-256 hash of their stored document bytes.
/// - **Snapshots**: every part of one `search` answer (hits, count, min/max, facets) comes from
///   the same committed prefix of the log; a concurrent append is either wholly in it or not.
/// - **Search order**: see [`trail_model::query`] for filters, sort, tie order and facets.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends a batch atomically and durably; when it returns, searches see the batch.
    async fn append(&self, batch: Vec<NewEvent>) -> Result<AppendReport, StoreError>;
    /// [`AuditStore::append`] that may return before searches see the batch: it is durable
    /// and atomic all the same, and becomes visible, in sequence order, moments later.
    ///
    /// For small writes nobody reads back at once, made while someone waits: Trail's records
    /// of its own searches. The embedded store commits them ahead of the bulk appends waiting
    /// for its writer lock and syncs them at once, without waiting for indexing. A backend
    /// whose commit makes a write visible anyway (PostgreSQL) keeps this default.
    async fn append_without_visibility_wait(
        &self,
        batch: Vec<NewEvent>,
    ) -> Result<AppendReport, StoreError> {
        self.append(batch).await
    }
    /// Returns once the events up to sequence number `seq` are visible to searches; for a
    /// reader that must see what it appended with [`AuditStore::append_without_visibility_wait`].
    async fn wait_visible(&self, seq: u64) -> Result<(), StoreError> {
        let _ = seq;
        Ok(())
    }
    /// Answers an audit search from one snapshot.
    async fn search(&self, query: SearchQuery) -> Result<SearchAnswer, StoreError>;
    /// The stored event with this `id`, if any.
    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError>;
    /// Up to `limit` events with sequence numbers greater than `after_seq`, in sequence order.
    async fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// Up to `limit` events matching `query`'s filters and scope (its sort, offset and size are
    /// ignored), with sequence numbers in `after_seq + 1 ..= up_to_seq`, in sequence order.
    ///
    /// This is the cursor behind exports and native pagination: fix `up_to_seq` to
    /// [`StoreStats::last_seq`] once, then call again with the last returned `seq` as `after_seq`
    /// until fewer than `limit` come back. The pages concatenate to exactly the matching set of
    /// that prefix of the log, whatever is appended meanwhile.
    async fn scan_matching(
        &self,
        query: SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// [`AuditStore::scan_matching`] with the documents packed into one buffer: the same
    /// events, in the same order, with the same guarantees. Bulk readers (the export) use it to
    /// avoid one allocation per event; a backend without a cheaper way packs what
    /// `scan_matching` returns.
    async fn scan_matching_packed(
        &self,
        query: SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<PackedEvents, StoreError> {
        let events = self
            .scan_matching(query, after_seq, up_to_seq, limit)
            .await?;
        Ok(PackedEvents::from_events(&events))
    }
    /// Counts and sizes.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Makes everything written so far durable and releases resources that need it.
    async fn close(&self) -> Result<(), StoreError>;
}
