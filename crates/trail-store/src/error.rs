//! The one error type of the storage layer. Every message says what happened and what to do.

use std::path::PathBuf;

/// Errors of any storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt log segment {segment} at byte offset {offset}: {reason}. The log is Trail's source of truth: restore this segment from a backup or copy the data directory aside before investigating; nothing was skipped or repaired")]
    Corrupt {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("the data directory {0} is in use by another Trail process; stop it first or choose another --data-dir")]
    Locked(PathBuf),
    #[error("the store is unusable after an earlier write failure ({0}); restart Trail so that recovery can run")]
    Poisoned(String),
    #[error("the data directory {path} was written by a newer Trail (format {found}, this binary reads up to {supported}); upgrade Trail")]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("metadata store error: {0}")]
    Metadata(String),
    #[error("{0}")]
    Invalid(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("storage backend unavailable: {0}. Retry shortly; nothing was acknowledged for this request")]
    Unavailable(String),
    /// A database backend (PostgreSQL) refused a statement for a reason other than availability.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Metadata(e.to_string())
    }
}

macro_rules! redb_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Metadata(e.to_string()) }
        }
    )*};
}
redb_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
