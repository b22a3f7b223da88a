//! Helpers shared by the store tests: documents in both forms, small stores.

use serde_json::json;
use trail_store::embedded::{EmbeddedOptions, EmbeddedStore};
use trail_store::NewEvent;

/// A legacy record with the fields the filters use.
#[allow(clippy::too_many_arguments)]
pub fn legacy_doc(
    id: &str,
    time_ms: i64,
    ds: Option<(i64, &str)>,
    project: Option<(i64, &str)>,
    profile: Option<(i64, &str)>,
    record_type: &str,
    outcome: &str,
    blob: Option<&str>,
    purposes: Option<Vec<i64>>,
) -> String {
    json!({
        "dateTime": time_ms.to_string(),
        "dataSourceId": ds.map(|d| d.0),
        "dataSourceName": ds.map(|d| d.1),
        "projectId": project.map(|p| p.0),
        "projectName": project.map(|p| p.1),
        "recordType": record_type,
        "blobId": blob,
        "userId": profile.map(|p| p.1),
        "profileId": profile.map(|p| p.0),
        "purposeIds": purposes,
        "success": outcome == "success",
        "outcome": outcome,
        "failureReason": null,
        "warning": null,
        "id": id,
        "fingerprintVersionName": null,
        "email": profile.map(|p| p.1),
    })
    .to_string()
}

/// A simple legacy record: time and id only varying.
pub fn simple(id: &str, time_ms: i64) -> NewEvent {
    NewEvent::parse(legacy_doc(
        id,
        time_ms,
        Some((1, "DS one")),
        None,
        Some((2, "katie@example.com")),
        "sqlQuery",
        "success",
        None,
        None,
    ))
    .unwrap()
}

pub fn small_options() -> EmbeddedOptions {
    EmbeddedOptions {
        max_segment_bytes: 16 << 10,
        block_rows: 64,
        ..EmbeddedOptions::default()
    }
}

pub fn open_small(dir: &std::path::Path) -> EmbeddedStore {
    EmbeddedStore::open_with(dir, small_options()).unwrap()
}
