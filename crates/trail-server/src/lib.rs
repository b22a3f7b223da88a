//! Trail's HTTP service: the Immuta-compatible `GET /audit` search, event ingest, API keys and
//! users, health probes and the OpenAPI document.
//!
//! Architecture: handlers talk to storage only through `dyn AuditStore` and `dyn MetadataStore`
//! (see `trail-store`), so any backend can stand behind the same HTTP surface. Every response,
//! errors included, is JSON. Trail audits itself: searches, key and user changes and failed
//! authentications are appended as UAM events to the same store they describe (module
//! `selfaudit`).
//!
//! Modules, each for one concern:
//! - [`error`]: the one error type and its mapping to HTTP statuses and JSON bodies.
//! - `auth`: API-key authentication, permission checks, the failed-authentication rate limit.
//! - `params`: the `GET /audit` query string, parsed by hand so repeated parameters work.
//! - `audit`: `GET /audit`, `GET /audit/{recordId}`, `GET /audit/apikey/activity`,
//!   `GET /audit/queries/dataSource/{dataSourceId}/mine`.
//! - `ingest`: `POST /v1/events` in its body forms, gzip, the body-size limit.
//! - `ingest_lane`: the lower-priority runtime that ingest work runs on.
//! - `event_types`: `GET /v1/event-types`, the UAM catalogue.
//! - `events`: `GET /v1/events` (native UAM search with cursor pagination) and
//!   `GET /v1/events/{id}?format=uam|legacy`.
//! - `admin`: `/v1/keys`, `/v1/users`, `/v1/me`.
//! - `health`: `/healthz` and `/readyz`.
//! - `export_configs`: `/v1/export-configs` (scheduled exports, run by `trail-export`).
//! - `export`: `GET /v1/export`, the streaming, resumable export with its trailer.
//! - `selfaudit`: the UAM events Trail writes about itself.
//! - `timing`: `Server-Timing` headers (each phase's milliseconds, and every request's total).
//! - [`openapi`]: the generated OpenAPI document.

mod admin;
mod audit;
mod auth;
pub mod error;
mod event_types;
mod events;
pub mod export;
pub mod export_chain;
mod export_configs;
mod health;
mod ingest;
mod ingest_lane;
pub mod openapi;
mod params;
mod selfaudit;
mod timing;
pub use selfaudit::LocalAudit;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use trail_store::metadata::MIN_SECRET_LEN;
use trail_store::{AuditStore, MetadataStore, NewEvent, NewUser, Permission, StoreError};

pub use error::ApiError;
pub use ingest_lane::IngestPriority;

/// Everything the service needs: the event store, the metadata store and the configuration.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AuditStore>,
    pub meta: Arc<dyn MetadataStore>,
    pub config: ServerConfig,
    /// Scheduled exports (`/v1/export-configs`); `None` answers those endpoints with 404.
    pub exports: Option<Arc<trail_export::ExportService>>,
}

/// Tunables of the HTTP service.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes, after gzip decompression. Default 64 MiB.
    pub max_body_bytes: usize,
    /// Failed authentications audited per client IP per minute; the rest are counted, not
    /// written, so that a flood of bad keys cannot fill the disk. Default 10.
    pub failed_auth_audit_per_minute: u32,
    /// `tenantId` of the events Trail writes about itself. Default `trail`.
    pub tenant_id: String,
    /// Store UAM events whose `auditPayload.type` the catalogue does not know (counted in the
    /// ingest answer as `unknownEventTypes`) instead of refusing them. Default false.
    pub accept_unknown_event_types: bool,
    /// How the threads that parse and append `POST /v1/events` batches are scheduled against
    /// searches (Linux): under `SCHED_IDLE` (the default), a nice value below the service's,
    /// or at its own priority. See the `ingest_lane` module.
    pub ingest_priority: IngestPriority,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 64 << 20,
            failed_auth_audit_per_minute: 10,
            tenant_id: "trail".to_string(),
            accept_unknown_event_types: false,
            ingest_priority: IngestPriority::default(),
        }
    }
}

/// The state every handler shares: the public [`AppState`] plus the service's own bookkeeping.
pub(crate) struct Shared {
    pub(crate) app: AppState,
    pub(crate) failed_auth: auth::FailedAuthLimiter,
    /// Where ingest work runs (see `ingest_lane`).
    pub(crate) ingest_lane: ingest_lane::IngestLane,
    /// Each user's read records that searches may not see yet: sequence number and dimensions
    /// (see [`Shared::record_read`] and [`Shared::see_own_reads`]).
    pub(crate) own_reads:
        std::sync::Mutex<std::collections::HashMap<i64, Vec<(u64, trail_model::Dimensions)>>>,
}

pub(crate) type SharedState = Arc<Shared>;

/// The first administrator, created when the metadata store has no user at all.
#[derive(Clone, Debug)]
pub struct BootstrapAdmin {
    pub profile_id: i64,
    pub key_id: String,
    /// The API key's secret: print it once, it is not stored.
    pub secret: String,
    /// The self-audit of this creation (`UserCreated`, `ApiKeyCreated`, actor
    /// `trail-serve:<account>`, see [`LocalAudit`]), for the caller to append to the audit log.
    pub self_audit: Vec<NewEvent>,
}

/// Name of the bootstrap administrator and of its first key.
pub const BOOTSTRAP_USER_ID: &str = "admin";
const BOOTSTRAP_KEY_NAME: &str = "bootstrap";

/// If no user exists, creates user `admin` with AUDIT, INGEST and ADMIN and one API key: the
/// operator's `bootstrap_key` when given (imported, at least 32 characters), else a generated
/// one. Returns the new admin and its secret, or `None` when users already existed.
/// The events that record the creation, under `tenant_id`, are returned with it (`self_audit`):
/// `trail serve` appends them to its store.
pub async fn ensure_bootstrap_admin(
    meta: &dyn MetadataStore,
    tenant_id: &str,
    bootstrap_key: Option<&str>,
) -> Result<Option<BootstrapAdmin>, StoreError> {
    if !meta.list_users().await?.is_empty() {
        return Ok(None);
    }
    if let Some(secret) = bootstrap_key {
        if secret.len() < MIN_SECRET_LEN {
            return Err(StoreError::Invalid(format!(
                "the bootstrap API key (TRAIL_BOOTSTRAP_KEY) must be at least {MIN_SECRET_LEN} characters"
            )));
        }
    }
    let user = meta
        .create_user(NewUser {
            user_id: BOOTSTRAP_USER_ID.to_string(),
            email: None,
            name: "Administrator".to_string(),
            permissions: vec![Permission::Audit, Permission::Ingest, Permission::Admin],
            owned_data_sources: Vec::new(),
        })
        .await?;
    let (info, secret) = match bootstrap_key {
        Some(secret) => {
            let info = meta
                .import_key(user.profile_id, BOOTSTRAP_KEY_NAME, secret)
                .await?;
            (info, secret.to_string())
        }
        None => meta.create_key(user.profile_id, BOOTSTRAP_KEY_NAME).await?,
    };
    let local = LocalAudit::new(tenant_id, "trail-serve");
    let mut self_audit = local
        .user_created(&user)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    self_audit.extend(
        local
            .key_created(&info)
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
    );
    Ok(Some(BootstrapAdmin {
        profile_id: user.profile_id,
        key_id: info.id,
        secret,
        self_audit,
    }))
}

/// The complete application: every endpoint, `/openapi.json`, JSON 404/405 fallbacks and the
/// request-id/logging middleware.
pub fn router(state: AppState) -> Router {
    let shared: SharedState = Arc::new(Shared {
        failed_auth: auth::FailedAuthLimiter::new(state.config.failed_auth_audit_per_minute),
        own_reads: Default::default(),
        ingest_lane: ingest_lane::IngestLane::new(state.config.ingest_priority),
        app: state,
    });
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve_openapi))
        .route("/audit", get(audit::search))
        .route("/audit/apikey/activity", get(audit::key_activity))
        .route("/audit/{recordId}", get(audit::one_record))
        .route(
            "/audit/queries/dataSource/{dataSourceId}/mine",
            get(audit::my_queries),
        )
        .route("/v1/events", post(ingest::ingest).get(events::search))
        .route("/v1/events/{id}", get(events::one_event))
        .route("/v1/event-types", get(event_types::event_types))
        .route("/v1/keys", post(admin::create_key).get(admin::list_keys))
        .route("/v1/keys/{id}", delete(admin::revoke_key))
        .route("/v1/users", get(admin::list_users).post(admin::create_user))
        .route(
            "/v1/users/{profileId}",
            get(admin::get_user).put(admin::replace_user),
        )
        .route("/v1/me", get(admin::me))
        .route(
            "/v1/export-configs",
            get(export_configs::list).post(export_configs::create),
        )
        .route(
            "/v1/export-configs/{id}",
            get(export_configs::get_one)
                .put(export_configs::replace)
                .delete(export_configs::remove),
        )
        .route("/v1/export-configs/{id}/run", post(export_configs::run))
        .route("/v1/export-configs/{id}/runs", get(export_configs::runs))
        .route("/v1/export", get(export::export))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(request_context))
        .with_state(shared)
}

/// Serves `router(state)` on `listener` until `shutdown` resolves, then finishes in-flight
/// requests, lets export runs in progress stop at an object boundary (at most
/// [`trail_export::SHUTDOWN_GRACE`]) and closes the store (making everything written durable).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let exports = state.exports.clone();
    let exports_on_signal = exports.clone();
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        if let Some(x) = exports_on_signal {
            x.begin_shutdown();
        }
    })
    .await?;
    if let Some(x) = exports {
        x.shutdown(trail_export::SHUTDOWN_GRACE).await;
    }
    store
        .close()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The request id of one request: the client's `X-Request-Id` when it is short and printable,
/// else a new UUID. It is echoed in the response and written into self-audit events.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(selfaudit::uuid_v4);
    req.extensions_mut().insert(RequestId(id.clone()));
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let carries_body = req.version() == axum::http::Version::HTTP_11
        && (req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0"));
    let started = Instant::now();
    let mut resp = next.run(req).await;
    let took = started.elapsed();
    if let Ok(v) = HeaderValue::from_str(&timing::entry("total", took)) {
        resp.headers_mut().append(timing::SERVER_TIMING.clone(), v);
    }
    // A request refused before its body was read (bad key, bad encoding) leaves the rest of
    // the body unread; hyper then drops the connection after the response. Saying so lets a
    // pooling client open a new connection instead of reusing a closing one.
    if carries_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    tracing::info!(
        %method,
        path,
        status = resp.status().as_u16(),
        elapsed_ms = took.as_millis() as u64,
        request_id = id,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no endpoint at {}; see /openapi.json for the API",
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not supported on {}; see /openapi.json for the API",
        req.method(),
        req.uri().path()
    ))
}
