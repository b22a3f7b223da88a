//! Scheduled exports over HTTP: `/v1/export-configs` (Immuta's `exportConfig`), on-demand runs
//! and the run history. The export logic lives in `trail-export`; this module only maps HTTP to
//! it and back.
//!
//! Permissions: reading configurations and runs, and starting a run, need AUDIT (an export is a
//! copy of the whole audit trail). Creating, replacing and deleting a configuration need AUDIT
//! and ADMIN: a configuration names where the audit trail goes and holds credentials.
//! Credentials are never echoed: every answer shows the access key id's first four characters
//! and `****` for the secret.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use trail_export::{
    ConfigInput, ExportConfig, ExportError, ExportService, ExportState, RunRecord, Trigger,
};
use trail_store::Permission;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::ingest::read_body;
use crate::selfaudit::Draft;
use crate::SharedState;

const BODY_LIMIT: usize = 1 << 20;
const RUNS_LISTED: usize = 100;

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::Invalid { field, reason } => {
                ApiError::body_field(&field, format!("{field}: {reason}"))
            }
            ExportError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ExportError::Conflict(m) => ApiError::Conflict(m),
            ExportError::ShuttingDown => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn service(shared: &SharedState) -> Result<&std::sync::Arc<ExportService>, ApiError> {
    shared.app.exports.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "scheduled exports are not enabled on this server (it runs without an export database)"
                .into(),
        )
    })
}

fn config_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(id)
}

async fn input(headers: &HeaderMap, body: Body) -> Result<ConfigInput, ApiError> {
    let bytes = read_body(headers, body, BODY_LIMIT).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid export configuration: {e}; expected {{\"name\", \"interval\": \"EVERY_2_HOURS\"|...|\"EVERY_24_HOURS\"|\"CUSTOM\", \"customIntervalSeconds\", \"enabled\", \"target\": {{\"type\": \"directory\"|\"s3\", ...}}, \"filter\", \"maxEventsPerObject\"}}"
        ))
    })
}

/// A configuration as every answer shows it: credentials masked, with its export state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportConfigView {
    #[serde(flatten)]
    pub config: ExportConfig,
    /// How far the target is complete and when the next run is due (absent if unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ExportState>,
}

fn view(svc: &ExportService, c: &ExportConfig) -> ExportConfigView {
    ExportConfigView {
        config: c.masked(),
        state: svc.state(&c.id).ok(),
    }
}

fn audited(event: &'static str, action: &'static str, c: &ExportConfig) -> Draft {
    Draft::new(event, action, "EXPORT_CONFIG")
        .with("exportConfigId", c.id.clone())
        .with("name", c.input.name.clone())
        .target(json!({"type": "EXPORT_CONFIG", "id": c.id, "name": c.input.name}))
}

/// `GET /v1/export-configs` (AUDIT).
#[utoipa::path(get, path = "/v1/export-configs", tag = "exports", security(("apiKey" = [])),
    responses(
        (status = 200, description = "Every configuration, credentials masked, with its export state", body = Vec<ExportConfigView>),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT", body = ErrorBody),
        (status = 404, description = "Exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn list(
    State(shared): State<SharedState>,
    caller: Caller,
) -> Result<Json<Vec<ExportConfigView>>, ApiError> {
    caller.require(Permission::Audit, "reading export configurations")?;
    let svc = service(&shared)?;
    Ok(Json(svc.list()?.iter().map(|c| view(svc, c)).collect()))
}

/// `POST /v1/export-configs` (AUDIT and ADMIN).
#[utoipa::path(post, path = "/v1/export-configs", tag = "exports", request_body = ConfigInput,
    security(("apiKey" = [])),
    responses(
        (status = 201, description = "Created; its first scheduled run is one interval away", body = ExportConfigView),
        (status = 400, description = "Invalid configuration; `field` names the member at fault", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT and ADMIN", body = ErrorBody),
        (status = 404, description = "Exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn create(
    State(shared): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ExportConfigView>), ApiError> {
    caller.require(Permission::Audit, "creating export configurations")?;
    caller.require(Permission::Admin, "creating export configurations")?;
    let svc = service(&shared)?;
    let c = svc.create(input(&headers, body).await?, Some(caller.user.profile_id))?;
    shared
        .record_after_the_fact(
            &caller.ctx,
            vec![audited("ExportConfigCreated", "CREATE", &c)],
        )
        .await;
    Ok((StatusCode::CREATED, Json(view(svc, &c))))
}

/// `GET /v1/export-configs/{id}` (AUDIT).
#[utoipa::path(get, path = "/v1/export-configs/{id}", tag = "exports", security(("apiKey" = [])),
    params(("id" = String, Path, description = "Export configuration id")),
    responses(
        (status = 200, description = "The configuration, credentials masked, with its export state", body = ExportConfigView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT", body = ErrorBody),
        (status = 404, description = "No such configuration, or exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn get_one(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ExportConfigView>, ApiError> {
    caller.require(Permission::Audit, "reading export configurations")?;
    let svc = service(&shared)?;
    Ok(Json(view(svc, &svc.get(&config_id(id)?)?)))
}

/// `PUT /v1/export-configs/{id}` (AUDIT and ADMIN): replaces the fields.
#[utoipa::path(put, path = "/v1/export-configs/{id}", tag = "exports", request_body = ConfigInput,
    security(("apiKey" = [])),
    params(("id" = String, Path, description = "Export configuration id")),
    responses(
        (status = 200, description = "Replaced; what was exported stays exported", body = ExportConfigView),
        (status = 400, description = "Invalid configuration; `field` names the member at fault", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT and ADMIN", body = ErrorBody),
        (status = 404, description = "No such configuration, or exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn replace(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ExportConfigView>, ApiError> {
    caller.require(Permission::Audit, "changing export configurations")?;
    caller.require(Permission::Admin, "changing export configurations")?;
    let svc = service(&shared)?;
    let id = config_id(id)?;
    let c = svc.update(
        &id,
        input(&headers, body).await?,
        Some(caller.user.profile_id),
    )?;
    shared
        .record_after_the_fact(
            &caller.ctx,
            vec![audited("ExportConfigUpdated", "UPDATE", &c)],
        )
        .await;
    Ok(Json(view(svc, &c)))
}

/// `DELETE /v1/export-configs/{id}` (AUDIT and ADMIN). What was exported stays in the target.
#[utoipa::path(delete, path = "/v1/export-configs/{id}", tag = "exports", security(("apiKey" = [])),
    params(("id" = String, Path, description = "Export configuration id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT and ADMIN", body = ErrorBody),
        (status = 404, description = "No such configuration, or exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn remove(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::Audit, "deleting export configurations")?;
    caller.require(Permission::Admin, "deleting export configurations")?;
    let svc = service(&shared)?;
    let id = config_id(id)?;
    let c = svc.get(&id)?;
    svc.delete(&id)?;
    shared
        .record_after_the_fact(
            &caller.ctx,
            vec![audited("ExportConfigDeleted", "DELETE", &c)],
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/export-configs/{id}/run` (AUDIT): starts (or resumes a failed) run now; answers
/// 202 with the run as started. Poll `/runs` for its end. 409 when one is already running.
#[utoipa::path(post, path = "/v1/export-configs/{id}/run", tag = "exports", security(("apiKey" = [])),
    params(("id" = String, Path, description = "Export configuration id")),
    responses(
        (status = 202, description = "Started (or resumed); poll `/runs` for its end", body = RunRecord),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT", body = ErrorBody),
        (status = 404, description = "No such configuration, or exports not enabled on this server", body = ErrorBody),
        (status = 409, description = "A run of this configuration is in progress", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ))]
pub async fn run(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, Json<RunRecord>), ApiError> {
    caller.require(Permission::Audit, "running exports")?;
    let svc = service(&shared)?;
    let r = svc.start_run(&config_id(id)?, Trigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(r)))
}

/// `GET /v1/export-configs/{id}/runs` (AUDIT): the last 100 runs, newest first, with tasks.
#[utoipa::path(get, path = "/v1/export-configs/{id}/runs", tag = "exports", security(("apiKey" = [])),
    params(("id" = String, Path, description = "Export configuration id")),
    responses(
        (status = 200, description = "The last 100 runs, newest first, with their tasks", body = Vec<RunRecord>),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "Needs AUDIT", body = ErrorBody),
        (status = 404, description = "No such configuration, or exports not enabled on this server", body = ErrorBody),
    ))]
pub async fn runs(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<RunRecord>>, ApiError> {
    caller.require(Permission::Audit, "reading export runs")?;
    let svc = service(&shared)?;
    Ok(Json(svc.runs(&config_id(id)?, RUNS_LISTED)?))
}
