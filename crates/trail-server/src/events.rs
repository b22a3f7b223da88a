//! The native UAM read API: `GET /v1/events` (search with cursor pagination) and
//! `GET /v1/events/{id}?format=uam|legacy` (one event in either form).
//!
//! Search: every `GET /audit` filter (answered by the index through
//! `AuditStore::scan_matching`) plus UAM filters the index does not hold: `eventType`,
//! `action`, `actionStatus`, `targetType`, `actorId`, `tenantId`, `sessionId`, `requestId`,
//! `receivedFrom`/`receivedTo` and free text `q` (case-insensitive, over
//! `auditPayload.queryText` and `actionStatusReason`). Those are applied by parsing the
//! documents of each scanned chunk: the slow path, bounded per request by [`SCAN_BUDGET`].
//!
//! Order and cursor: events come in commit-sequence order. The first page fixes a snapshot
//! (the store's last sequence number); `next` is an opaque token holding that snapshot and the
//! last sequence number looked at, so later pages see exactly the events of the first page's
//! snapshot, with no duplicates and no gaps, whatever is appended meanwhile. A page may hold
//! fewer than `size` events (the scan budget ran out); only `next: null` means the end.
//!
//! Responses are UAM documents exactly as stored; a legacy record is converted with
//! `trail_model::legacy_to_uam`. Reads are audited like `GET /audit` (an `AuditQuery` event).

use std::borrow::Cow;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use trail_model::timefmt::{parse_date_ms, parse_iso_ms, parse_naive_utc_ms};
use trail_model::{catalog, mapping, LegacyHit, StoredEvent};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{query_draft, scope_of};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::params::{self, parse_audit_query};
use crate::SharedState;

/// Largest `size` of one page.
pub const MAX_PAGE: usize = 1_000;
/// Events looked at, at most, by one request on the slow path (then a short page is answered).
pub const SCAN_BUDGET: usize = 200_000;
const CHUNK: usize = 1_024;

/// The UAM filters answered from the documents, and paging.
const UAM_PARAMETERS: [&str; 14] = [
    "eventType",
    "action",
    "actionStatus",
    "targetType",
    "actorId",
    "tenantId",
    "sessionId",
    "requestId",
    "receivedFrom",
    "receivedTo",
    "q",
    "size",
    "after",
    "facets",
];

/// One page of `GET /v1/events`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsPage {
    /// UAM events in commit order, exactly as stored (legacy records converted).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Box<RawValue>>,
    /// Cursor of the next page (`after=`), null at the end.
    pub next: Option<String>,
    /// The snapshot (last sequence number) every page of this cursor reads.
    pub snapshot_seq: u64,
    /// Counts over the whole matching set of the snapshot (only with `facets=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<UamFacets>,
}

/// Facets over UAM dimensions: top 25 values by count (ties by value ascending).
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UamFacets {
    pub event_types: Vec<FacetCount>,
    pub action_statuses: Vec<FacetCount>,
    pub actions: Vec<FacetCount>,
    pub target_types: Vec<FacetCount>,
    pub tenant_ids: Vec<FacetCount>,
    pub actor_ids: Vec<FacetCount>,
    /// False when the scan budget ran out before the end of the matching set (the counts are
    /// then over its first `scanned` events).
    pub complete: bool,
    /// Events looked at.
    pub scanned: u64,
}

/// One facet value and how many matching events carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetCount {
    pub name: String,
    pub count: u64,
}

/// Tallies of the facets, before sorting.
#[derive(Default)]
struct Tally {
    maps: [std::collections::HashMap<String, u64>; 6],
}

impl Tally {
    fn add(&mut self, f: &Fields) {
        let values = [
            f.event_type.as_deref(),
            f.action_status.as_deref(),
            f.action.as_deref(),
            f.target_type.as_deref(),
            f.tenant_id.as_deref(),
            f.actor_id.as_deref(),
        ];
        for (map, v) in self.maps.iter_mut().zip(values) {
            if let Some(v) = v {
                match map.get_mut(v) {
                    Some(c) => *c += 1,
                    None => {
                        map.insert(v.to_string(), 1);
                    }
                }
            }
        }
    }

    fn finish(self, complete: bool, scanned: u64) -> UamFacets {
        let [a, b, c, d, e, f] = self.maps.map(|m| {
            let mut v: Vec<FacetCount> = m
                .into_iter()
                .map(|(name, count)| FacetCount { name, count })
                .collect();
            v.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.name.cmp(&y.name)));
            v.truncate(trail_model::query::FACET_LIMIT);
            v
        });
        UamFacets {
            event_types: a,
            action_statuses: b,
            actions: c,
            target_types: d,
            tenant_ids: e,
            actor_ids: f,
            complete,
            scanned,
        }
    }
}

/// Documentation of `GET /v1/events`' query parameters (list parameters may be repeated or
/// comma-separated). The `GET /audit` filters (dataSourceId, projectId, profileId, recordType,
/// outcome, minDate, maxDate, blobId, purpose) are accepted too, with the same meaning.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventsParams {
    /// UAM event names (e.g. `SnowflakeQuery`, `ApiKeyCreated`).
    #[param(rename = "eventType")]
    event_type: Option<Vec<String>>,
    action: Option<Vec<String>>,
    /// SUCCESS, FAILURE or UNAUTHORIZED.
    #[param(rename = "actionStatus")]
    action_status: Option<Vec<String>>,
    #[param(rename = "targetType")]
    target_type: Option<Vec<String>>,
    /// `actor.id`.
    #[param(rename = "actorId")]
    actor_id: Option<Vec<String>>,
    #[param(rename = "tenantId")]
    tenant_id: Option<Vec<String>>,
    #[param(rename = "sessionId")]
    session_id: Option<Vec<String>>,
    #[param(rename = "requestId")]
    request_id: Option<Vec<String>>,
    /// Oldest `receivedTimestamp` (or, without one, when Trail stored it), inclusive.
    #[param(rename = "receivedFrom")]
    received_from: Option<String>,
    /// Newest `receivedTimestamp`, inclusive (a date means the end of that day).
    #[param(rename = "receivedTo")]
    received_to: Option<String>,
    /// Free text, case-insensitive, over query text and failure reasons.
    q: Option<String>,
    /// Events per page, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    size: Option<u32>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
    /// `true` to add facets over eventType, actionStatus, action, targetType, tenantId and
    /// actorId, counted over the whole matching set of the snapshot (at most
    /// 1,000,000 events are looked at; `facets.complete` says whether that sufficed).
    facets: Option<bool>,
}

/// The UAM members the document filters and facets read, from either a borrowed view of a
/// stored UAM document (no value tree built) or a converted legacy record.
#[derive(Default)]
struct Fields<'a> {
    event_type: Option<String>,
    action: Option<Cow<'a, str>>,
    action_status: Option<Cow<'a, str>>,
    target_type: Option<Cow<'a, str>>,
    tenant_id: Option<Cow<'a, str>>,
    session_id: Option<Cow<'a, str>>,
    request_id: Option<Cow<'a, str>>,
    received_timestamp: Option<Cow<'a, str>>,
    action_status_reason: Option<Cow<'a, str>>,
    actor_id: Option<Cow<'a, str>>,
    query_text: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action_status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    target_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    received_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    action_status_reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    actor: Option<ActorView<'a>>,
    #[serde(borrow)]
    audit_payload: Option<PayloadView<'a>>,
}

#[derive(serde::Deserialize)]
struct ActorView<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadView<'a> {
    #[serde(rename = "type", borrow)]
    payload_type: Option<Cow<'a, str>>,
    technology_context: Option<Value>,
    #[serde(borrow)]
    query_text: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// Reads a stored UAM document; `None` when a member has an unexpected type (then the
    /// caller reads the full value instead).
    fn of_uam_document(doc: &'a str) -> Option<Fields<'a>> {
        let v: View<'a> = serde_json::from_str(doc).ok()?;
        let (event_type, query_text) = match v.audit_payload {
            Some(p) => {
                let name = p.payload_type.map(|t| {
                    let mut m = serde_json::Map::new();
                    if let Some(ctx) = p.technology_context {
                        m.insert("technologyContext".to_string(), ctx);
                    }
                    catalog::event_name(&t, &m)
                });
                (name, p.query_text)
            }
            None => (None, None),
        };
        Some(Fields {
            event_type,
            action: v.action,
            action_status: v.action_status,
            target_type: v.target_type,
            tenant_id: v.tenant_id,
            session_id: v.session_id,
            request_id: v.request_id,
            received_timestamp: v.received_timestamp,
            action_status_reason: v.action_status_reason,
            actor_id: v.actor.and_then(|a| a.id),
            query_text,
        })
    }

    /// Reads a UAM value (a converted legacy record, or a document the view could not read).
    fn of_value(uam: &'a Value) -> Fields<'a> {
        let s = |k: &str| uam.get(k).and_then(Value::as_str).map(Cow::Borrowed);
        let payload = uam.get("auditPayload").and_then(Value::as_object);
        Fields {
            event_type: payload
                .and_then(|p| Some(catalog::event_name(p.get("type")?.as_str()?, p))),
            action: s("action"),
            action_status: s("actionStatus"),
            target_type: s("targetType"),
            tenant_id: s("tenantId"),
            session_id: s("sessionId"),
            request_id: s("requestId"),
            received_timestamp: s("receivedTimestamp"),
            action_status_reason: s("actionStatusReason"),
            actor_id: uam
                .get("actor")
                .and_then(|a| a.get("id"))
                .and_then(Value::as_str)
                .map(Cow::Borrowed),
            query_text: payload
                .and_then(|p| p.get("queryText"))
                .and_then(Value::as_str)
                .map(Cow::Borrowed),
        }
    }
}

/// Calls `f` with the filter fields of a stored event (the slow path's one read per document).
fn with_fields<T>(ev: &StoredEvent, f: impl FnOnce(&Fields) -> T) -> Result<T, ApiError> {
    if is_uam(ev)? {
        if let Some(fields) = Fields::of_uam_document(&ev.document) {
            return Ok(f(&fields));
        }
    }
    let (uam, _) = uam_of(ev)?;
    Ok(f(&Fields::of_value(&uam)))
}

/// The filters answered from the documents.
#[derive(Default, Debug)]
struct DocFilter {
    event_types: Vec<String>,
    actions: Vec<String>,
    statuses: Vec<String>,
    target_types: Vec<String>,
    actor_ids: Vec<String>,
    tenant_ids: Vec<String>,
    session_ids: Vec<String>,
    request_ids: Vec<String>,
    received_from: Option<i64>,
    received_to: Option<i64>,
    text: Option<String>,
}

impl DocFilter {
    fn is_empty(&self) -> bool {
        self.event_types.is_empty()
            && self.actions.is_empty()
            && self.statuses.is_empty()
            && self.target_types.is_empty()
            && self.actor_ids.is_empty()
            && self.tenant_ids.is_empty()
            && self.session_ids.is_empty()
            && self.request_ids.is_empty()
            && self.received_from.is_none()
            && self.received_to.is_none()
            && self.text.is_none()
    }

    fn matches(&self, f: &Fields, stored_received_ms: i64) -> bool {
        let one_of = |list: &[String], v: &Option<Cow<str>>| {
            list.is_empty() || v.as_deref().is_some_and(|v| list.iter().any(|x| x == v))
        };
        if !self.event_types.is_empty()
            && !f
                .event_type
                .as_deref()
                .is_some_and(|v| self.event_types.iter().any(|x| x == v))
        {
            return false;
        }
        if !(one_of(&self.actions, &f.action)
            && one_of(&self.statuses, &f.action_status)
            && one_of(&self.target_types, &f.target_type)
            && one_of(&self.actor_ids, &f.actor_id)
            && one_of(&self.tenant_ids, &f.tenant_id)
            && one_of(&self.session_ids, &f.session_id)
            && one_of(&self.request_ids, &f.request_id))
        {
            return false;
        }
        if self.received_from.is_some() || self.received_to.is_some() {
            let received = f
                .received_timestamp
                .as_deref()
                .and_then(parse_iso_ms)
                .unwrap_or(stored_received_ms);
            if self.received_from.is_some_and(|x| received < x)
                || self.received_to.is_some_and(|x| received > x)
            {
                return false;
            }
        }
        if let Some(text) = &self.text {
            let hay = [f.query_text.as_deref(), f.action_status_reason.as_deref()];
            if !hay
                .iter()
                .flatten()
                .any(|h| h.to_lowercase().contains(text.as_str()))
            {
                return false;
            }
        }
        true
    }
}

/// The opaque cursor: snapshot bound and last sequence number looked at.
fn encode_cursor(snapshot: u64, after: u64) -> String {
    let text = format!("v1:{snapshot}:{after}");
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(token: &str) -> Result<(u64, u64), ApiError> {
    let bad = || {
        ApiError::param(
            "after",
            "after must be the `next` cursor of a previous page, unchanged",
        )
    };
    if !token.len().is_multiple_of(2) || token.len() > 128 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(s), Some(a), None) => {
            let snapshot = s.parse::<u64>().map_err(|_| bad())?;
            let after = a.parse::<u64>().map_err(|_| bad())?;
            if after > snapshot {
                return Err(bad());
            }
            Ok((snapshot, after))
        }
        _ => Err(bad()),
    }
}

fn items(name: &str, value: &str) -> Result<Vec<String>, ApiError> {
    value
        .split(',')
        .map(|p| {
            let p = p.trim();
            if p.is_empty() {
                Err(ApiError::param(
                    name,
                    format!("{name} has an empty item; give values separated by commas or repeat the parameter"),
                ))
            } else {
                Ok(p.to_string())
            }
        })
        .collect()
}

fn instant(name: &str, value: &str, end_of_day: bool) -> Result<i64, ApiError> {
    let v = value.trim();
    let ms = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<i64>().ok()
    } else if let Some(day) = parse_date_ms(v) {
        Some(if end_of_day {
            day + 86_400_000 - 1
        } else {
            day
        })
    } else {
        parse_iso_ms(v)
            .or_else(|| parse_iso_ms(&v.replace(' ', "+")))
            .or_else(|| parse_naive_utc_ms(v))
    };
    ms.ok_or_else(|| {
        ApiError::param(
            name,
            format!("{name} must be a date (2024-06-12), an ISO-8601 timestamp (2024-06-12T10:00:00.000Z) or epoch milliseconds"),
        )
    })
}

struct EventsQuery {
    index: trail_model::SearchQuery,
    docs: DocFilter,
    size: usize,
    cursor: Option<(u64, u64)>,
    facets: bool,
}

fn parse_events_query(raw: &str) -> Result<EventsQuery, ApiError> {
    let mut passed = form_urlencoded::Serializer::new(String::new());
    let mut docs = DocFilter::default();
    let mut size = 50;
    let mut cursor = None;
    let mut facets = false;
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let (name, value) = (name.as_ref(), value.as_ref());
        if params::filter_parameters().contains(&name) {
            passed.append_pair(name, value);
            continue;
        }
        if !UAM_PARAMETERS.contains(&name) {
            return Err(ApiError::param(
                name,
                format!(
                    "unknown parameter '{name}'; this endpoint accepts {}, {} (names are case-sensitive)",
                    params::filter_parameters().join(", "),
                    UAM_PARAMETERS.join(", ")
                ),
            ));
        }
        let single = ["receivedFrom", "receivedTo", "q", "size", "after", "facets"];
        if single.contains(&name) {
            if seen.iter().any(|s| s == name) {
                return Err(ApiError::param(
                    name,
                    format!("{name} was given more than once; give it at most once"),
                ));
            }
            seen.push(name.to_string());
        }
        match name {
            "eventType" => docs.event_types.extend(items(name, value)?),
            "action" => docs.actions.extend(items(name, value)?),
            "actionStatus" => {
                for v in items(name, value)? {
                    if !["SUCCESS", "FAILURE", "UNAUTHORIZED"].contains(&v.as_str()) {
                        return Err(ApiError::param(
                            name,
                            format!(
                                "actionStatus must be SUCCESS, FAILURE or UNAUTHORIZED, got '{v}'"
                            ),
                        ));
                    }
                    docs.statuses.push(v);
                }
            }
            "targetType" => docs.target_types.extend(items(name, value)?),
            "actorId" => docs.actor_ids.extend(items(name, value)?),
            "tenantId" => docs.tenant_ids.extend(items(name, value)?),
            "sessionId" => docs.session_ids.extend(items(name, value)?),
            "requestId" => docs.request_ids.extend(items(name, value)?),
            "receivedFrom" => docs.received_from = Some(instant(name, value, false)?),
            "receivedTo" => docs.received_to = Some(instant(name, value, true)?),
            "q" => {
                if value.trim().is_empty() {
                    return Err(ApiError::param(
                        name,
                        "q must not be empty; leave it out to match everything",
                    ));
                }
                docs.text = Some(value.trim().to_lowercase());
            }
            "size" => {
                size = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|s| (1..=MAX_PAGE).contains(s))
                    .ok_or_else(|| {
                        ApiError::param(
                            name,
                            format!("size must be an integer from 1 to {MAX_PAGE}, got '{value}'"),
                        )
                    })?
            }
            "after" => cursor = Some(decode_cursor(value)?),
            "facets" => {
                facets = match value {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ApiError::param(
                            name,
                            format!("facets must be true or false, got '{other}'"),
                        ))
                    }
                }
            }
            _ => {
                return Err(ApiError::Internal(format!(
                    "parameter {name} is listed but not handled"
                )))
            }
        }
    }
    if let (Some(f), Some(t)) = (docs.received_from, docs.received_to) {
        if f > t {
            return Err(ApiError::param(
                "receivedFrom",
                "receivedFrom is after receivedTo; swap them",
            ));
        }
    }
    let index = parse_audit_query(&passed.finish())?;
    Ok(EventsQuery {
        index,
        docs,
        size,
        cursor,
        facets,
    })
}

/// The members that tell a UAM document from a legacy record (read without building values).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FormProbe {
    event_timestamp: Option<serde::de::IgnoredAny>,
    audit_payload: Option<serde::de::IgnoredAny>,
}

fn is_uam(ev: &StoredEvent) -> Result<bool, ApiError> {
    let probe: FormProbe = serde_json::from_str(&ev.document)
        .map_err(|e| ApiError::Internal(format!("stored event {} is not JSON: {e}", ev.seq)))?;
    Ok(probe.event_timestamp.is_some() || probe.audit_payload.is_some())
}

/// The UAM form of a stored event, and whether it is the stored document itself.
fn uam_of(ev: &StoredEvent) -> Result<(Value, bool), ApiError> {
    if is_uam(ev)? {
        let v = serde_json::from_str(&ev.document)
            .map_err(|e| ApiError::Internal(format!("stored event {}: {e}", ev.seq)))?;
        return Ok((v, true));
    }
    let v = mapping::legacy_to_uam(&ev.document).map_err(|e| {
        ApiError::Internal(format!("stored event {} cannot be converted: {e}", ev.seq))
    })?;
    Ok((v, false))
}

/// One event of a page: the stored bytes of a UAM event, a legacy record converted.
fn page_entry(ev: &StoredEvent) -> Result<Box<RawValue>, ApiError> {
    if is_uam(ev)? {
        raw(ev.document.clone())
    } else {
        raw(uam_of(ev)?.0.to_string())
    }
}

fn raw(text: String) -> Result<Box<RawValue>, ApiError> {
    RawValue::from_string(text).map_err(|e| ApiError::Internal(format!("not JSON: {e}")))
}

/// Searches UAM events, in commit order, with cursor pagination.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "A page of UAM events in commit order; follow `next` until it is null", body = EventsPage),
        (status = 400, description = "A bad parameter (`parameter` names it)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "AUDIT or data-source ownership needed", body = ErrorBody),
    ))]
pub async fn search(
    State(shared): State<SharedState>,
    caller: Caller,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<EventsPage>, ApiError> {
    let raw_query = raw_query.unwrap_or_default();
    let endpoint = "/v1/events";
    let mut q = parse_events_query(&raw_query)?;
    q.index.scope = scope_of(&shared, &caller, endpoint).await?;
    shared.see_own_reads(&caller, Some(&q.index)).await?;
    let (snapshot, mut position) = match q.cursor {
        Some(c) => c,
        None => (shared.app.store.stats().await?.last_seq, 0),
    };
    let chunk = if q.docs.is_empty() { q.size } else { CHUNK };
    let mut events = Vec::new();
    let mut scanned = 0;
    let next = loop {
        let batch = shared
            .app
            .store
            .scan_matching(q.index.clone(), position, snapshot, chunk)
            .await?;
        let exhausted = batch.len() < chunk;
        let mut full = false;
        for ev in &batch {
            position = ev.seq;
            scanned += 1;
            let keep = q.docs.is_empty() || with_fields(ev, |f| q.docs.matches(f, ev.received_ms))?;
            if keep {
                events.push(page_entry(ev)?);
                if events.len() == q.size {
                    full = true;
                    break;
                }
            }
        }
        if full || (!exhausted && scanned >= SCAN_BUDGET) {
            break Some(encode_cursor(snapshot, position));
        }
        if exhausted {
            break None;
        }
    };
    let facets = if q.facets {
        Some(facets_of(&shared, &q, snapshot).await?)
    } else {
        None
    };
    let draft = query_draft(endpoint, &raw_query, Some(events.len() as u64));
    shared.record_read(&caller.ctx, vec![draft]).await?;
    Ok(Json(EventsPage {
        events,
        next,
        snapshot_seq: snapshot,
        facets,
    }))
}

/// Events looked at, at most, to count facets.
pub const FACET_BUDGET: usize = 1_000_000;

/// Counts the facets over the matching set of the snapshot (a walk over it; the slow path).
async fn facets_of(
    shared: &SharedState,
    q: &EventsQuery,
    snapshot: u64,
) -> Result<UamFacets, ApiError> {
    let mut tally = Tally::default();
    let (mut position, mut scanned) = (0, 0usize);
    loop {
        let batch = shared
            .app
            .store
            .scan_matching(q.index.clone(), position, snapshot, CHUNK * 4)
            .await?;
        let exhausted = batch.len() < CHUNK * 4;
        for ev in &batch {
            position = ev.seq;
            scanned += 1;
            with_fields(ev, |f| {
                if q.docs.matches(f, ev.received_ms) {
                    tally.add(f);
                }
            })?;
        }
        if exhausted {
            return Ok(tally.finish(true, scanned as u64));
        }
        if scanned >= FACET_BUDGET {
            return Ok(tally.finish(false, scanned as u64));
        }
    }
}

/// `format` of `GET /v1/events/{id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FormatParams {
    /// `uam` (default: the stored UAM document byte for byte, or the legacy record converted)
    /// or `legacy` (the `GET /audit` hit).
    format: Option<String>,
}

/// One event as UAM or as a legacy hit.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "The event's id"), FormatParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The event; `X-Trail-Unknown-Event-Type` is set when its auditPayload.type is not in the catalogue", content_type = "application/json"),
        (status = 400, description = "Bad format", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "AUDIT or data-source ownership needed", body = ErrorBody),
        (status = 404, description = "No such event (or outside the caller's data sources)", body = ErrorBody),
    ))]
pub async fn one_event(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let raw_query = raw_query.unwrap_or_default();
    let mut format = None;
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        if name != "format" {
            return Err(ApiError::param(
                &name,
                format!("unknown parameter '{name}'; this endpoint accepts format"),
            ));
        }
        match value.as_ref() {
            "uam" | "legacy" if format.is_none() => format = Some(value.into_owned()),
            "uam" | "legacy" => {
                return Err(ApiError::param(
                    "format",
                    "format was given more than once; give it at most once",
                ))
            }
            other => {
                return Err(ApiError::param(
                    "format",
                    format!("format must be uam or legacy, got '{other}'"),
                ))
            }
        }
    }
    let legacy = format.as_deref() == Some("legacy");
    let endpoint = "/v1/events/{id}";
    let scope = scope_of(&shared, &caller, endpoint).await?;
    shared.see_own_reads(&caller, None).await?;
    let event = shared.app.store.get(&id).await?;
    let visible = event.filter(|ev| match &scope {
        None => true,
        Some(owned) => trail_model::parse_event(&ev.document)
            .map(|d| d.data_sources.iter().any(|ds| owned.contains(&ds.id)))
            .unwrap_or(false),
    });
    let draft = query_draft(
        endpoint,
        &format!("id={id}&{raw_query}"),
        Some(u64::from(visible.is_some())),
    );
    shared.record_read(&caller.ctx, vec![draft]).await?;
    let ev = visible.ok_or_else(|| ApiError::NotFound(format!("no event with id '{id}'")))?;
    if legacy {
        let hit = LegacyHit::from_document(&ev.document).map_err(|e| {
            ApiError::Internal(format!("a stored document cannot be rendered: {e}"))
        })?;
        return Ok(Json(hit).into_response());
    }
    let (uam, as_stored) = uam_of(&ev)?;
    let body = if as_stored {
        ev.document.clone()
    } else {
        uam.to_string()
    };
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let unknown = uam
        .get("auditPayload")
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
        .filter(|t| !catalog::is_known_payload_type(t));
    if let Some(v) = unknown.and_then(|t| HeaderValue::from_str(t).ok()) {
        resp.headers_mut().insert("x-trail-unknown-event-type", v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_tampering_is_refused() {
        let c = encode_cursor(1234, 99);
        assert_eq!(decode_cursor(&c).unwrap(), (1234, 99));
        for bad in ["", "zz", "abc", &encode_cursor(5, 6), "7631", &c[..8]] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_split_between_index_and_documents() {
        let q = parse_events_query(
            "dataSourceId=3&eventType=SnowflakeQuery,TrinoQuery&actionStatus=FAILURE&q=Ssn&size=7",
        )
        .unwrap();
        assert_eq!(q.index.data_source_ids, vec![3]);
        assert_eq!(q.docs.event_types, vec!["SnowflakeQuery", "TrinoQuery"]);
        assert_eq!(q.docs.text.as_deref(), Some("ssn"));
        assert_eq!(q.size, 7);
        for (qs, p) in [
            ("actionStatus=OK", "actionStatus"),
            ("size=0", "size"),
            ("offset=1", "offset"),
            ("after=xyz", "after"),
            ("receivedFrom=soon", "receivedFrom"),
            ("q=", "q"),
            ("dataSourceId=x", "dataSourceId"),
            ("format=uam", "format"),
        ] {
            match parse_events_query(qs) {
                Err(ApiError::BadRequest {
                    parameter: Some(got),
                    ..
                }) => assert_eq!(got, p, "{qs}"),
                other => panic!("{qs}: {:?}", other.err()),
            }
        }
    }
}
