//! `GET /v1/event-types`: the UAM catalogue as JSON, so that producers and tools can see which
//! events Trail accepts, their payload members and allowed values, and how each maps to the
//! legacy record types of `GET /audit`. The document is `trail_model::docs::catalog_json`, the
//! same source as docs/events.md and ingest validation.

use axum::Json;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::ErrorBody;

/// The UAM event catalogue.
#[utoipa::path(get, path = "/v1/event-types", tag = "events",
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Every UAM event (name, description, actions, targetTypes, payloadType, versions, members with allowed values, legacyRecordTypes, discriminator, note), the legacy-only record types, the ambiguous legacy types with the UAM event each converts to, and the resolutions of the seed's errors", content_type = "application/json"),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn event_types(_caller: Caller) -> Json<Value> {
    Json(trail_model::docs::catalog_json())
}
