//! `POST /v1/events`: how events get into Trail, in every form a producer or an Immuta export
//! has them.
//!
//! Accepted bodies (each event a UAM event or a legacy record):
//! - one JSON object;
//! - a JSON array of objects;
//! - NDJSON: one object per line (`Content-Type: application/x-ndjson`, or any body that holds
//!   more than one JSON object one after another); blank lines are skipped;
//! - a `GET /audit` answer, `{"hits": [...], ...}` (Immuta's download format).
//!
//! Every event is stored byte for byte as it arrived: arrays and hits are split with
//! `RawValue`, NDJSON by lines, nothing is re-serialized. Validation is all-or-nothing: the first
//! invalid event fails the request (400 with its index, NDJSON line and field) and nothing is
//! stored. A valid batch goes to the store in one atomic `append`, and the answer is sent only
//! after it returned, i.e. once the batch is durable.
//!
//! UAM events are also checked against the catalogue (`trail_model::validate`): envelope,
//! known `auditPayload.type` and version, allowed enum values. Unknown event types are refused
//! unless [`crate::ServerConfig::accept_unknown_event_types`] is set; then they are stored and
//! counted in the answer's `unknownEventTypes`.
//!
//! Size: bodies over [`crate::ServerConfig::max_body_bytes`] are refused with 413, both as sent
//! and after gzip decompression (`Content-Encoding: gzip`), so a gzip bomb is stopped at the
//! limit rather than inflated into memory.

use std::future::poll_fn;
use std::io::Read;
use std::pin::Pin;

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use trail_model::{validate_event, Checked};
use trail_store::{NewEvent, Permission};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::timing::Phases;
use crate::SharedState;

/// What `POST /v1/events` stored.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestResponse {
    /// Events newly stored.
    pub stored: u64,
    /// Events whose `id` was already stored (or repeated in the batch); not stored again.
    pub duplicates: u64,
    /// Sequence number of the first event stored; null if none was.
    pub first_seq: Option<u64>,
    /// Sequence number of the last event stored; null if none was.
    pub last_seq: Option<u64>,
    /// UAM events of the batch whose `auditPayload.type` the catalogue does not know (only with
    /// `--accept-unknown-event-types`; absent when 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_event_types: Option<u64>,
}

/// Ingests a batch of events; durable when answered.
#[utoipa::path(post, path = "/v1/events", tag = "ingest",
    request_body(
        description = "One event object, a JSON array of events, NDJSON (application/x-ndjson) or a GET /audit answer {\"hits\": [...]}. Each event is a UAM event or a legacy record. May be gzip-compressed (Content-Encoding: gzip).",
        content(
            (Object = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Stored durably", body = IngestResponse),
        (status = 400, description = "Empty body or an invalid event (`index`, `line`, `field` say which); nothing stored", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The INGEST permission is needed", body = ErrorBody),
        (status = 413, description = "Body over the limit (`limitBytes`), also after decompression", body = ErrorBody),
        (status = 415, description = "Content-Encoding other than gzip", body = ErrorBody),
        (status = 503, description = "Storage unavailable; nothing was stored", body = ErrorBody),
    ))]
pub async fn ingest(
    State(shared): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(Phases, Json<IngestResponse>), ApiError> {
    let mut phases = Phases::start();
    phases.before("auth", caller.authenticated_in);
    caller.require(Permission::Ingest, "writing events")?;
    let limit = shared.app.config.max_body_bytes;
    let bytes = read_body(&headers, body, limit).await?;
    phases.lap("body");
    let ndjson = is_ndjson(&headers);
    let accept_unknown = shared.app.config.accept_unknown_event_types;
    let store = shared.app.store.clone();
    let (report, unknown) = shared
        .ingest_lane
        .run(async move {
            let parse = move || parse_batch_checked(&bytes, ndjson, accept_unknown);
            let (batch, unknown) = tokio::task::spawn_blocking(parse)
                .await
                .map_err(|e| ApiError::Internal(format!("ingest parser task failed: {e}")))??;
            Ok((store.append(batch).await?, unknown))
        })
        .await?;
    phases.lap("store");
    Ok((
        phases,
        Json(IngestResponse {
            stored: report.stored,
            duplicates: report.duplicates,
            first_seq: report.stored_seqs().min(),
            last_seq: report.stored_seqs().max(),
            unknown_event_types: (unknown > 0).then_some(unknown as u64),
        }),
    ))
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
    )
}

/// Reads a request body of at most `limit` bytes, decompressing gzip (also to at most `limit`).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::PayloadTooLarge { limit };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        discard(&mut body).await;
        return Err(too_large());
    }
    let encoding = headers
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let gzip = match encoding.as_deref() {
        None | Some("") | Some("identity") => false,
        Some("gzip") | Some("x-gzip") => true,
        Some(other) => {
            discard(&mut body).await;
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Encoding '{other}' is not supported; send the body uncompressed or gzip-compressed"
            )));
        }
    };
    let mut raw = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if raw.len() + data.len() > limit {
                discard(&mut body).await;
                return Err(too_large());
            }
            raw.extend_from_slice(&data);
        }
    }
    if !gzip {
        return Ok(raw);
    }
    tokio::task::spawn_blocking(move || gunzip(&raw, limit))
        .await
        .map_err(|e| ApiError::Internal(format!("decompression task failed: {e}")))?
}

/// How much of a refused body is still read (and dropped) before the 413 is sent.
const DISCARD_BYTES: usize = 16 << 20;

/// Reads and drops up to [`DISCARD_BYTES`] of the rest of a refused body, so that a client
/// still sending it receives the 413 instead of a reset connection. A larger rest is cut off.
async fn discard(body: &mut Body) {
    let mut budget = DISCARD_BYTES;
    while budget > 0 {
        match poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    budget = budget.saturating_sub(data.len());
                }
            }
            _ => break,
        }
    }
}

/// Inflates a gzip body (all members), refusing to produce more than `limit` bytes.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid gzip ({e}); send it uncompressed or drop the Content-Encoding header"
            ))
        })?;
    if out.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(out)
}

fn invalid(index: Option<usize>, line: Option<usize>, e: trail_model::EventError) -> ApiError {
    ApiError::InvalidEvent {
        index,
        line,
        field: e.field,
        message: e.reason,
    }
}

fn not_json(message: String) -> ApiError {
    ApiError::InvalidEvent {
        index: None,
        line: None,
        field: "(document)".to_string(),
        message,
    }
}

/// Parses each event and checks UAM events against the catalogue, counting accepted unknown
/// event types.
struct Checker {
    accept_unknown: bool,
    unknown: usize,
}

impl Checker {
    fn parse(&mut self, doc: &str) -> Result<NewEvent, trail_model::EventError> {
        let event = NewEvent::parse(doc)?;
        if event.dims.form == trail_model::EventForm::Uam {
            if let Checked::UnknownType(_) = validate_event(doc, self.accept_unknown)? {
                self.unknown += 1;
            }
        }
        Ok(event)
    }
}

/// Splits a body into events and validates each one (see the module docs for the forms),
/// refusing unknown UAM event types.
#[cfg(test)]
pub fn parse_batch(bytes: &[u8], ndjson: bool) -> Result<Vec<NewEvent>, ApiError> {
    parse_batch_checked(bytes, ndjson, false).map(|(events, _)| events)
}

/// [`parse_batch`], accepting unknown UAM event types when asked; also returns how many there
/// were.
pub fn parse_batch_checked(
    bytes: &[u8],
    ndjson: bool,
    accept_unknown: bool,
) -> Result<(Vec<NewEvent>, usize), ApiError> {
    let mut checker = Checker {
        accept_unknown,
        unknown: 0,
    };
    let events = split_batch(bytes, ndjson, &mut checker)?;
    Ok((events, checker.unknown))
}

fn split_batch(
    bytes: &[u8],
    ndjson: bool,
    checker: &mut Checker,
) -> Result<Vec<NewEvent>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not UTF-8 ({e}); send JSON in UTF-8"))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let start = text.trim_start();
    if start.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty; send one event object, a JSON array of events, NDJSON or a {\"hits\": [...]} document",
        ));
    }
    if ndjson {
        return parse_ndjson(text, checker);
    }
    let events = match start.as_bytes()[0] {
        b'[' => {
            let items: Vec<Box<RawValue>> = serde_json::from_str(text).map_err(|e| {
                not_json(format!("the body is not a valid JSON array of events: {e}"))
            })?;
            parse_items(items.iter().map(|r| r.get()), checker)?
        }
        b'{' => {
            let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
            let first = match values.next() {
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    return Err(ApiError::InvalidEvent {
                        index: Some(0),
                        line: None,
                        field: "(document)".to_string(),
                        message: format!("not valid JSON: {e}"),
                    })
                }
                None => return Err(ApiError::bad_request("the body holds no JSON value")),
            };
            if values.next().is_some() {
                return parse_ndjson(text, checker);
            }
            match hits_of(first)? {
                Some(hits) => parse_items(hits.iter().map(|r| r.get()), checker)?,
                None => parse_items(std::iter::once(first.get()), checker)?,
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "the body must be JSON: one event object, an array of events, NDJSON or a {\"hits\": [...]} document",
            ))
        }
    };
    if events.is_empty() {
        return Err(ApiError::bad_request(
            "the body holds no events; send at least one",
        ));
    }
    Ok(events)
}

/// The members that tell a `{"hits": [...]}` document from an event.
#[derive(Deserialize)]
struct HitsProbe<'a> {
    #[serde(borrow)]
    hits: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

/// The hits of a `GET /audit` answer, or `None` when the object is an event.
fn hits_of(value: &RawValue) -> Result<Option<Vec<Box<RawValue>>>, ApiError> {
    let probe: HitsProbe = serde_json::from_str(value.get())
        .map_err(|e| not_json(format!("not a JSON object: {e}")))?;
    match (probe.hits, probe.id) {
        (Some(hits), None) if hits.get().starts_with('[') => serde_json::from_str(hits.get())
            .map(Some)
            .map_err(|e| not_json(format!("`hits` is not an array of events: {e}"))),
        _ => Ok(None),
    }
}

fn parse_items<'a>(
    items: impl Iterator<Item = &'a str>,
    checker: &mut Checker,
) -> Result<Vec<NewEvent>, ApiError> {
    items
        .enumerate()
        .map(|(i, doc)| checker.parse(doc).map_err(|e| invalid(Some(i), None, e)))
        .collect()
}

fn parse_ndjson(text: &str, checker: &mut Checker) -> Result<Vec<NewEvent>, ApiError> {
    let mut events = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let event = checker
            .parse(line)
            .map_err(|e| invalid(Some(events.len()), Some(i + 1), e))?;
        events.push(event);
    }
    if events.is_empty() {
        return Err(ApiError::bad_request(
            "the body holds no events; send at least one",
        ));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"id":"a","dateTime":"1","recordType":"x"}"#;
    const B: &str = r#"{"id":"b", "dateTime":"2","recordType":"x"}"#;

    fn docs(events: Vec<NewEvent>) -> Vec<String> {
        events.into_iter().map(|e| e.document).collect()
    }

    #[test]
    fn every_form_keeps_the_original_bytes() {
        let expect = vec![A.to_string(), B.to_string()];
        assert_eq!(docs(parse_batch(A.as_bytes(), false).unwrap()), vec![A]);
        let array = format!("[{A},\n  {B}]");
        assert_eq!(docs(parse_batch(array.as_bytes(), false).unwrap()), expect);
        let nd = format!("{A}\n\n{B}\r\n");
        assert_eq!(docs(parse_batch(nd.as_bytes(), false).unwrap()), expect);
        assert_eq!(docs(parse_batch(nd.as_bytes(), true).unwrap()), expect);
        let hits = format!("{{\"hits\": [{A}, {B}], \"count\": 2}}");
        assert_eq!(docs(parse_batch(hits.as_bytes(), false).unwrap()), expect);
    }

    #[test]
    fn errors_locate_the_event() {
        let nd = format!("{A}\n\n{{\"id\":\"c\",\"recordType\":\"x\"}}\n");
        match parse_batch(nd.as_bytes(), true) {
            Err(ApiError::InvalidEvent {
                index, line, field, ..
            }) => {
                assert_eq!(
                    (index, line, field.as_str()),
                    (Some(1), Some(3), "dateTime")
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_batch(b"  ", false),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_batch(b"[]", false),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_batch(b"{\"id\":", false),
            Err(ApiError::InvalidEvent { .. })
        ));
        assert!(matches!(
            parse_batch(&[0xff, 0xfe], false),
            Err(ApiError::BadRequest { .. })
        ));
    }

    #[test]
    fn gzip_is_limited_after_decompression() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 1_000);
        assert_eq!(gunzip(&gz, 100_000).unwrap().len(), 100_000);
        assert!(matches!(
            gunzip(&gz, 99_999),
            Err(ApiError::PayloadTooLarge { limit: 99_999 })
        ));
        assert!(matches!(
            gunzip(b"not gzip", 10),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
