//! The legacy `GET /audit` hit: the seed's 14 fields, in the seed's order, with the seed's types.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::event::{parse_event, EventError, EventForm};

/// One hit of `GET /audit`. Field order is the seed's; `dateTime` is epoch milliseconds as a
/// string and `profileId` an integer, whatever form the event arrived in.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyHit {
    pub date_time: String,
    pub data_source_name: Option<String>,
    pub project_name: Option<String>,
    pub record_type: String,
    pub blob_id: Option<String>,
    pub user_id: Option<String>,
    pub profile_id: Option<i64>,
    pub purpose_ids: Option<Vec<i64>>,
    pub success: Option<bool>,
    pub failure_reason: Option<String>,
    pub warning: Option<bool>,
    pub id: String,
    pub fingerprint_version_name: Option<String>,
    pub email: Option<String>,
}

impl LegacyHit {
    /// The 14 field names, in the seed's order (also the CSV header of legacy exports).
    pub const FIELDS: [&'static str; 14] = [
        "dateTime",
        "dataSourceName",
        "projectName",
        "recordType",
        "blobId",
        "userId",
        "profileId",
        "purposeIds",
        "success",
        "failureReason",
        "warning",
        "id",
        "fingerprintVersionName",
        "email",
    ];

    /// Renders a stored document (either form) as a legacy hit.
    pub fn from_document(doc: &str) -> Result<LegacyHit, EventError> {
        let dims = parse_event(doc)?;
        let value: Map<String, Value> =
            serde_json::from_str(doc).map_err(|e| EventError::new("(document)", e.to_string()))?;
        let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
        let b = |k: &str| value.get(k).and_then(Value::as_bool);
        Ok(match dims.form {
            EventForm::Legacy => LegacyHit {
                date_time: dims.event_time_ms.to_string(),
                data_source_name: s("dataSourceName"),
                project_name: s("projectName"),
                record_type: dims.record_type,
                blob_id: dims.blob_id,
                user_id: dims.user_id,
                profile_id: dims.profile_id,
                purpose_ids: value
                    .get("purposeIds")
                    .filter(|v| !v.is_null())
                    .map(|_| dims.purpose_ids),
                success: b("success"),
                failure_reason: s("failureReason"),
                warning: b("warning"),
                id: dims.id,
                fingerprint_version_name: s("fingerprintVersionName"),
                email: dims.email,
            },
            EventForm::Uam => LegacyHit {
                date_time: dims.event_time_ms.to_string(),
                data_source_name: dims
                    .data_sources
                    .first()
                    .and_then(|d| d.name.clone())
                    .or_else(|| target_name(&value, "DATASOURCE")),
                project_name: dims
                    .project
                    .as_ref()
                    .and_then(|p| p.name.clone())
                    .or_else(|| target_name(&value, "PROJECT")),
                record_type: dims.record_type,
                blob_id: None,
                user_id: dims.user_id,
                profile_id: dims.profile_id,
                purpose_ids: (!dims.purpose_ids.is_empty()).then_some(dims.purpose_ids),
                success: Some(value.get("actionStatus").and_then(Value::as_str) == Some("SUCCESS")),
                failure_reason: s("actionStatusReason"),
                warning: None,
                id: dims.id,
                fingerprint_version_name: None,
                email: dims.email,
            },
        })
    }
}

/// The name of the first target of this type, also when it has no id.
fn target_name(doc: &Map<String, Value>, kind: &str) -> Option<String> {
    let default_kind = doc.get("targetType").and_then(Value::as_str);
    doc.get("targets")?
        .as_array()?
        .iter()
        .filter(|t| t.get("type").and_then(Value::as_str).or(default_kind) == Some(kind))
        .find_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_list_is_the_serialized_field_order() {
        let hit = LegacyHit::from_document(r#"{"id":"a","dateTime":1,"recordType":"x"}"#).unwrap();
        let value = serde_json::to_value(&hit).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, LegacyHit::FIELDS);
    }

    #[test]
    fn legacy_document_renders_its_own_fields_in_seed_order() {
        let doc = r#"{"id":"a","dateTime":1634144773832,"recordType":"auditQuery","profileId":2,"success":true,
            "warning":false,"purposeIds":null,"userId":"k@e.com","email":"k@e.com","extra":1}"#;
        let hit = LegacyHit::from_document(doc).unwrap();
        let json = serde_json::to_string(&hit).unwrap();
        assert_eq!(
            json,
            r#"{"dateTime":"1634144773832","dataSourceName":null,"projectName":null,"recordType":"auditQuery","blobId":null,"userId":"k@e.com","profileId":2,"purposeIds":null,"success":true,"failureReason":null,"warning":false,"id":"a","fingerprintVersionName":null,"email":"k@e.com"}"#
        );
    }

    #[test]
    fn uam_document_renders_success_and_names_from_targets() {
        let doc = r#"{"id":"q","eventTimestamp":"2024-01-01T00:00:00.5Z","actionStatus":"FAILURE","actionStatusReason":"denied",
            "actor":{"id":"u@x","profileId":"5"},"targets":[{"type":"DATASOURCE","id":"3","name":"Claims"}],
            "auditPayload":{"type":"QueryAuditPayload","version":1}}"#;
        let hit = LegacyHit::from_document(doc).unwrap();
        assert_eq!(hit.date_time, "1704067200500");
        assert_eq!(hit.success, Some(false));
        assert_eq!(hit.failure_reason.as_deref(), Some("denied"));
        assert_eq!(hit.data_source_name.as_deref(), Some("Claims"));
        assert_eq!(hit.profile_id, Some(5));
    }
}
