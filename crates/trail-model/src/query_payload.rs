//! The typed `QueryAuditPayload` that every query event (SnowflakeQuery, DatabricksQuery,
//! TrinoQuery) carries, so that validation, the native search's free text and the mapping read
//! one definition instead of poking at JSON.
//!
//! Every member is optional except `type` and `version`: platforms fill different parts (Spark
//! adds `policySet` and `entitlements`, also when the query was denied). Unknown members are
//! kept in `extra`, so nothing of a producer's payload is lost when it is read.
//!
//! The data sources a query touched are its `targets` of type DATASOURCE; `parse_event` indexes
//! each of them, so a search for one data source finds every query that touched it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The payload of a query event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAuditPayload {
    /// Always `QueryAuditPayload`.
    #[serde(rename = "type")]
    pub payload_type: String,
    pub version: u32,
    /// The engine's query id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// The SQL text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technology_context: Option<TechnologyContext>,
    /// Tables the query touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_accessed: Option<Vec<Value>>,
    /// Columns the query touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns_accessed: Option<Vec<Value>>,
    /// Policy state at query time (Databricks Spark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_set: Option<Value>,
    /// The user's entitlements at query time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlements: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_produced: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_ids: Option<Vec<Value>>,
    /// Members Trail does not model, as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where the query ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnologyContext {
    /// `SnowflakeContext`, `DatabricksContext`, `TrinoContext`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub context_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    /// Platform members (host, warehouse, clusterId, catalog, ...), as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The platform account that ran the query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QueryAuditPayload {
    /// Reads a payload object; the error says which member is wrong.
    pub fn from_value(payload: &Value) -> Result<QueryAuditPayload, String> {
        QueryAuditPayload::deserialize(payload).map_err(|e| e.to_string())
    }

    /// The platform's account user name, if given.
    pub fn account_user(&self) -> Option<&str> {
        self.technology_context
            .as_ref()?
            .account
            .as_ref()?
            .username
            .as_deref()
    }

    /// The platform named by `technologyContext.type` (`Snowflake`, `Databricks`, `Trino`).
    pub fn platform(&self) -> Option<&str> {
        let t = self.technology_context.as_ref()?.context_type.as_deref()?;
        Some(t.strip_suffix("Context").unwrap_or(t))
    }
}

/// The SQL text of a stored query event (`auditPayload.queryText`), read without building the
/// rest of the document. `None` for events without one, which includes every legacy record.
pub fn query_text_of(document: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Doc {
        #[serde(rename = "auditPayload")]
        audit_payload: Option<TextOnly>,
    }
    #[derive(Deserialize)]
    struct TextOnly {
        #[serde(rename = "queryText")]
        query_text: Option<String>,
    }
    serde_json::from_str::<Doc>(document)
        .ok()?
        .audit_payload?
        .query_text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_text_is_read_from_uam_events_and_absent_from_legacy_records() {
        let uam = json!({"id": "q1", "auditPayload": {"type": "QueryAuditPayload", "version": 1,
            "queryText": "SELECT \"a\" FROM t", "technologyContext": {"type": "SnowflakeContext"}}});
        assert_eq!(
            query_text_of(&uam.to_string()).as_deref(),
            Some("SELECT \"a\" FROM t")
        );
        let without =
            json!({"id": "q2", "auditPayload": {"type": "QueryAuditPayload", "version": 1}});
        assert_eq!(query_text_of(&without.to_string()), None);
        let legacy = json!({"id": "l1", "recordType": "sqlQuery", "dateTime": "1"});
        assert_eq!(query_text_of(&legacy.to_string()), None);
    }

    #[test]
    fn a_spark_payload_reads_its_typed_members_and_keeps_the_rest() {
        let v = json!({"type": "QueryAuditPayload", "version": 1, "queryId": "q-1",
            "queryText": "SELECT 1", "technologyContext": {"type": "DatabricksContext",
            "clusterId": "c1", "account": {"username": "ana"}},
            "objectsAccessed": [{"name": "t"}], "columnsAccessed": [],
            "policySet": {"masked": ["ssn"]}, "entitlements": {"groups": ["g"]},
            "durationMs": 12, "rowsProduced": 3, "engineSpecific": true});
        let p = QueryAuditPayload::from_value(&v).unwrap();
        assert_eq!(p.query_id.as_deref(), Some("q-1"));
        assert_eq!(p.account_user(), Some("ana"));
        assert_eq!(p.platform(), Some("Databricks"));
        assert_eq!(p.rows_produced, Some(3));
        assert_eq!(p.policy_set, Some(json!({"masked": ["ssn"]})));
        assert_eq!(p.extra.get("engineSpecific"), Some(&json!(true)));
        assert_eq!(serde_json::to_value(&p).unwrap(), v, "nothing is lost");
    }

    #[test]
    fn a_wrong_member_type_is_an_error_naming_it() {
        let v = json!({"type": "QueryAuditPayload", "version": 1, "queryText": 7});
        let e = QueryAuditPayload::from_value(&v).unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
    }
}
