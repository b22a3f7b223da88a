//! The OpenAPI 3.1 document of the service, generated from the handlers' `#[utoipa::path]`
//! annotations and the request/response types, and served at `GET /openapi.json`, so that the
//! published contract cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{admin, audit, error, event_types, events, export, export_configs, health, ingest};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trail",
        description = "Open-source audit-log service, wire-compatible with Immuta's audit API. Authenticate with `Authorization: <key>` or `Authorization: Bearer <key>`. Every error body is JSON with an `error` code and a `message`."
    ),
    paths(
        health::healthz,
        health::readyz,
        audit::search,
        audit::one_record,
        audit::key_activity,
        audit::my_queries,
        export::export,
        ingest::ingest,
        events::search,
        events::one_event,
        event_types::event_types,
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        admin::list_users,
        admin::create_user,
        admin::get_user,
        admin::replace_user,
        admin::me,
        export_configs::list,
        export_configs::create,
        export_configs::get_one,
        export_configs::replace,
        export_configs::remove,
        export_configs::run,
        export_configs::runs,
        serve_openapi,
    ),
    components(schemas(
        health::Health,
        error::ErrorBody,
        audit::AuditResponse,
        audit::Hit,
        audit::FacetsView,
        audit::IdFacet,
        audit::NameFacet,
        audit::MyQueriesResponse,
        audit::MyQuery,
        ingest::IngestResponse,
        events::EventsPage,
        events::UamFacets,
        events::FacetCount,
        admin::PermissionName,
        admin::UserView,
        admin::KeyView,
        admin::CreateKeyRequest,
        admin::CreatedKey,
        admin::UserRequest,
        admin::Me,
        export_configs::ExportConfigView,
        trail_export::ConfigInput,
        trail_export::ExportConfig,
        trail_export::ExportState,
        trail_export::TargetSpec,
        trail_export::Filter,
        trail_export::IntervalName,
        trail_export::RunRecord,
        trail_export::TaskRecord,
        trail_export::Status,
        trail_export::Trigger,
    )),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "audit", description = "Immuta-compatible audit search"),
        (name = "ingest", description = "Writing events"),
        (name = "events", description = "Native UAM events: search, one event, the catalogue"),
        (name = "keys", description = "API keys"),
        (name = "users", description = "Users and permissions"),
        (name = "health", description = "Probes"),
        (name = "exports", description = "Scheduled exports to a directory or an S3-compatible bucket"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Declares the `apiKey` security scheme: the key in the `Authorization` header.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The API key itself, or `Bearer <key>`",
            ))),
        );
    }
}

/// The OpenAPI document of this service.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn serve_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
