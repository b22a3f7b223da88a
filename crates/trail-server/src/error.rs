//! The one error type of the HTTP service, so that every failure, whatever its origin, becomes a
//! JSON body with a stable `error` code, a status that fits, and a message that says what to do.
//!
//! Internal failures are logged in full with `tracing` and answered with a short message only:
//! paths, backend details and the like never reach a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use trail_store::StoreError;
use utoipa::ToSchema;

/// Every error the service answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request parameter or body is malformed (400 `bad_request`).
    #[error("{message}")]
    BadRequest {
        /// The offending query parameter, when there is one.
        parameter: Option<String>,
        /// JSON path of the offending body member, when there is one.
        field: Option<String>,
        message: String,
    },
    /// An ingested event failed validation; nothing was stored (400 `invalid_event`).
    #[error("event {index:?} field `{field}`: {message}")]
    InvalidEvent {
        /// Zero-based position of the event in the batch, when it is known.
        index: Option<usize>,
        /// One-based line of an NDJSON body.
        line: Option<usize>,
        field: String,
        message: String,
    },
    /// No valid API key (401 `unauthorized`).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed (403 `forbidden`).
    #[error("{message}")]
    Forbidden {
        /// The permission that would allow it, when one would.
        permission: Option<&'static str>,
        message: String,
    },
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// The body is over [`crate::ServerConfig::max_body_bytes`] (413 `payload_too_large`).
    #[error("the request body is larger than the limit of {limit} bytes (after decompression); split the batch into smaller requests")]
    PayloadTooLarge { limit: usize },
    /// 415 `unsupported_media_type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The storage backend is unavailable (503 `unavailable`).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected backend failure (500 `internal`); the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response. Only the members that apply are present.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code: `bad_request`, `invalid_event`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `unavailable`, `internal`.
    pub error: &'static str,
    /// The query parameter at fault (`bad_request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Zero-based index of the invalid event in the batch (`invalid_event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// One-based line of the invalid event in an NDJSON body (`invalid_event`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// JSON path of the invalid member: of the event (`invalid_event`), e.g. `dateTime`,
    /// `actor.profileId`, or of the request body (`bad_request`), e.g. `target.bucket`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The permission needed (`forbidden`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<&'static str>,
    /// The body-size limit in bytes (`payload_too_large`).
    #[serde(rename = "limitBytes", skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<usize>,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ApiError {
    /// A `bad_request` naming a query parameter.
    pub fn param(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            parameter: Some(parameter.to_string()),
            field: None,
            message: message.into(),
        }
    }

    /// A `bad_request` naming a member of the JSON body by its path (`target.bucket`).
    pub fn body_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            parameter: None,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// A `bad_request` about the request as a whole (usually its body).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            parameter: None,
            field: None,
            message: message.into(),
        }
    }

    /// A `forbidden` naming the permission that is missing.
    pub fn missing_permission(permission: &'static str, what: &str) -> ApiError {
        ApiError::Forbidden {
            permission: Some(permission),
            message: format!(
                "{what} needs the {permission} permission; ask an administrator to grant it"
            ),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidEvent { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::InvalidEvent { .. } => "invalid_event",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        let mut body = ErrorBody {
            error: self.code(),
            parameter: None,
            index: None,
            line: None,
            field: None,
            permission: None,
            limit_bytes: None,
            message: self.to_string(),
        };
        match self {
            ApiError::BadRequest {
                parameter, field, ..
            } => {
                body.parameter = parameter.clone();
                body.field = field.clone();
            }
            ApiError::InvalidEvent {
                index,
                line,
                field,
                message,
            } => {
                body.index = *index;
                body.line = *line;
                body.field = Some(field.clone());
                body.message = format!("{message}; nothing of this request was stored");
            }
            ApiError::Forbidden { permission, .. } => body.permission = *permission,
            ApiError::PayloadTooLarge { limit } => body.limit_bytes = Some(*limit),
            ApiError::Internal(_) => {
                body.message =
                    "internal error; the server log has the details (search it for the X-Request-Id of this response)"
                        .to_string()
            }
            _ => {}
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        }
        let mut resp = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"trail\""),
            );
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "storage backend unavailable");
                ApiError::Unavailable(
                    "the storage backend is unavailable; retry shortly (nothing was acknowledged for this request)"
                        .to_string(),
                )
            }
            StoreError::Invalid(m) => ApiError::bad_request(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
