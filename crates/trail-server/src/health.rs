//! Probes for orchestrators: `/healthz` says the process answers, `/readyz` that the store does.
//! Neither needs a key.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{self, ApiError};
use crate::SharedState;

/// `GET /healthz` and `GET /readyz` bodies.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    pub status: String,
    /// Events stored (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_string(),
        events: None,
    })
}

/// Readiness: the store answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "The store answers", body = Health),
        (status = 503, description = "The store does not answer", body = error::ErrorBody),
    ))]
pub async fn readyz(State(shared): State<SharedState>) -> Response {
    match shared.app.store.stats().await {
        Ok(stats) => Json(Health {
            status: "ready".to_string(),
            events: Some(stats.events),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::Unavailable("the store is not ready; the server log says why".to_string())
                .into_response()
        }
    }
}
