//! Trail's PostgreSQL backend: [`AuditStore`] and [`MetadataStore`](trail_store::MetadataStore) over `tokio-postgres` with a
//! `deadpool-postgres` pool, so that several stateless `trail serve` nodes can share one database.
//!
//! Why it exists: the embedded store is one process on one machine. Users who outgrow it run
//! several Trail nodes behind a load balancer over one PostgreSQL; every node then gives the same
//! answers, and keys created or revoked on one node act on all of them at once (nothing about
//! users or keys is cached in a node: every request reads the tables).
//!
//! **Sequence across nodes.** The store's contract is dense, gap-free sequence numbers in commit
//! order. A PostgreSQL `SEQUENCE` gives neither (rolled-back transactions leave holes, and
//! numbers are handed out before commit, so commit order differs). Each batch is therefore one
//! transaction that first takes `pg_advisory_xact_lock(INGEST_LOCK)`, reads `last_seq` from the
//! one-row `trail_state`, checks its ids against `trail_event_ids`, numbers the new events
//! `last_seq + 1 ..`, writes them with binary `COPY`, bumps `trail_state`, and commits, which
//! releases the lock. Batches from all nodes are thus serialised: the sequence is gap-free and
//! in commit order, and id de-duplication cannot race. The cost: ingest throughput of the whole
//! cluster is that of one writer at a time (one batch's COPY + commit round trips, fsync
//! included); searches never take the lock and are not slowed. Large batches amortise it.
//!
//! **Hash.** The same SHA-256 of the stored document bytes as the embedded store, computed here
//! and kept in `sha256`.
//!
//! **Documents.** `doc_text` keeps the exact bytes received (returned byte-identical); `doc`
//! holds the same document as `jsonb` for SQL users (it reorders keys, so it is never what Trail
//! returns). A document `jsonb` cannot represent (`\u0000` or a surrogate escape) gets `doc`
//! NULL; its text is still kept.
//!
//! **Snapshots.** A search runs all its statements (hits, count/min/max, five facets) in one
//! `REPEATABLE READ READ ONLY` transaction: one snapshot, as the trait requires.
//!
//! **Faults.** A lost or refused connection, a pool timeout, or a server shutting down becomes
//! [`StoreError::Unavailable`] (HTTP 503). The pool drops broken connections and opens new ones
//! on the next request, so a node recovers by itself when the database returns. If the
//! connection is lost during `COMMIT`, the batch may or may not have committed: the request still
//! fails (nothing is acknowledged that is not known durable), and a retry reports the events that
//! did commit as duplicates.
//!
//! **TLS.** Not implemented: connections use `NoTls`, so `sslmode=require` fails to connect.
//! Run PostgreSQL on a trusted network or through a TLS tunnel until it is added.

mod metadata;
pub mod schema;
pub mod testdb;

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{IsolationLevel, NoTls, Row};
use trail_model::query::FACET_LIMIT;
use trail_model::query::{finish_id_facet, finish_name_facet};
use trail_model::SortOrder;
use trail_model::{FacetEntry, Facets, NameCount, Outcome, SearchAnswer, SearchQuery, StoredEvent};
pub use trail_store::StoreError;
use trail_store::{AppendReport, AppendResult, AuditStore, NewEvent, StoreStats};

/// The advisory-lock key that serialises ingest batches across nodes ("trail-in").
pub const INGEST_LOCK: i64 = 0x7472_6169_6c2d_696e;

/// Pool and timeout settings.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections per node.
    pub pool_size: usize,
    /// Opening one connection (TCP + authentication).
    pub connect_timeout: Duration,
    /// Waiting for a free connection of the pool.
    pub wait_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(10),
        }
    }
}

/// A Trail store on PostgreSQL. Cheap to share: wrap it in an `Arc`.
pub struct PostgresStore {
    pool: Pool,
    /// Months known to have a partition (a cache; `CREATE ... IF NOT EXISTS` is the truth).
    months: Mutex<HashSet<schema::Month>>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Maps a driver error: connection trouble is [`StoreError::Unavailable`], anything else a
/// [`StoreError::Database`] with PostgreSQL's message.
pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let unavailable = code.starts_with("08") // connection exception
            || code.starts_with("57P") // admin/crash shutdown, cannot connect now
            || code == "53300" // too many connections
            || code == "40001" // serialization failure: retry
            || code == "40P01"; // deadlock detected: retry
        let msg = format!("PostgreSQL: {} ({code})", db.message());
        return if unavailable {
            StoreError::Unavailable(msg)
        } else {
            StoreError::Database(msg)
        };
    }
    // No SQLSTATE: the connection closed, an I/O error, or a timeout.
    let mut msg = e.to_string();
    if let Some(src) = e.source() {
        msg = format!("{msg}: {src}");
    }
    StoreError::Unavailable(format!("PostgreSQL connection: {msg}"))
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => StoreError::Unavailable(format!("PostgreSQL connection pool: {other}")),
    }
}

/// A `jsonb` parameter sent as text (binary format version 1), without re-serialising.
#[derive(Debug)]
struct JsonbText<'a>(&'a str);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_u8(1);
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
}

/// Whether `jsonb` can hold this document: it refuses `\u0000` and surrogate escapes (which
/// JSON text and Trail accept). Conservative: any such escape sends the document to `doc` NULL.
fn jsonb_accepts(doc: &str) -> bool {
    let b = doc.as_bytes();
    let mut i = 0;
    while i + 6 <= b.len() {
        if b[i] == b'\\' && b[i + 1] == b'u' {
            let hex = std::str::from_utf8(&b[i + 2..i + 6]).ok();
            if let Some(cp) = hex.and_then(|h| u16::from_str_radix(h, 16).ok()) {
                if cp == 0 || (0xD800..=0xDFFF).contains(&cp) {
                    return false;
                }
            }
            i += 2;
        } else if b[i] == b'\\' {
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// The columns of one stored row, in `COPY` order.
const EVENT_COLUMNS: &str = "seq, event_time_ms, received_ms, data_source_ids, project_id, \
     profile_id, record_type, outcome, blob_id, purpose_ids, sha256, doc_text, doc";
const EVENT_TYPES: [Type; 13] = [
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::INT8_ARRAY,
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::INT2,
    Type::TEXT,
    Type::INT8_ARRAY,
    Type::BYTEA,
    Type::TEXT,
    Type::JSONB,
];
/// What a read returns, for [`stored_event`].
const READ_COLUMNS: &str = "e.seq, e.sha256, e.received_ms, e.event_time_ms, e.doc_text";

fn stored_event(r: &Row) -> Result<StoredEvent, StoreError> {
    let hash: &[u8] = r.get(1);
    let hash: [u8; 32] = hash.try_into().map_err(|_| {
        StoreError::Database("a stored sha256 is not 32 bytes: the table was altered".into())
    })?;
    Ok(StoredEvent {
        seq: r.get::<_, i64>(0) as u64,
        hash,
        received_ms: r.get(2),
        event_time_ms: r.get(3),
        document: r.get(4),
    })
}

type Param = Box<dyn ToSql + Sync + Send>;

/// A query's filters as a SQL `WHERE` clause over `trail_events e` and its parameters.
struct Filter {
    clauses: Vec<String>,
    params: Vec<Param>,
    /// Parameter number of the scope list, for the data-source facet.
    scope_param: Option<usize>,
}

impl Filter {
    fn new(q: &SearchQuery) -> Filter {
        let mut f = Filter {
            clauses: Vec::new(),
            params: Vec::new(),
            scope_param: None,
        };
        if !q.data_source_ids.is_empty() {
            f.push(
                "e.data_source_ids && $?::bigint[]",
                q.data_source_ids.clone(),
            );
        }
        if let Some(scope) = &q.scope {
            f.push("e.data_source_ids && $?::bigint[]", scope.clone());
            f.scope_param = Some(f.params.len());
        }
        if !q.project_ids.is_empty() {
            f.push("e.project_id = ANY($?::bigint[])", q.project_ids.clone());
        }
        if !q.profile_ids.is_empty() {
            f.push("e.profile_id = ANY($?::bigint[])", q.profile_ids.clone());
        }
        if !q.record_types.is_empty() {
            f.push("e.record_type = ANY($?::text[])", q.record_types.clone());
        }
        if !q.outcomes.is_empty() {
            let codes: Vec<i16> = q.outcomes.iter().map(|o| o.code() as i16).collect();
            f.push("e.outcome = ANY($?::smallint[])", codes);
        }
        if let Some(t) = q.min_time_ms {
            f.push("e.event_time_ms >= $?::bigint", t);
        }
        if let Some(t) = q.max_time_ms {
            f.push("e.event_time_ms <= $?::bigint", t);
        }
        if let Some(b) = &q.blob_id {
            f.push("e.blob_id = $?::text", b.clone());
        }
        if let Some(p) = q.purpose {
            f.push("e.purpose_ids @> ARRAY[$?::bigint]", p);
        }
        f
    }

    fn push(&mut self, clause: &str, value: impl ToSql + Sync + Send + 'static) {
        self.params.push(Box::new(value));
        self.clauses
            .push(clause.replace("$?", &format!("${}", self.params.len())));
    }

    /// `WHERE ...` (or nothing), with `extra` conditions appended.
    fn where_sql(&self, extra: &[String]) -> String {
        let all: Vec<&str> = self
            .clauses
            .iter()
            .chain(extra)
            .map(String::as_str)
            .collect();
        if all.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", all.join(" AND "))
        }
    }

    fn refs<'a>(&'a self, extra: &'a [Param]) -> Vec<&'a (dyn ToSql + Sync)> {
        self.params
            .iter()
            .chain(extra)
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// The number the next extra parameter gets.
    fn next(&self, k: usize) -> String {
        format!("${}", self.params.len() + k)
    }
}

impl PostgresStore {
    /// Connects with default options, migrates the schema, and creates the partitions ahead.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// Connects, migrates the schema (refusing a newer one), and creates the partitions of the
    /// current and next [`schema::MONTHS_AHEAD`] months.
    pub async fn connect_with(url: &str, opts: PgOptions) -> Result<PostgresStore, StoreError> {
        let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot read the PostgreSQL URL (expected postgres://user:password@host:port/database): {e}"
            ))
        })?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(opts.connect_timeout);
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("trail");
        }
        cfg.keepalives(true);
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(opts.pool_size.max(1))
            .wait_timeout(Some(opts.wait_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .recycle_timeout(Some(opts.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Invalid(format!("PostgreSQL pool: {e}")))?;
        let store = PostgresStore {
            pool,
            months: Mutex::new(HashSet::new()),
        };
        let mut client = store.pool.get().await.map_err(pool_err)?;
        schema::migrate(&mut client).await?;
        let now = schema::month_of(now_ms()).unwrap_or(0);
        let ahead: Vec<schema::Month> = (now..=now + schema::MONTHS_AHEAD).collect();
        store.ensure_partitions(&mut client, &ahead).await?;
        let existing = schema::existing_months(&client).await?;
        store.cache_months(existing);
        Ok(store)
    }

    fn cache_months(&self, months: impl IntoIterator<Item = schema::Month>) {
        if let Ok(mut m) = self.months.lock() {
            m.extend(months);
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Creates the partitions among `months` not known to exist, under the ingest lock.
    async fn ensure_partitions(
        &self,
        client: &mut deadpool_postgres::Object,
        months: &[schema::Month],
    ) -> Result<(), StoreError> {
        let missing: Vec<schema::Month> = match self.months.lock() {
            Ok(known) => months
                .iter()
                .filter(|m| !known.contains(m))
                .copied()
                .collect(),
            Err(_) => months.to_vec(),
        };
        if missing.is_empty() {
            return Ok(());
        }
        let tx = client.transaction().await.map_err(db_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INGEST_LOCK])
            .await
            .map_err(db_err)?;
        schema::create_partitions(&tx, &missing).await?;
        tx.commit().await.map_err(db_err)?;
        self.cache_months(missing);
        Ok(())
    }

    /// Closes the pool.
    pub fn close_pool(&self) {
        self.pool.close();
    }
}

/// Deduplicates and sorts an event's data sources for the array column (filters and the facet
/// count an event once per source).
fn source_ids(e: &NewEvent) -> Vec<i64> {
    let mut ids: Vec<i64> = e.dims.data_sources.iter().map(|n| n.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append(&self, batch: Vec<NewEvent>) -> Result<AppendReport, StoreError> {
        let mut report = AppendReport {
            results: Vec::with_capacity(batch.len()),
            ..Default::default()
        };
        if batch.is_empty() {
            return Ok(report);
        }
        let received_ms = now_ms();
        let mut client = self.client().await?;
        let mut months: Vec<schema::Month> = batch
            .iter()
            .filter_map(|e| schema::month_of(e.dims.event_time_ms))
            .collect();
        months.sort_unstable();
        months.dedup();
        self.ensure_partitions(&mut client, &months).await?;

        let tx = client.transaction().await.map_err(db_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INGEST_LOCK])
            .await
            .map_err(db_err)?;
        let ids: Vec<&str> = batch.iter().map(|e| e.dims.id.as_str()).collect();
        let existing: HashMap<String, i64> = tx
            .query(
                "SELECT id, seq FROM trail_event_ids WHERE id = ANY($1::text[])",
                &[&ids],
            )
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let last_seq: i64 = tx
            .query_one("SELECT last_seq FROM trail_state", &[])
            .await
            .map_err(db_err)?
            .get(0);
        let mut in_batch: HashMap<&str, i64> = HashMap::new();
        let mut to_store: Vec<(i64, &NewEvent)> = Vec::new();
        for e in &batch {
            let id = e.dims.id.as_str();
            if let Some(seq) = in_batch.get(id).or_else(|| existing.get(id)) {
                report
                    .results
                    .push(AppendResult::Duplicate { seq: *seq as u64 });
                report.duplicates += 1;
            } else {
                let seq = last_seq + 1 + to_store.len() as i64;
                in_batch.insert(id, seq);
                report
                    .results
                    .push(AppendResult::Stored { seq: seq as u64 });
                report.stored += 1;
                to_store.push((seq, e));
            }
        }
        if to_store.is_empty() {
            tx.rollback().await.map_err(db_err)?;
            return Ok(report);
        }

        let sink = tx
            .copy_in(&format!(
                "COPY trail_events ({EVENT_COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(db_err)?;
        let writer = BinaryCopyInWriter::new(sink, &EVENT_TYPES);
        let mut writer = std::pin::pin!(writer);
        let hashes = {
            let docs: Vec<&[u8]> = to_store
                .iter()
                .map(|(_, e)| e.document.as_bytes())
                .collect();
            trail_store::event_hash::sha256_many(&docs)
        };
        for ((seq, e), hash) in to_store.iter().zip(&hashes) {
            let d = &e.dims;
            let outcome = d.outcome.code() as i16;
            let jsonb = jsonb_accepts(&e.document).then(|| JsonbText(&e.document));
            writer
                .as_mut()
                .write(&[
                    seq,
                    &d.event_time_ms,
                    &received_ms,
                    &source_ids(e),
                    &d.project.as_ref().map(|p| p.id),
                    &d.profile_id,
                    &d.record_type,
                    &outcome,
                    &d.blob_id,
                    &d.purpose_ids,
                    &hash.as_slice(),
                    &e.document,
                    &jsonb,
                ])
                .await
                .map_err(db_err)?;
        }
        writer.finish().await.map_err(db_err)?;

        let sink = tx
            .copy_in("COPY trail_event_ids (id, seq) FROM STDIN (FORMAT binary)")
            .await
            .map_err(db_err)?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::INT8]);
        let mut writer = std::pin::pin!(writer);
        for (seq, e) in &to_store {
            writer
                .as_mut()
                .write(&[&e.dims.id, seq])
                .await
                .map_err(db_err)?;
        }
        writer.finish().await.map_err(db_err)?;

        // Latest names: the last name given in commit order wins; events without one keep it.
        let mut names: HashMap<(i16, i64), &str> = HashMap::new();
        for (_, e) in &to_store {
            let d = &e.dims;
            for n in &d.data_sources {
                if let Some(name) = &n.name {
                    names.insert((0, n.id), name);
                }
            }
            if let Some(p) = &d.project {
                if let Some(name) = &p.name {
                    names.insert((1, p.id), name);
                }
            }
            if let (Some(p), Some(u)) = (d.profile_id, &d.user_id) {
                names.insert((2, p), u);
            }
        }
        if !names.is_empty() {
            let (mut kinds, mut nids, mut texts) = (Vec::new(), Vec::new(), Vec::new());
            for ((k, id), n) in names {
                kinds.push(k);
                nids.push(id);
                texts.push(n);
            }
            tx.execute(
                "INSERT INTO trail_names (kind, id, name) \
                 SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::text[]) \
                 ON CONFLICT (kind, id) DO UPDATE SET name = EXCLUDED.name \
                 WHERE trail_names.name IS DISTINCT FROM EXCLUDED.name",
                &[&kinds, &nids, &texts],
            )
            .await
            .map_err(db_err)?;
        }
        let new_last = last_seq + to_store.len() as i64;
        tx.execute("UPDATE trail_state SET last_seq = $1", &[&new_last])
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(report)
    }

    async fn search(&self, q: SearchQuery) -> Result<SearchAnswer, StoreError> {
        let f = Filter::new(&q);
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_err)?;
        let dir = match q.sort_order {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        };
        let page: [Param; 2] = [
            Box::new(i64::try_from(q.offset).unwrap_or(i64::MAX)),
            Box::new(i64::try_from(q.size).unwrap_or(i64::MAX)),
        ];
        let hits_sql = format!(
            "SELECT {READ_COLUMNS} FROM trail_events e {} \
             ORDER BY e.event_time_ms {dir}, e.seq {dir} OFFSET {}::bigint LIMIT {}::bigint",
            f.where_sql(&[]),
            f.next(1),
            f.next(2)
        );
        let hits_params = f.refs(&page);
        // One scan for count, min/max and four facets (grouping sets); the whole group list
        // comes back and is cut to the top 25 here, by the model's own order functions.
        let groups_sql = format!(
            "SELECT GROUPING(e.project_id, e.profile_id, e.record_type, e.outcome), \
             e.project_id, e.profile_id, e.record_type, e.outcome, count(*), \
             min(e.event_time_ms), max(e.event_time_ms) FROM trail_events e {} \
             GROUP BY GROUPING SETS ((e.project_id), (e.profile_id), (e.record_type), \
             (e.outcome), ())",
            f.where_sql(&[])
        );
        let scope_cond: Vec<String> = f
            .scope_param
            .map(|p| format!("d = ANY(${p}::bigint[])"))
            .into_iter()
            .collect();
        let ds_sql = format!(
            "SELECT f.id, n.name, f.c FROM (SELECT d AS id, count(*) AS c FROM trail_events e \
             CROSS JOIN LATERAL unnest(e.data_source_ids) AS d {} GROUP BY d \
             ORDER BY c DESC, d ASC LIMIT {FACET_LIMIT}) f \
             LEFT JOIN trail_names n ON n.kind = 0 AND n.id = f.id",
            f.where_sql(&scope_cond)
        );
        let params = f.refs(&[]);
        // Pipelined on one connection, all inside the one snapshot of `tx`.
        let (hits, groups, ds) = tokio::try_join!(
            tx.query(hits_sql.as_str(), &hits_params),
            tx.query(groups_sql.as_str(), &params),
            tx.query(ds_sql.as_str(), &params),
        )
        .map_err(db_err)?;

        let (mut count, mut min_time_ms, mut max_time_ms) = (0, None, None);
        let (mut projects, mut users, mut record_types, mut outcomes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &groups {
            // GROUPING's bit is 0 for the column the row is grouped by (first column = 8).
            let g: i32 = r.get(0);
            let n = r.get::<_, i64>(5) as u64;
            match g {
                0b0111 => {
                    if let Some(id) = r.get::<_, Option<i64>>(1) {
                        projects.push(FacetEntry {
                            id,
                            name: None,
                            count: n,
                        });
                    }
                }
                0b1011 => {
                    if let Some(id) = r.get::<_, Option<i64>>(2) {
                        users.push(FacetEntry {
                            id,
                            name: None,
                            count: n,
                        });
                    }
                }
                0b1101 => record_types.push(NameCount {
                    name: r.get(3),
                    count: n,
                }),
                0b1110 => {
                    let code: i16 = r.get(4);
                    if let Some(o) = Outcome::from_code(code as u8) {
                        outcomes.push(NameCount {
                            name: o.as_str().to_string(),
                            count: n,
                        });
                    }
                }
                0b1111 => {
                    count = n;
                    min_time_ms = r.get(6);
                    max_time_ms = r.get(7);
                }
                _ => {}
            }
        }
        let mut projects = finish_id_facet(projects);
        let mut users = finish_id_facet(users);
        // Latest names of the listed projects and users, from the same snapshot.
        let pj_ids: Vec<i64> = projects.iter().map(|e| e.id).collect();
        let us_ids: Vec<i64> = users.iter().map(|e| e.id).collect();
        if !pj_ids.is_empty() || !us_ids.is_empty() {
            let names = tx
                .query(
                    "SELECT kind, id, name FROM trail_names \
                     WHERE (kind = 1 AND id = ANY($1::bigint[])) \
                     OR (kind = 2 AND id = ANY($2::bigint[]))",
                    &[&pj_ids, &us_ids],
                )
                .await
                .map_err(db_err)?;
            let names: HashMap<(i16, i64), String> = names
                .iter()
                .map(|r| ((r.get(0), r.get(1)), r.get(2)))
                .collect();
            for (kind, list) in [(1i16, &mut projects), (2, &mut users)] {
                for e in list.iter_mut() {
                    e.name = names.get(&(kind, e.id)).cloned();
                }
            }
        }
        tx.commit().await.map_err(db_err)?;

        let facets = Facets {
            datasources: finish_id_facet(
                ds.iter()
                    .map(|r| FacetEntry {
                        id: r.get(0),
                        name: r.get(1),
                        count: r.get::<_, i64>(2) as u64,
                    })
                    .collect(),
            ),
            projects,
            users,
            record_types: finish_name_facet(record_types),
            outcomes: finish_name_facet(outcomes),
        };
        Ok(SearchAnswer {
            hits: hits.iter().map(stored_event).collect::<Result<_, _>>()?,
            count,
            min_time_ms,
            max_time_ms,
            facets,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {READ_COLUMNS} FROM trail_event_ids i \
                     JOIN trail_events e ON e.seq = i.seq WHERE i.id = $1"
                ),
                &[&id],
            )
            .await
            .map_err(db_err)?;
        row.as_ref().map(stored_event).transpose()
    }

    async fn scan(&self, after_seq: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.scan_matching(SearchQuery::new(), after_seq, u64::MAX, limit)
            .await
    }

    async fn scan_matching(
        &self,
        query: SearchQuery,
        after_seq: u64,
        up_to_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let f = Filter::new(&query);
        let extra: [Param; 3] = [
            Box::new(i64::try_from(after_seq).unwrap_or(i64::MAX)),
            Box::new(i64::try_from(up_to_seq).unwrap_or(i64::MAX)),
            Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
        ];
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM trail_events e {} ORDER BY e.seq LIMIT {}::bigint",
            f.where_sql(&[
                format!("e.seq > {}::bigint", f.next(1)),
                format!("e.seq <= {}::bigint", f.next(2)),
            ]),
            f.next(3)
        );
        let client = self.client().await?;
        let rows = client
            .query(sql.as_str(), &f.refs(&extra))
            .await
            .map_err(db_err)?;
        rows.iter().map(stored_event).collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let client = self.client().await?;
        let last: i64 = client
            .query_one("SELECT last_seq FROM trail_state", &[])
            .await
            .map_err(db_err)?
            .get(0);
        Ok(StoreStats {
            events: last as u64,
            last_seq: last as u64,
            index_bytes: 0,
        })
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.pool.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonb_refuses_nul_and_surrogate_escapes_only() {
        assert!(jsonb_accepts(r#"{"a":"\u00e9\n"}"#));
        assert!(jsonb_accepts(r#"{"a":"\\u0000"}"#), "an escaped backslash");
        assert!(!jsonb_accepts(r#"{"a":"\u0000"}"#));
        assert!(!jsonb_accepts(r#"{"a":"\ud83d\ude00"}"#));
    }
}
