//! The Immuta-compatible read API: `GET /audit` (search), `GET /audit/{recordId}` (one record),
//! `GET /audit/apikey/activity` (what Trail recorded about the calling key's user) and
//! `GET /audit/queries/dataSource/{dataSourceId}/mine` (the caller's distinct queries on one
//! data source).
//!
//! Who may read: users with AUDIT see everything; a user who owns data sources but lacks AUDIT
//! sees only records touching those sources (hits, count, dates and every facet are computed
//! over that scope by the store); anyone else gets 403, which is itself audited.
//!
//! The response shape is the seed's, member for member and in its order: `hits` (legacy hits,
//! rendered by [`trail_model::LegacyHit`]), `facets` (`datasources`, `projects`, `recordTypes`,
//! `users`, `outcomes`; counts as JSON strings), `minDate`/`maxDate` (ISO-8601 with milliseconds
//! and `Z`, or null when nothing matched) and `count` (a number).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use trail_model::query_payload::query_text_of;
use trail_model::timefmt::format_iso_ms;
use trail_model::{
    catalog, EventForm, FacetEntry, LegacyHit, NameCount, SearchAnswer, SearchQuery,
};
use trail_store::Permission;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::params::{parse_audit_query, parse_page};
use crate::selfaudit::{Draft, SELF_AUDIT_RECORD_TYPES};
use crate::timing::Phases;
use crate::SharedState;

/// The answer of `GET /audit`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditResponse {
    #[schema(value_type = Vec<Hit>)]
    pub hits: Vec<LegacyHit>,
    pub facets: FacetsView,
    /// Time of the oldest matching record, ISO-8601 UTC with milliseconds; null when none match.
    #[schema(example = "2021-09-09T13:47:30.914Z")]
    pub min_date: Option<String>,
    /// Time of the newest matching record; null when none match.
    #[schema(example = "2021-10-13T17:06:13.832Z")]
    pub max_date: Option<String>,
    /// How many records match (all pages).
    pub count: u64,
}

/// One legacy audit record (documentation of [`trail_model::LegacyHit`]'s JSON form).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Hit {
    /// Event time, epoch milliseconds as a string.
    #[schema(example = "1634144773832")]
    date_time: String,
    data_source_name: Option<String>,
    project_name: Option<String>,
    #[schema(example = "auditQuery")]
    record_type: String,
    blob_id: Option<String>,
    user_id: Option<String>,
    /// Integer; -1 for system actors.
    profile_id: Option<i64>,
    purpose_ids: Option<Vec<i64>>,
    success: Option<bool>,
    failure_reason: Option<String>,
    warning: Option<bool>,
    id: String,
    fingerprint_version_name: Option<String>,
    email: Option<String>,
}

/// The five facets, in the seed's member order. Each lists at most 25 entries, by count
/// descending (ties: id or name ascending).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FacetsView {
    pub datasources: Vec<IdFacet>,
    pub projects: Vec<IdFacet>,
    pub record_types: Vec<NameFacet>,
    pub users: Vec<IdFacet>,
    pub outcomes: Vec<NameFacet>,
}

/// A facet entry keyed by id (data sources, projects, users).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdFacet {
    pub name: Option<String>,
    pub id: i64,
    /// The count, as a JSON string (as Immuta writes it).
    #[schema(example = "150")]
    pub count: String,
}

/// A facet entry keyed by name (record types, outcomes).
#[derive(Debug, Serialize, ToSchema)]
pub struct NameFacet {
    pub name: String,
    /// The count, as a JSON string (as Immuta writes it).
    #[schema(example = "99")]
    pub count: String,
}

fn id_facets(entries: Vec<FacetEntry>) -> Vec<IdFacet> {
    entries
        .into_iter()
        .map(|e| IdFacet {
            name: e.name,
            id: e.id,
            count: e.count.to_string(),
        })
        .collect()
}

fn name_facets(entries: Vec<NameCount>) -> Vec<NameFacet> {
    entries
        .into_iter()
        .map(|e| NameFacet {
            name: e.name,
            count: e.count.to_string(),
        })
        .collect()
}

fn render_hit(document: &str) -> Result<LegacyHit, ApiError> {
    LegacyHit::from_document(document)
        .map_err(|e| ApiError::Internal(format!("a stored document cannot be rendered: {e}")))
}

impl AuditResponse {
    fn from_answer(answer: SearchAnswer) -> Result<AuditResponse, ApiError> {
        let hits = answer
            .hits
            .iter()
            .map(|h| render_hit(&h.document))
            .collect::<Result<Vec<_>, _>>()?;
        let f = answer.facets;
        Ok(AuditResponse {
            hits,
            facets: FacetsView {
                datasources: id_facets(f.datasources),
                projects: id_facets(f.projects),
                record_types: name_facets(f.record_types),
                users: id_facets(f.users),
                outcomes: name_facets(f.outcomes),
            },
            min_date: answer.min_time_ms.map(format_iso_ms),
            max_date: answer.max_time_ms.map(format_iso_ms),
            count: answer.count,
        })
    }
}

/// Documentation of `GET /audit`'s query parameters (they are parsed by [`crate::params`]).
/// Array parameters may be repeated or given as comma lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditParams {
    /// Records of these data sources (array of integers).
    #[param(rename = "dataSourceId", style = Form, explode)]
    data_source_id: Option<Vec<i64>>,
    /// Records of these projects (array of integers).
    #[param(rename = "projectId", style = Form, explode)]
    project_id: Option<Vec<i64>>,
    /// Records of these users (array of profile ids).
    #[param(rename = "profileId", style = Form, explode)]
    profile_id: Option<Vec<i64>>,
    /// Records of these record types (e.g. `auditQuery`, `sqlQuery`).
    #[param(rename = "recordType", style = Form, explode)]
    record_type: Option<Vec<String>>,
    /// Records with these outcomes: success, userError, systemError,
    /// insufficientAuthorizations, failure, insufficientPermissions.
    #[param(style = Form, explode)]
    outcome: Option<Vec<String>>,
    /// Oldest record time, inclusive: a date (`2024-06-12`, start of that day UTC), an ISO-8601
    /// timestamp (`2024-06-12T10:00:00.000Z`; without a zone it is UTC) or epoch milliseconds.
    #[param(rename = "minDate")]
    min_date: Option<String>,
    /// Newest record time, inclusive: as minDate, except that a date means the END of that day
    /// (23:59:59.999 UTC).
    #[param(rename = "maxDate")]
    max_date: Option<String>,
    /// Records of this blob.
    #[param(rename = "blobId")]
    blob_id: Option<String>,
    /// Records whose purposeIds contain this purpose id.
    purpose: Option<i64>,
    /// Records to skip (for paging); any size.
    #[param(minimum = 0, default = 0)]
    offset: Option<u64>,
    /// Records per page, 0 to 10000.
    #[param(minimum = 0, maximum = 10000, default = 50)]
    size: Option<u32>,
    /// Sort field: only `dateTime`.
    #[param(rename = "sortField", default = "dateTime")]
    sort_field: Option<String>,
    /// `asc` or `desc` (ties in commit order, in the same direction).
    #[param(rename = "sortOrder", default = "desc")]
    sort_order: Option<String>,
}

/// Documentation of the activity endpoint's paging parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Records to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<u64>,
    /// Records per page, 0 to 10000.
    #[param(minimum = 0, maximum = 10000, default = 50)]
    size: Option<u32>,
}

/// The caller's data-owner scope: `None` with AUDIT, the owned sources without it; 403 (audited)
/// for a caller with neither. A reader then calls `Shared::see_own_reads` before reading.
pub(crate) async fn scope_of(
    shared: &SharedState,
    caller: &Caller,
    endpoint: &str,
) -> Result<Option<Vec<i64>>, ApiError> {
    let scope = if caller.user.has(Permission::Audit) {
        None
    } else if !caller.user.owned_data_sources.is_empty() {
        Some(caller.user.owned_data_sources.clone())
    } else {
        let err = ApiError::Forbidden {
            permission: Some("AUDIT"),
            message: "reading the audit log needs the AUDIT permission or ownership of a data source; ask an administrator".to_string(),
        };
        let draft = query_draft(endpoint, "", None).status("UNAUTHORIZED", err.to_string());
        shared.record_after_the_fact(&caller.ctx, vec![draft]).await;
        return Err(err);
    };
    Ok(scope)
}

pub(crate) fn query_draft(endpoint: &str, query: &str, result_count: Option<u64>) -> Draft {
    Draft::new("AuditQuery", "QUERY", "AUDIT")
        .with("endpoint", endpoint)
        .with("query", query)
        .with("resultCount", result_count.map_or(Value::Null, Value::from))
}

/// Answers `query` and durably records that the caller ran it; `phases` gets `search` (the
/// store's answer), `render` (hits as legacy records) and `audit` (the durable record).
async fn answer_and_audit(
    shared: &SharedState,
    caller: &Caller,
    endpoint: &str,
    raw_query: &str,
    query: SearchQuery,
    phases: &mut Phases,
) -> Result<AuditResponse, ApiError> {
    let scope = query.scope.clone();
    let answer = shared.app.store.search(query).await?;
    phases.lap("search");
    let response = AuditResponse::from_answer(answer)?;
    phases.lap("render");
    let mut draft = query_draft(endpoint, raw_query, Some(response.count));
    if let Some(owned) = scope {
        draft = draft.with("scope", owned);
    }
    shared.record_read(&caller.ctx, vec![draft]).await?;
    phases.lap("audit");
    Ok(response)
}

/// Searches the audit log (Immuta's `GET /audit`).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Matching records, facets, date range and count", body = AuditResponse),
        (status = 400, description = "Unknown parameter or bad value; `parameter` names it", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Neither AUDIT nor ownership of a data source", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
pub async fn search(
    State(shared): State<SharedState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<(Phases, Json<AuditResponse>), ApiError> {
    let mut phases = Phases::start();
    phases.before("auth", caller.authenticated_in);
    let raw = raw.unwrap_or_default();
    let mut query = parse_audit_query(&raw)?;
    query.scope = scope_of(&shared, &caller, "/audit").await?;
    shared.see_own_reads(&caller, Some(&query)).await?;
    phases.lap("own");
    let response = answer_and_audit(&shared, &caller, "/audit", &raw, query, &mut phases).await?;
    Ok((phases, Json(response)))
}

/// One audit record by its id (Immuta's `GET /audit/{recordId}`).
#[utoipa::path(get, path = "/audit/{recordId}", tag = "audit",
    params(("recordId" = String, Path, description = "The record's `id`")),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The record as a legacy hit", body = Hit),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Neither AUDIT nor ownership of a data source", body = ErrorBody),
        (status = 404, description = "No such record (or outside the caller's data sources)", body = ErrorBody),
    ))]
pub async fn one_record(
    State(shared): State<SharedState>,
    caller: Caller,
    record_id: Result<Path<String>, PathRejection>,
) -> Result<Json<LegacyHit>, ApiError> {
    let Path(record_id) = record_id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let endpoint = "/audit/{recordId}";
    let scope = scope_of(&shared, &caller, endpoint).await?;
    shared.see_own_reads(&caller, None).await?;
    let not_found = || ApiError::NotFound(format!("no audit record with id '{record_id}'"));
    let event = shared.app.store.get(&record_id).await?;
    let visible = event.filter(|ev| match &scope {
        None => true,
        Some(owned) => trail_model::parse_event(&ev.document)
            .map(|d| d.data_sources.iter().any(|ds| owned.contains(&ds.id)))
            .unwrap_or(false),
    });
    let hit = visible.map(|ev| render_hit(&ev.document)).transpose()?;
    let found = u64::from(hit.is_some());
    let draft = query_draft(endpoint, &format!("recordId={record_id}"), Some(found));
    shared.record_read(&caller.ctx, vec![draft]).await?;
    hit.map(Json).ok_or_else(not_found)
}

/// What Trail recorded about the calling key's user: its searches, key and user changes,
/// newest first (Immuta's `GET /audit/apikey/activity`). Any authenticated caller.
#[utoipa::path(get, path = "/audit/apikey/activity", tag = "audit", params(PageParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The caller's recent activity, in the shape of GET /audit", body = AuditResponse),
        (status = 400, description = "Bad paging parameter", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn key_activity(
    State(shared): State<SharedState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<(Phases, Json<AuditResponse>), ApiError> {
    let mut phases = Phases::start();
    phases.before("auth", caller.authenticated_in);
    let raw = raw.unwrap_or_default();
    let (offset, size) = parse_page(&raw)?;
    let query = SearchQuery {
        profile_ids: vec![caller.user.profile_id],
        record_types: SELF_AUDIT_RECORD_TYPES.map(String::from).to_vec(),
        offset,
        size,
        ..SearchQuery::new()
    };
    shared.see_own_reads(&caller, Some(&query)).await?;
    phases.lap("own");
    let endpoint = "/audit/apikey/activity";
    let response = answer_and_audit(&shared, &caller, endpoint, &raw, query, &mut phases).await?;
    Ok((phases, Json(response)))
}

/// The answer of `GET /audit/queries/dataSource/{dataSourceId}/mine`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyQueriesResponse {
    pub data_source_id: i64,
    /// This page of the caller's distinct queries, the most recently run first (ties: the later
    /// committed run first).
    pub queries: Vec<MyQuery>,
    /// How many distinct queries there are (all pages).
    pub count: u64,
    /// How many query records they were counted from.
    pub runs: u64,
}

/// One distinct query: records of one record type with the same SQL text.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyQuery {
    /// The SQL text (`auditPayload.queryText`); null for records that carry none (legacy query
    /// records), which are counted together per record type.
    pub query: Option<String>,
    #[schema(example = "SnowflakeQuery")]
    pub record_type: String,
    /// How many times it ran.
    pub runs: u64,
    /// Time of the first run, ISO-8601 UTC with milliseconds.
    #[schema(example = "2024-03-02T09:15:00.000Z")]
    pub first_run: String,
    /// Time of the latest run.
    pub last_run: String,
    /// The `id` of the latest run's record (for `GET /audit/{recordId}`).
    pub last_record_id: String,
    /// The latest run's outcome: success, failure, insufficientAuthorizations, ...
    #[schema(example = "success")]
    pub last_outcome: String,
}

/// What one group of runs has gathered so far.
struct QueryRuns {
    runs: u64,
    first_ms: i64,
    latest: LatestRun,
}

/// The latest run of a group: the latest in event time, the later committed on a tie.
struct LatestRun {
    time_ms: i64,
    seq: u64,
    record_id: String,
    outcome: &'static str,
}

/// Query records are read in pages of this many while the runs are grouped.
const MY_QUERIES_SCAN_PAGE: usize = 10_000;

/// The caller's own queries on one data source, grouped into distinct queries (Immuta's
/// `GET /audit/queries/dataSource/{dataSourceId}/mine`). Any authenticated caller: only records
/// whose `profileId` is the caller's are read. Query records are those of
/// `SnowflakeQuery`, `DatabricksQuery`, `TrinoQuery` and the legacy `nativeQuery`, `spark`,
/// `prestoQuery` and `sqlQuery`; all of one snapshot of the log are grouped.
#[utoipa::path(get, path = "/audit/queries/dataSource/{dataSourceId}/mine", tag = "audit",
    params(("dataSourceId" = i64, Path, description = "The data source's id"), PageParams),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The caller's distinct queries on the data source", body = MyQueriesResponse),
        (status = 400, description = "dataSourceId not an integer, or a bad paging parameter; `parameter` names it", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn my_queries(
    State(shared): State<SharedState>,
    caller: Caller,
    data_source_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MyQueriesResponse>, ApiError> {
    let Path(data_source_id) = data_source_id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let data_source_id: i64 = data_source_id.parse().map_err(|_| {
        ApiError::param(
            "dataSourceId",
            format!("`{data_source_id}` is not an integer data source id"),
        )
    })?;
    let raw = raw.unwrap_or_default();
    let (offset, size) = parse_page(&raw)?;
    let filter = SearchQuery {
        data_source_ids: vec![data_source_id],
        profile_ids: vec![caller.user.profile_id],
        record_types: catalog::query_record_types()
            .into_iter()
            .map(String::from)
            .collect(),
        ..SearchQuery::new()
    };
    // Its filter never admits a read record, so this waits only to bound the caller's list of
    // pending read records, which every read adds to.
    shared.see_own_reads(&caller, Some(&filter)).await?;
    let store = &shared.app.store;
    let up_to = store.stats().await?.last_seq;
    let mut groups: HashMap<(Option<String>, String), QueryRuns> = HashMap::new();
    let mut after = 0;
    let mut runs = 0;
    loop {
        let page = store
            .scan_matching(filter.clone(), after, up_to, MY_QUERIES_SCAN_PAGE)
            .await?;
        for event in &page {
            let dims = trail_model::parse_event(&event.document).map_err(|e| {
                ApiError::Internal(format!("stored event {} cannot be read: {e}", event.seq))
            })?;
            runs += 1;
            // A legacy record has no auditPayload, so no text to read.
            let text = match dims.form {
                EventForm::Uam => query_text_of(&event.document),
                EventForm::Legacy => None,
            };
            let key = (text, dims.record_type);
            let latest = LatestRun {
                time_ms: event.event_time_ms,
                seq: event.seq,
                record_id: dims.id,
                outcome: dims.outcome.as_str(),
            };
            match groups.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(QueryRuns {
                        runs: 1,
                        first_ms: latest.time_ms,
                        latest,
                    });
                }
                Entry::Occupied(mut slot) => {
                    let group = slot.get_mut();
                    group.runs += 1;
                    group.first_ms = group.first_ms.min(latest.time_ms);
                    // Pages come in commit order, so a later run wins a tie in time.
                    if latest.time_ms >= group.latest.time_ms {
                        group.latest = latest;
                    }
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == MY_QUERIES_SCAN_PAGE => after = last.seq,
            _ => break,
        }
    }
    let mut distinct: Vec<_> = groups.into_iter().collect();
    distinct.sort_unstable_by_key(|(_, group)| {
        std::cmp::Reverse((group.latest.time_ms, group.latest.seq))
    });
    let count = distinct.len() as u64;
    let queries = distinct
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(size)
        .map(|((query, record_type), group)| MyQuery {
            query,
            record_type,
            runs: group.runs,
            first_run: format_iso_ms(group.first_ms),
            last_run: format_iso_ms(group.latest.time_ms),
            last_record_id: group.latest.record_id,
            last_outcome: group.latest.outcome.to_string(),
        })
        .collect();
    let endpoint = "/audit/queries/dataSource/{dataSourceId}/mine";
    let audited_query = if raw.is_empty() {
        format!("dataSourceId={data_source_id}")
    } else {
        format!("dataSourceId={data_source_id}&{raw}")
    };
    let draft = query_draft(endpoint, &audited_query, Some(count));
    shared.record_read(&caller.ctx, vec![draft]).await?;
    Ok(Json(MyQueriesResponse {
        data_source_id,
        queries,
        count,
        runs,
    }))
}
