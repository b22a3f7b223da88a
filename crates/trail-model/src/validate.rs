//! Checking a UAM event against the catalogue before it is stored, beyond the shape checks of
//! [`crate::parse_event`] (which every stored document passes, also on re-indexing): the
//! envelope members every UAM event carries, a known `auditPayload.type` with a version the
//! catalogue lists, the allowed values of enumerated payload members (`authenticationMethod`,
//! `logoutReason`, `updateType`, `modelType`) and, for query events, the typed
//! [`QueryAuditPayload`].
//!
//! Legacy records are not checked here: the legacy record type set is open (Immuta adds types,
//! and the peer data uses UAM names as record types), and `parse_event` already checks their
//! fields. An unknown UAM event type is refused unless the caller accepts unknown types; then it
//! is reported as [`Checked::UnknownType`] so that the server can flag it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::catalog::{self, CatalogEntry};
use crate::event::EventError;
use crate::query_payload::QueryAuditPayload;

/// The result of a successful check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// A legacy record (checked by `parse_event` only).
    Legacy,
    /// A UAM event of the catalogue.
    Known(&'static str),
    /// A UAM event whose `auditPayload.type` the catalogue does not know (accepted on request).
    UnknownType(String),
}

/// Checks one document (already accepted by [`crate::parse_event`]) against the catalogue.
///
/// Cost: the document is split into its members without building values; only the small
/// envelope members and a non-query payload are parsed, a query payload is read straight into
/// [`QueryAuditPayload`], and `targets` is not re-read (`parse_event` checked it).
pub fn validate_event(doc: &str, accept_unknown: bool) -> Result<Checked, EventError> {
    let members: BTreeMap<String, &RawValue> = serde_json::from_str(doc).map_err(|e| {
        if doc.trim_start().starts_with('{') {
            EventError::new("(document)", format!("not valid JSON: {e}"))
        } else {
            EventError::new("(document)", "an event must be a JSON object")
        }
    })?;
    if !members.contains_key("eventTimestamp") && !members.contains_key("auditPayload") {
        return Ok(Checked::Legacy);
    }
    let mut obj = Map::new();
    let mut query_payload = None;
    for (key, raw) in &members {
        let text = raw.get();
        let value = match key.as_str() {
            "targets" | "relatedResources" if text.starts_with('[') => Value::Array(Vec::new()),
            "auditPayload" if text.starts_with('{') => {
                let head: PayloadHead = serde_json::from_str(text)
                    .map_err(|e| EventError::new("auditPayload", without_position(&e)))?;
                if head.payload_type.as_ref().and_then(Value::as_str) == Some("QueryAuditPayload") {
                    let typed: QueryAuditPayload = serde_json::from_str(text).map_err(|e| {
                        EventError::new(
                            "auditPayload",
                            format!("not a valid QueryAuditPayload: {}", without_position(&e)),
                        )
                    })?;
                    let mut small = Map::new();
                    small.insert("type".into(), Value::String(typed.payload_type.clone()));
                    small.insert("version".into(), head.version.unwrap_or(Value::Null));
                    if let Some(ctx) = &typed.technology_context {
                        small.insert(
                            "technologyContext".into(),
                            serde_json::json!({"type": ctx.context_type}),
                        );
                    }
                    query_payload = Some(typed);
                    Value::Object(small)
                } else {
                    parse(text, key)?
                }
            }
            _ => parse(text, key)?,
        };
        obj.insert(key.clone(), value);
    }
    let checked = check_uam(&obj, accept_unknown)?;
    if let Checked::Known(name) = checked {
        if catalog::is_query_event(name) && query_payload.is_none() {
            return Err(EventError::new(
                "auditPayload",
                "not a valid QueryAuditPayload",
            ));
        }
    }
    Ok(checked)
}

/// The two members read before deciding how to read a payload.
#[derive(Deserialize)]
struct PayloadHead {
    #[serde(rename = "type")]
    payload_type: Option<Value>,
    version: Option<Value>,
}

fn parse(text: &str, field: &str) -> Result<Value, EventError> {
    serde_json::from_str(text).map_err(|e| EventError::new(field, without_position(&e)))
}

/// A serde error message without its " at line L column C" suffix (positions inside a member
/// mean nothing to the producer).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Checks a UAM event object (with a query payload already read by the caller) against the
/// catalogue.
fn check_uam(obj: &Map<String, Value>, accept_unknown: bool) -> Result<Checked, EventError> {
    for (field, example) in [
        ("id", "a UUID"),
        ("eventTimestamp", "2024-01-25T18:04:58.368Z"),
        ("action", "CREATE"),
        ("actionStatus", "SUCCESS"),
        ("targetType", "DATASOURCE"),
    ] {
        match obj.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            None | Some(Value::Null) => {
                return Err(EventError::new(
                    field,
                    format!("required in every UAM event (a string, e.g. {example})"),
                ))
            }
            Some(_) => {
                return Err(EventError::new(
                    field,
                    format!("must be a non-empty string, e.g. {example}"),
                ))
            }
        }
    }
    for field in ["action", "targetType"] {
        let s = obj.get(field).and_then(Value::as_str).unwrap_or_default();
        if !s
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(EventError::new(
                field,
                format!("`{s}` must be upper case (letters, digits, _), e.g. CREATE"),
            ));
        }
    }
    for field in [
        "tenantId",
        "sessionId",
        "requestId",
        "actorIp",
        "customerId",
    ] {
        match obj.get(field) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(EventError::new(field, "must be a string or null")),
        }
    }
    match obj.get("actor").and_then(|a| a.get("id")) {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return Err(EventError::new(
                "actor.id",
                "required (the user id or email of who acted, a string)",
            ))
        }
    }
    if let Some(v) = obj.get("relatedResources") {
        if !v.is_array() && !v.is_null() {
            return Err(EventError::new("relatedResources", "must be an array"));
        }
    }

    let payload = obj
        .get("auditPayload")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            EventError::new(
                "auditPayload",
                "required (an object with `type` and `version`)",
            )
        })?;
    let payload_type = payload
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| EventError::new("auditPayload.type", "required (a string)"))?;
    let version = match payload.get("version") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v >= 1) => n.as_u64().unwrap_or(1),
        None | Some(Value::Null) => {
            return Err(EventError::new(
                "auditPayload.version",
                "required (a positive integer, e.g. 1)",
            ))
        }
        Some(other) => {
            return Err(EventError::new(
                "auditPayload.version",
                format!("must be a positive integer, got {other}"),
            ))
        }
    };
    if !catalog::is_known_payload_type(payload_type) {
        if accept_unknown {
            return Ok(Checked::UnknownType(payload_type.to_string()));
        }
        return Err(EventError::new(
            "auditPayload.type",
            format!(
                "unknown event type `{payload_type}`; GET /v1/event-types lists the known ones (a server started with --accept-unknown-event-types stores unknown types and flags them)"
            ),
        ));
    }
    let name = catalog::event_name(payload_type, payload);
    let entry: &CatalogEntry = catalog::entry(&name).ok_or_else(|| {
        EventError::new(
            "auditPayload.type",
            format!("`{payload_type}` names no catalogue event"),
        )
    })?;
    if !entry.versions.iter().any(|v| u64::from(*v) == version) {
        return Err(EventError::new(
            "auditPayload.version",
            format!(
                "version {version} of {payload_type} is not known; known: {}",
                entry
                    .versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for member in entry.members {
        let value = lookup(payload, member.name);
        if member.allowed.is_empty() {
            continue;
        }
        match value {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if member.allowed.contains(&s.as_str()) => {}
            Some(other) => {
                return Err(EventError::new(
                    format!("auditPayload.{}", member.name),
                    format!(
                        "{other} is not allowed for {}; allowed: {}",
                        entry.name,
                        member.allowed.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(Checked::Known(entry.name))
}

/// The member at a dotted path inside an object.
fn lookup<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = obj.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"id": "e1", "tenantId": "t", "eventTimestamp": "2024-01-25T18:04:58.368Z",
            "action": "LOGOUT", "actionStatus": "SUCCESS",
            "actor": {"type": "USER_ACTOR", "id": "u@x", "profileId": 3},
            "targetType": "USER", "targets": [],
            "auditPayload": {"type": "UserLogoutAuditPayload", "version": 1,
                "authenticationMethod": "SAML", "logoutReason": "EXPIRATION"}})
    }

    fn check(v: &Value, accept: bool) -> Result<Checked, EventError> {
        validate_event(&v.to_string(), accept)
    }

    #[test]
    fn each_error_class_names_its_field() {
        assert_eq!(check(&base(), false), Ok(Checked::Known("UserLogout")));
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/action", Value::Null, "action"),
            ("/action", json!("logout"), "action"),
            ("/targetType", json!(7), "targetType"),
            ("/actor/id", Value::Null, "actor.id"),
            ("/tenantId", json!(1), "tenantId"),
            ("/auditPayload/version", Value::Null, "auditPayload.version"),
            ("/auditPayload/version", json!(2), "auditPayload.version"),
            ("/auditPayload/version", json!("1"), "auditPayload.version"),
            (
                "/auditPayload/logoutReason",
                json!("TIMEOUT"),
                "auditPayload.logoutReason",
            ),
            (
                "/auditPayload/authenticationMethod",
                json!("oauth"),
                "auditPayload.authenticationMethod",
            ),
            (
                "/auditPayload/type",
                json!("NoSuchAuditPayload"),
                "auditPayload.type",
            ),
        ];
        for (path, value, field) in cases {
            let mut v = base();
            *v.pointer_mut(path).unwrap_or_else(|| panic!("{path}")) = value.clone();
            let e = check(&v, false).expect_err(path);
            assert_eq!(e.field, field, "{path} = {value}: {e}");
        }
    }

    #[test]
    fn unknown_types_pass_only_when_accepted() {
        let mut v = base();
        v["auditPayload"]["type"] = json!("FutureThingAuditPayload");
        assert_eq!(
            check(&v, true),
            Ok(Checked::UnknownType("FutureThingAuditPayload".into()))
        );
        assert!(check(&v, false).is_err());
    }

    #[test]
    fn query_payload_is_typed_and_legacy_is_not_checked() {
        let q = json!({"id": "q", "eventTimestamp": "2024-01-01T00:00:00Z", "action": "QUERY",
            "actionStatus": "SUCCESS", "actor": {"id": "a"}, "targetType": "DATASOURCE",
            "auditPayload": {"type": "QueryAuditPayload", "version": 1, "queryText": ["x"]}});
        assert_eq!(check(&q, false).unwrap_err().field, "auditPayload");
        let legacy = r#"{"id":"x","dateTime":"1","recordType":"madeUpType"}"#;
        assert_eq!(validate_event(legacy, false), Ok(Checked::Legacy));
    }
}
