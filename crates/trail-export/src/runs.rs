//! What the API shows of a run: the run record with its tasks, their attempts, status and
//! failure reason, and the per-config export state (how far the target is complete).

use serde::{Deserialize, Serialize};

/// Status of a run or of a task.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Running,
    Succeeded,
    Failed,
}

/// Why a run was started.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trigger {
    Schedule,
    Manual,
}

/// One object of a run (or the manifest): written whole, then committed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub index: u32,
    /// The scan cursor the task starts after; with the run's bound it fixes the task's events.
    pub after_seq: u64,
    /// Object name relative to the target root (prefix included).
    pub object: Option<String>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub events: u64,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub attempts: u32,
    pub status: Status,
    pub failure_reason: Option<String>,
    /// True for the manifest task (written last).
    #[serde(default)]
    pub manifest: bool,
}

/// One run of a configuration over one received-time window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub config_id: String,
    pub run_id: u64,
    pub trigger: Trigger,
    pub status: Status,
    /// Events with sequence numbers in `afterSeq + 1 ..= upToSeq` are this run's.
    pub after_seq: u64,
    pub up_to_seq: u64,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    /// `<windowStart>_<windowEnd>`, the window's folder under the prefix.
    pub window: String,
    /// Last sequence number whose object is written and committed.
    pub cursor_seq: u64,
    pub events: u64,
    /// How many times the run was executed (1 + resumptions after failures).
    pub executions: u32,
    pub tasks: Vec<TaskRecord>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub failure_reason: Option<String>,
    pub manifest: Option<String>,
}

/// How far a configuration's target is complete.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportState {
    /// Every matching event with a sequence number up to this is in the target.
    pub exported_through_seq: u64,
    /// End of the last successful window (the next window starts here).
    pub window_end_ms: Option<i64>,
    pub last_run_id: u64,
    /// When the scheduler runs it next (epoch ms).
    pub next_due_ms: i64,
}
