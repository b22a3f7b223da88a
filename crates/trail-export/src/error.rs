//! The one error type of the export crate. `Invalid` names the field at fault so that the HTTP
//! layer can answer a 400 that says which member of the body to fix.

/// Errors of export configuration, persistence and runs.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A configuration is malformed: `field` is its JSON path (`target.bucket`, `interval`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("no export configuration with id {0}; list them with GET /v1/export-configs")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The export database (`exports.redb`) failed.
    #[error("export database error: {0}")]
    Db(String),
    /// The event store failed while a run read from it.
    #[error("reading the audit store failed: {0}")]
    Store(#[from] trail_store::StoreError),
    /// The service is shutting down: no run starts.
    #[error("Trail is shutting down; no export run starts now (retry after the restart)")]
    ShuttingDown,
    /// The run stopped at an object boundary because Trail is shutting down; it is resumed
    /// from its cursor at the next start.
    #[error("interrupted: Trail stopped after the last committed object; the run resumes from there at the next start")]
    Interrupted,
    /// Writing to the target failed (directory or S3); the run is retried later.
    #[error("target write failed: {0}")]
    Target(String),
}

impl ExportError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> ExportError {
        ExportError::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for ExportError {
            fn from(e: $t) -> Self { ExportError::Db(e.to_string()) }
        }
    )*};
}
redb_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
