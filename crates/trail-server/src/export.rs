//! `GET /v1/export`: every event matching the `GET /audit` filters, streamed in sequence order,
//! with flat memory whatever the size, resumable, and ending with a trailer that makes a
//! truncated file detectable. This is how an audit trail gets out of Trail whole (issue 6).
//!
//! How it works: the snapshot bound `upTo` is fixed when the request arrives (default: the last
//! committed sequence number), then a producer on a blocking thread pulls the matching events
//! through [`AuditStore::scan_matching_packed`] in chunks of [`CHUNK_EVENTS`] (the next chunk is
//! fetched while the current one is rendered), renders them, optionally gzips them, and hands
//! the bytes to the response body through a channel of a few chunks. Events appended during the
//! export are after `upTo` and not part of it, so a resumed export sees exactly the same set.
//!
//! Formats (`format`): `ndjson` (default; one document per line), `json` (the seed's
//! `{"hits":[...]}` shape), `csv`. Forms (`form`): `original` (default; each document byte for
//! byte as stored; in NDJSON a stored document that contains a line break is written compacted,
//! the only exception), `legacy` (the 14-field hit of `GET /audit`), `uam` (UAM events as
//! stored, legacy records converted, see `uam_form`). CSV
//! columns are the 14 legacy fields for `form=legacy`, else `seq,eventTime,document`.
//!
//! The trailer: `{"trailExport":{"events":N,"lastSeq":S,"upTo":U,"sha256":H}}` as the last NDJSON
//! line, the last member of the JSON document, or `# trailExport events=N lastSeq=S upTo=U
//! sha256=H` as the last CSV line. `events` counts the exported events, `lastSeq` is the sequence
//! number of the last one (or `after` when none), and `sha256` is a hash chain over the stored
//! events' SHA-256 (`StoredEvent::hash`, the hash of the stored bytes whatever the form): the
//! SHA-256 of their concatenated digests, see [`crate::export_chain`]. An error in the middle of the
//! stream ends it WITHOUT a trailer (the connection is closed abnormally; framed: after an `X`
//! frame), so a file without a
//! trailer is known to be incomplete.
//!
//! Resume: `after=S&upTo=U&count=N&chain=T` continues an export whose first N events ended at
//! sequence S with chain token T (a checkpoint's, see [`ExportChain::token`]): the response is exactly the rest of the uninterrupted one (no
//! format prefix, a JSON comma where one is due), so the concatenation is byte-identical and ends
//! with the same trailer. `after` alone starts a fresh export after S.
//!
//! Knowing where a partial download stopped: a plain file holds documents, not sequence numbers,
//! so `trail download` asks for `frame=true`, a framing of the same bytes (documented on
//! `Framer`) that adds checkpoints `(seq, count, chain)` after each chunk. The client writes
//! the payload bytes to its file and, once they are flushed, the last checkpoint to a sidecar
//! file; a resume truncates the file to the checkpoint and continues from it.
//!
//! Compression: `gzip=true` makes the body itself a gzip file (`Content-Type: application/gzip`,
//! what `curl -o export.ndjson.gz` wants); otherwise `Accept-Encoding: gzip` compresses the
//! transfer (`Content-Encoding: gzip`, undone by the client).
//!
//! Response headers, for progress and resume: `Trail-Export-Up-To`, `Trail-Export-After`, and
//! `Trail-Export-Matching`: how many events match the filters, counted over the whole log when
//! the request arrived (an estimate for progress bars: it ignores `after`/`upTo`).

use std::borrow::Cow;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use trail_model::timefmt::format_iso_ms;
use trail_model::{EventForm, LegacyHit, SearchQuery, StoredEvent};
use trail_store::{AuditStore, PackedEvents};
use utoipa::IntoParams;

use crate::audit::{query_draft, scope_of};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::export_chain::ExportChain;
use crate::params::{self, parse_audit_query};
use crate::SharedState;

/// Events fetched from the store per `scan_matching` call.
pub const CHUNK_EVENTS: usize = 8192;
/// Rendered chunks buffered between the producer and the connection.
const CHANNEL_CHUNKS: usize = 4;
const ENDPOINT: &str = "/v1/export";

/// `GET /audit` parameters refused here: an export is the whole matching set in sequence order.
const NOT_APPLICABLE: [&str; 4] = ["offset", "size", "sortField", "sortOrder"];
/// The export's own parameters.
const EXPORT_PARAMETERS: [&str; 8] = [
    "format", "form", "gzip", "after", "upTo", "count", "chain", "frame",
];

/// Response headers.
pub const HEADER_UP_TO: &str = "trail-export-up-to";
pub const HEADER_AFTER: &str = "trail-export-after";
pub const HEADER_MATCHING: &str = "trail-export-matching";

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Json,
    Csv,
}

/// Form of each exported event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Original,
    Legacy,
    Uam,
}

/// A parsed export request.
#[derive(Clone, Debug)]
struct ExportRequest {
    query: SearchQuery,
    format: Format,
    form: Form,
    gzip: bool,
    framed: bool,
    after: u64,
    up_to: Option<u64>,
    /// A continuation: events already exported and their chain value.
    resume: Option<ExportChain>,
}

/// Documentation of `GET /v1/export`'s query parameters (parsed by hand, like `GET /audit`'s).
/// `offset`, `size`, `sortField` and `sortOrder` are refused with 400.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExportParams {
    /// Events of these data sources (array of integers; repeat or comma list).
    #[param(rename = "dataSourceId", style = Form, explode)]
    data_source_id: Option<Vec<i64>>,
    /// Events of these projects.
    #[param(rename = "projectId", style = Form, explode)]
    project_id: Option<Vec<i64>>,
    /// Events of these users (profile ids).
    #[param(rename = "profileId", style = Form, explode)]
    profile_id: Option<Vec<i64>>,
    /// Events of these legacy record types.
    #[param(rename = "recordType", style = Form, explode)]
    record_type: Option<Vec<String>>,
    /// Events with these outcomes.
    #[param(style = Form, explode)]
    outcome: Option<Vec<String>>,
    /// Oldest event time, inclusive (as in `GET /audit`).
    #[param(rename = "minDate")]
    min_date: Option<String>,
    /// Newest event time, inclusive; a date means the end of that day.
    #[param(rename = "maxDate")]
    max_date: Option<String>,
    /// Events of this blob.
    #[param(rename = "blobId")]
    blob_id: Option<String>,
    /// Events whose purposeIds contain this purpose id.
    purpose: Option<i64>,
    /// `ndjson` (default), `json` (`{"hits":[...]}`) or `csv`.
    #[param(default = "ndjson")]
    format: Option<String>,
    /// `original` (default: documents as stored), `legacy` (the 14-field hit of GET /audit) or
    /// `uam` (UAM events as stored; legacy records converted to UAM, see docs/events.md).
    #[param(default = "original")]
    form: Option<String>,
    /// `true`: the body is a gzip file (`application/gzip`).
    #[param(default = false)]
    gzip: Option<bool>,
    /// Export only events with a sequence number above this (resume cursor).
    #[param(minimum = 0, default = 0)]
    after: Option<u64>,
    /// Snapshot bound: export only events up to this sequence number. Default: the last
    /// committed one when the request arrives (returned in `Trail-Export-Up-To`).
    #[param(rename = "upTo", minimum = 0)]
    up_to: Option<u64>,
    /// Continuation: events already exported by the interrupted download (with `after` and
    /// `chain`); the response then omits the format prefix and ends with the same trailer as
    /// an uninterrupted export.
    #[param(minimum = 0)]
    count: Option<u64>,
    /// Continuation: the chain token of the last checkpoint (64 or 128 hex digits).
    chain: Option<String>,
    /// `true`: the framing `trail download` uses, with checkpoints (see the module docs).
    #[param(default = false)]
    frame: Option<bool>,
}

/// Streams every matching event (see the module documentation for formats, trailer and resume).
#[utoipa::path(get, path = "/v1/export", tag = "audit", params(ExportParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The events, then the trailer. Headers Trail-Export-Up-To, Trail-Export-After and Trail-Export-Matching give the snapshot bound, the cursor and the matching count (estimate).",
            content(("application/x-ndjson"), ("application/json"), ("text/csv"), ("application/gzip"))),
        (status = 400, description = "Unknown parameter or bad value; `parameter` names it", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Neither AUDIT nor ownership of a data source", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
pub(crate) async fn export(
    State(shared): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let raw = raw.unwrap_or_default();
    let mut req = parse_export_query(&raw)?;
    req.query.scope = scope_of(&shared, &caller, ENDPOINT).await?;
    shared.see_own_reads(&caller, None).await?;
    let store = shared.app.store.clone();
    let last = store.stats().await?.last_seq;
    let up_to = match req.up_to {
        Some(u) if u > last => {
            return Err(ApiError::param(
                "upTo",
                format!("upTo ({u}) is beyond the last committed sequence number ({last}); leave it out to export up to now"),
            ))
        }
        Some(u) => u,
        None => last,
    };
    if req.after > up_to {
        return Err(ApiError::param(
            "after",
            format!(
                "after ({}) is beyond upTo ({up_to}); nothing lies between them",
                req.after
            ),
        ));
    }
    let matching = store
        .search(SearchQuery {
            size: 0,
            ..req.query.clone()
        })
        .await?
        .count;
    let mut draft = query_draft(ENDPOINT, &raw, Some(matching));
    if let Some(owned) = &req.query.scope {
        draft = draft.with("scope", owned.clone());
    }
    shared.record_read(&caller.ctx, vec![draft]).await?;

    let transport_gzip = !req.gzip && accepts_gzip(&headers);
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let producer = Producer {
        store,
        req: req.clone(),
        up_to,
        compress: req.gzip || transport_gzip,
        tx,
    };
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || producer.run(&handle));

    let mut resp = (StatusCode::OK, Body::from_stream(ChunkStream(rx))).into_response();
    let h = resp.headers_mut();
    let content_type = match (req.framed, req.gzip, req.format) {
        (true, _, _) => "application/x-trail-export-frames",
        (_, true, _) => "application/gzip",
        (_, _, Format::Ndjson) => "application/x-ndjson",
        (_, _, Format::Json) => "application/json",
        (_, _, Format::Csv) => "text/csv; charset=utf-8",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if transport_gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in [
        (HEADER_UP_TO, up_to),
        (HEADER_AFTER, req.after),
        (HEADER_MATCHING, matching),
    ] {
        h.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    Ok(resp)
}

fn parse_export_query(raw: &str) -> Result<ExportRequest, ApiError> {
    let mut filters = form_urlencoded::Serializer::new(String::new());
    let mut seen: Vec<&'static str> = Vec::new();
    let mut req = ExportRequest {
        query: SearchQuery::new(),
        format: Format::Ndjson,
        form: Form::Original,
        gzip: false,
        framed: false,
        after: 0,
        up_to: None,
        resume: None,
    };
    let (mut count, mut chain, mut after_given) = (None, None, false);
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        if NOT_APPLICABLE.contains(&name.as_ref()) {
            return Err(ApiError::param(
                &name,
                format!("{name} does not apply to /v1/export: an export is every matching event in sequence order; to continue an interrupted export use after, upTo, count and chain"),
            ));
        }
        if params::filter_parameters().contains(&name.as_ref()) {
            filters.append_pair(&name, &value);
            continue;
        }
        let Some(&p) = EXPORT_PARAMETERS.iter().find(|p| **p == name) else {
            return Err(ApiError::param(
                &name,
                format!(
                    "unknown parameter '{}'; /v1/export accepts the filters {} and {} (names are case-sensitive)",
                    shown(&name),
                    params::filter_parameters().join(", "),
                    EXPORT_PARAMETERS.join(", ")
                ),
            ));
        };
        if seen.contains(&p) {
            return Err(ApiError::param(
                p,
                format!("{p} was given more than once; give it at most once"),
            ));
        }
        seen.push(p);
        let value = value.trim();
        match p {
            "format" => {
                req.format = match value {
                    "ndjson" => Format::Ndjson,
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => {
                        return Err(ApiError::param(
                            p,
                            format!("format must be ndjson, json or csv, got '{}'", shown(value)),
                        ))
                    }
                }
            }
            "form" => {
                req.form = match value {
                    "original" => Form::Original,
                    "legacy" => Form::Legacy,
                    "uam" => Form::Uam,
                    _ => {
                        return Err(ApiError::param(
                            p,
                            format!(
                                "form must be original, legacy or uam, got '{}'",
                                shown(value)
                            ),
                        ))
                    }
                }
            }
            "gzip" => req.gzip = boolean(p, value)?,
            "frame" => req.framed = boolean(p, value)?,
            "after" => {
                req.after = seq(p, value)?;
                after_given = true;
            }
            "upTo" => req.up_to = Some(seq(p, value)?),
            "count" => count = Some(seq(p, value)?),
            "chain" => chain = Some(value.to_string()),
            _ => {
                return Err(ApiError::Internal(format!(
                    "parameter {p} is listed but not handled"
                )))
            }
        }
    }
    req.query = parse_audit_query(&filters.finish())?;
    match (count, chain) {
        (Some(n), Some(h)) => {
            if !after_given || req.up_to.is_none() {
                return Err(ApiError::param(
                    if after_given { "upTo" } else { "after" },
                    "a continuation (count and chain) needs after and upTo as well: the values of the interrupted export's last checkpoint and its snapshot bound",
                ));
            }
            let chain = ExportChain::from_token(&h, n)
                .map_err(|e| ApiError::param("chain", e.to_string()))?;
            req.resume = Some(chain);
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ApiError::param(
                "chain",
                "count was given without chain; a continuation needs both (with after and upTo)",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::param(
                "count",
                "chain was given without count; a continuation needs both (with after and upTo)",
            ))
        }
    }
    if req.framed && req.gzip {
        return Err(ApiError::param(
            "gzip",
            "gzip=true cannot be combined with frame=true; compress the transfer with Accept-Encoding: gzip instead",
        ));
    }
    Ok(req)
}

fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    s
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::param(
            name,
            format!("{name} must be true or false, got '{}'", shown(value)),
        )),
    }
}

fn seq(name: &str, value: &str) -> Result<u64, ApiError> {
    value.parse::<u64>().map_err(|_| {
        ApiError::param(
            name,
            format!(
                "{name} must be an integer of 0 or more, got '{}'",
                shown(value)
            ),
        )
    })
}

/// Whether `Accept-Encoding` accepts gzip (with a non-zero quality).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && !zero
        })
}

/// The UAM form of a stored event: UAM events as stored; legacy records converted by
/// [`trail_model::legacy_to_uam`] (see docs/events.md for what a conversion cannot recover).
pub(crate) fn uam_form(event: &StoredEvent) -> Result<Cow<'_, str>, String> {
    let dims = trail_model::parse_event(&event.document)
        .map_err(|e| format!("stored event seq {} cannot be parsed: {e}", event.seq))?;
    match dims.form {
        EventForm::Uam => Ok(Cow::Borrowed(&event.document)),
        EventForm::Legacy => trail_model::legacy_to_uam(&event.document)
            .map(|uam| Cow::Owned(uam.to_string()))
            .map_err(|e| {
                format!(
                    "event '{}' (seq {}) cannot be converted to UAM: {e}",
                    dims.id, event.seq
                )
            }),
    }
}

/// The response body: the producer's chunks as they come.
struct ChunkStream(mpsc::Receiver<Result<Bytes, io::Error>>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Where rendered bytes go before they are sent: plain, or through one gzip stream.
enum Sink {
    Plain(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(v) => {
                v.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Gzip(g) => g.write_all(bytes),
        }
    }

    /// The bytes ready to send so far (a gzip stream is flushed to a byte boundary).
    fn take(&mut self) -> io::Result<Vec<u8>> {
        match self {
            Sink::Plain(v) => {
                // The next chunk is about as large: start it at this one's capacity.
                let capacity = v.capacity();
                Ok(std::mem::replace(v, Vec::with_capacity(capacity)))
            }
            Sink::Gzip(g) => {
                g.flush()?;
                Ok(std::mem::take(g.get_mut()))
            }
        }
    }

    fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Sink::Plain(v) => Ok(v),
            Sink::Gzip(g) => g.finish(),
        }
    }
}

/// The framing of `frame=true` (what `trail download` reads). Each frame is an ASCII header line
/// and, for those with a length, that many payload bytes:
///
/// ```text
/// H <len>\n<bytes>              format prefix (`{"hits":[`, the CSV header), fresh exports only
/// E <seq> <len>\n<bytes>        one event, exactly the bytes the plain export writes for it
/// C <seq> <count> <chain>\n     checkpoint: all events up to seq sent, count and chain so far
/// T <len>\n<bytes>              the trailer, exactly as the plain export writes it; the end
/// X <len>\n<message>            an error; the stream ends cleanly after it, without T
/// ```
///
/// The payloads concatenated are byte for byte the plain export. A checkpoint follows each
/// chunk of [`CHUNK_EVENTS`] events, so its position depends only on the matching set: a
/// download resumed from a checkpoint gets later checkpoints at the same events.
struct Framer;

impl Framer {
    /// Writes a frame header line to `sink` (formatted on the stack: one per event).
    fn header(sink: &mut Sink, kind: char, seq: Option<u64>, len: usize) -> io::Result<()> {
        let mut line = io::Cursor::new([0u8; 48]);
        match seq {
            Some(s) => writeln!(line, "{kind} {s} {len}")?,
            None => writeln!(line, "{kind} {len}")?,
        }
        let end = line.position() as usize;
        sink.write(&line.get_ref()[..end])
    }
}

enum Stop {
    /// The client went away: nothing more to do.
    Disconnected,
    /// The export cannot go on; the stream ends without a trailer.
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Failed(format!("compression failed: {e}"))
    }
}

struct Producer {
    store: Arc<dyn AuditStore>,
    req: ExportRequest,
    up_to: u64,
    compress: bool,
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

type ScanHandle = tokio::task::JoinHandle<Result<PackedEvents, trail_store::StoreError>>;

impl Producer {
    fn run(self, rt: &Handle) {
        let mut sink = if self.compress {
            Sink::Gzip(GzEncoder::new(Vec::new(), Compression::fast()))
        } else {
            Sink::Plain(Vec::new())
        };
        let result = self.produce(rt, &mut sink);
        let result = match result {
            Ok(()) => sink.finish().map_err(Stop::from).and_then(|t| self.send(t)),
            Err(Stop::Failed(message)) if self.req.framed => {
                // The X frame is in the sink: end the stream cleanly after it, without a T
                // frame (aborting could lose the X frame still in the connection's buffer).
                tracing::error!(error = %message, "framed export stopped without a trailer");
                let _ = sink.finish().map(|t| self.send(t));
                return;
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) | Err(Stop::Disconnected) => {}
            Err(Stop::Failed(message)) => {
                // Plain: the connection is aborted, so even a client that ignores the trailer
                // sees an error.
                tracing::error!(error = %message, "export stopped without a trailer");
                let _ = self.tx.blocking_send(Err(io::Error::other(message)));
            }
        }
    }

    fn send(&self, bytes: Vec<u8>) -> Result<(), Stop> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.tx
            .blocking_send(Ok(Bytes::from(bytes)))
            .map_err(|_| Stop::Disconnected)
    }

    fn scan(&self, rt: &Handle, after: u64) -> ScanHandle {
        let (store, query, up_to) = (self.store.clone(), self.req.query.clone(), self.up_to);
        rt.spawn(async move {
            store
                .scan_matching_packed(query, after, up_to, CHUNK_EVENTS)
                .await
        })
    }

    fn produce(&self, rt: &Handle, sink: &mut Sink) -> Result<(), Stop> {
        let req = &self.req;
        let framed = req.framed;
        let mut chain = req.resume.clone().unwrap_or_default();
        let mut last_seq = req.after;
        if req.resume.is_none() {
            let prefix: &[u8] = match (req.format, req.form) {
                (Format::Ndjson, _) => b"",
                (Format::Json, _) => b"{\"hits\":[",
                (Format::Csv, Form::Legacy) => LEGACY_CSV_HEADER.as_bytes(),
                (Format::Csv, _) => b"seq,eventTime,document\n",
            };
            if !prefix.is_empty() {
                if framed {
                    Framer::header(sink, 'H', None, prefix.len())?;
                }
                sink.write(prefix)?;
            }
        }
        let mut unit = Vec::with_capacity(1024);
        let mut pending = Some(self.scan(rt, req.after));
        while let Some(h) = pending.take() {
            let events = rt
                .block_on(h)
                .map_err(|e| Stop::Failed(format!("store task failed: {e}")))?
                .map_err(|e| Stop::Failed(format!("reading the store failed: {e}")))?;
            if events.events.len() == CHUNK_EVENTS {
                if let Some(last) = events.events.last() {
                    pending = Some(self.scan(rt, last.seq));
                }
            }
            // Events exported before this chunk; the chain counts this chunk once it is hashed.
            let before = chain.count();
            // The chain is serial SHA-256 work; it runs beside the rendering of the same chunk.
            let rendered = std::thread::scope(|scope| {
                let hashing = scope.spawn(|| chain.extend(events.events.iter().map(|ev| &ev.hash)));
                let rendered = (|| -> Result<(), Stop> {
                    for (i, ev) in events.events.iter().enumerate() {
                        let comma: &[u8] = if req.format == Format::Json && before + i as u64 > 0 {
                            b","
                        } else {
                            b""
                        };
                        let doc = events.document(i);
                        if self.as_stored(doc) {
                            // The common case: the stored bytes go straight to the sink.
                            let newline: &[u8] = if req.format == Format::Ndjson {
                                b"\n"
                            } else {
                                b""
                            };
                            if framed {
                                let len = comma.len() + doc.len() + newline.len();
                                Framer::header(sink, 'E', Some(ev.seq), len)?;
                            }
                            sink.write(comma)?;
                            sink.write(doc)?;
                            sink.write(newline)?;
                            continue;
                        }
                        unit.clear();
                        unit.extend_from_slice(comma);
                        let stored = events
                            .to_stored(i)
                            .map_err(|e| self.fail(sink, e.to_string()))?;
                        self.render(&stored, &mut unit)
                            .map_err(|message| self.fail(sink, message))?;
                        if framed {
                            Framer::header(sink, 'E', Some(ev.seq), unit.len())?;
                        }
                        sink.write(&unit)?;
                    }
                    Ok(())
                })();
                hashing
                    .join()
                    .map_err(|_| Stop::Failed("the export's hashing thread panicked".into()))?;
                rendered
            });
            rendered?;
            if let Some(last) = events.events.last() {
                last_seq = last.seq;
                if framed {
                    let (count, token) = (chain.count(), chain.token());
                    sink.write(format!("C {last_seq} {count} {token}\n").as_bytes())?;
                }
            }
            let bytes = sink.take()?;
            self.send(bytes)?;
        }
        let trailer = trailer(
            req.format,
            chain.count(),
            last_seq,
            self.up_to,
            &chain.digest(),
        );
        if framed {
            Framer::header(sink, 'T', None, trailer.len())?;
        }
        sink.write(trailer.as_bytes())?;
        Ok(())
    }

    /// In framed mode, puts an X frame telling the client why the stream ends.
    fn fail(&self, sink: &mut Sink, message: String) -> Stop {
        if self.req.framed {
            let _ = Framer::header(sink, 'X', None, message.len())
                .and_then(|()| sink.write(message.as_bytes()));
        }
        Stop::Failed(message)
    }

    /// Whether a stored document goes out exactly as stored (original form, NDJSON or JSON, no
    /// line break to remove): the common case, written without making an owned event.
    fn as_stored(&self, doc: &[u8]) -> bool {
        self.req.form == Form::Original
            && match self.req.format {
                Format::Ndjson => memchr::memchr2(b'\n', b'\r', doc).is_none(),
                Format::Json => true,
                Format::Csv => false,
            }
    }

    /// Appends one event's bytes in the requested format and form (without the JSON comma).
    fn render(&self, ev: &StoredEvent, out: &mut Vec<u8>) -> Result<(), String> {
        let doc: Cow<'_, str> = match self.req.form {
            Form::Original => Cow::Borrowed(&ev.document),
            Form::Uam => uam_form(ev)?,
            Form::Legacy => {
                let hit = LegacyHit::from_document(&ev.document)
                    .map_err(|e| format!("stored event seq {} cannot be rendered: {e}", ev.seq))?;
                if self.req.format == Format::Csv {
                    return legacy_csv_row(&hit, out);
                }
                Cow::Owned(
                    serde_json::to_string(&hit)
                        .map_err(|e| format!("event seq {} cannot be rendered: {e}", ev.seq))?,
                )
            }
        };
        match self.req.format {
            Format::Ndjson => {
                if memchr::memchr2(b'\n', b'\r', doc.as_bytes()).is_some() {
                    let compact = serde_json::from_str::<Value>(&doc)
                        .and_then(|v| serde_json::to_vec(&v))
                        .map_err(|e| format!("stored event seq {} is not JSON: {e}", ev.seq))?;
                    out.extend_from_slice(&compact);
                } else {
                    out.extend_from_slice(doc.as_bytes());
                }
                out.push(b'\n');
            }
            Format::Json => out.extend_from_slice(doc.as_bytes()),
            Format::Csv => {
                out.extend_from_slice(ev.seq.to_string().as_bytes());
                out.push(b',');
                out.extend_from_slice(format_iso_ms(ev.event_time_ms).as_bytes());
                out.push(b',');
                csv_field(&doc, out);
                out.push(b'\n');
            }
        }
        Ok(())
    }
}

const LEGACY_CSV_HEADER: &str = "dateTime,dataSourceName,projectName,recordType,blobId,userId,profileId,purposeIds,success,failureReason,warning,id,fingerprintVersionName,email\n";

fn legacy_csv_row(hit: &LegacyHit, out: &mut Vec<u8>) -> Result<(), String> {
    let value = serde_json::to_value(hit).map_err(|e| e.to_string())?;
    for (i, column) in trail_model::LegacyHit::FIELDS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match value.get(column) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => csv_field(s, out),
            Some(other) => csv_field(&other.to_string(), out),
        }
    }
    out.push(b'\n');
    Ok(())
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, or starts with
/// `#` (so that no data line can be mistaken for the trailer).
fn csv_field(s: &str, out: &mut Vec<u8>) {
    let needs_quotes =
        s.starts_with('#') || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs_quotes {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.push(b'"');
    for part in s.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

/// The final line (or JSON members) of an export.
fn trailer(format: Format, events: u64, last_seq: u64, up_to: u64, chain: &[u8; 32]) -> String {
    let chain = hex::encode(chain);
    let member = format!(
        "\"trailExport\":{{\"events\":{events},\"lastSeq\":{last_seq},\"upTo\":{up_to},\"sha256\":\"{chain}\"}}"
    );
    match format {
        Format::Ndjson => format!("{{{member}}}\n"),
        Format::Json => format!("],{member}}}\n"),
        Format::Csv => {
            format!(
                "# trailExport events={events} lastSeq={last_seq} upTo={up_to} sha256={chain}\n"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut out = Vec::new();
        csv_field("plain", &mut out);
        out.push(b'|');
        csv_field("a,\"b\"\nc", &mut out);
        out.push(b'|');
        csv_field("#x", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain|\"a,\"\"b\"\"\nc\"|\"#x\""
        );
    }

    #[test]
    fn accept_encoding_with_zero_quality_is_a_refusal() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("deflate, GZIP;q=0.5"),
        );
        assert!(accepts_gzip(&h));
    }

    #[test]
    fn trailers_carry_the_same_numbers_in_each_format() {
        let chain = [0xab; 32];
        let hex = "ab".repeat(32);
        assert_eq!(
            trailer(Format::Ndjson, 3, 9, 10, &chain),
            format!("{{\"trailExport\":{{\"events\":3,\"lastSeq\":9,\"upTo\":10,\"sha256\":\"{hex}\"}}}}\n")
        );
        let json = format!(
            "{{\"hits\":[{{}}{}",
            trailer(Format::Json, 3, 9, 10, &chain)
        );
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["trailExport"]["lastSeq"], 9);
        assert_eq!(
            trailer(Format::Csv, 3, 9, 10, &chain),
            format!("# trailExport events=3 lastSeq=9 upTo=10 sha256={hex}\n")
        );
    }
}
