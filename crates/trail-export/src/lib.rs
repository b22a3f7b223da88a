//! Scheduled exports of the audit log (Immuta's `exportConfig`): configurations with an
//! interval, a target (a local directory or an S3-compatible bucket) and an optional filter;
//! runs that copy the events received since the last successful run into gzip NDJSON objects
//! named by received-time window and sequence range, plus a manifest per window; and the
//! scheduler that starts them.
//!
//! Why a crate of its own: exports need a target writer (files, S3 signing, an HTTP client) and
//! their own persistent bookkeeping (`exports.redb`), none of which the store or the HTTP
//! service should carry. It depends on the store only through `dyn AuditStore`
//! (`scan_matching` is the cursor), and knows no HTTP server: `trail-server` exposes it.
//!
//! Modules: `config` (what a configuration is, validation, masking), `runs` (run and task
//! records), `db` (`exports.redb`), `target` (directory and S3 writers), `service` (runs and
//! the scheduler; read its doc for the no-gap/no-duplicate contract).

pub mod config;
mod db;
pub mod error;
pub mod runs;
pub mod service;
mod target;

pub use config::{ConfigInput, ExportConfig, Filter, IntervalName, TargetSpec};
pub use error::ExportError;
pub use runs::{ExportState, RunRecord, Status, TaskRecord, Trigger};
pub use service::{
    system_clock, window_stamp, Clock, ExportOptions, ExportService, DB_FILE, SHUTDOWN_GRACE,
};
