//! Parsing one audit event, in either of the two forms Trail accepts, into the dimensions the
//! store indexes.
//!
//! The two forms:
//! - **UAM** (Universal Audit Model): recognised by `eventTimestamp` or `auditPayload`.
//! - **Legacy record**: the 14 fields of a `GET /audit` hit, plus the optional `dataSourceId`,
//!   `projectId` and `outcome` that a producer may add.
//!
//! The document itself is never rewritten: the store keeps the bytes it was given. This module
//! only reads them, field by field, so that every error names the field and the reason.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::catalog;
use crate::outcome::Outcome;
use crate::scan;
use crate::timefmt;

/// Which of the two accepted forms a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventForm {
    Uam,
    Legacy,
}

/// An id with the display name that came with it (names feed the facets: latest name per id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedId {
    pub id: i64,
    pub name: Option<String>,
}

/// Everything the store indexes about one event, derived without keeping the parsed document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dimensions {
    /// The event's `id`; duplicates by id are not stored twice.
    pub id: String,
    pub form: EventForm,
    /// When it happened (`dateTime` or `eventTimestamp`), epoch milliseconds.
    pub event_time_ms: i64,
    /// Data sources touched; a query over several tables names each of them.
    pub data_sources: Vec<NamedId>,
    pub project: Option<NamedId>,
    pub profile_id: Option<i64>,
    /// The user's id (`userId`, or the UAM `actor.id`): the users facet shows it as the name.
    pub user_id: Option<String>,
    pub email: Option<String>,
    /// Legacy record type; for UAM events the catalogue's legacy name.
    pub record_type: String,
    pub outcome: Outcome,
    pub blob_id: Option<String>,
    pub purpose_ids: Vec<i64>,
}

/// Why a document was refused: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
pub struct EventError {
    /// JSON path of the offending member (`id`, `actor.profileId`, ...), or `(document)`.
    pub field: String,
    pub reason: String,
}

impl EventError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        EventError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The raw JSON text of one member's value (never `null`: a null member is absent), and
/// whether it is known to hold no escape (the fast reader knows; serde_json's path does not).
/// Two are equal when their text is: the flag is only a shortcut.
#[derive(Clone, Copy, Debug)]
struct Raw<'a>(&'a str, bool);

impl PartialEq for Raw<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<'a> Raw<'a> {
    fn get(self) -> &'a str {
        self.0
    }

    fn escape_free(self) -> bool {
        self.1 || !self.0.contains('\\')
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| Raw(raw.get(), false))
    }
}

/// Declares [`Members`] (each member Trail reads, left as raw JSON until it is checked on its
/// own) and the lookup of a member by its JSON name for the fast reader of [`crate::scan`].
macro_rules! members {
    ($($field:ident = $name:literal,)*) => {
        #[derive(Deserialize, Default, Debug, PartialEq)]
        struct Members<'a> {
            $(
                #[serde(borrow, rename = $name)]
                $field: Option<Raw<'a>>,
            )*
        }

        #[allow(non_camel_case_types)]
        enum Member {
            $($field,)*
        }

        impl<'a> Members<'a> {
            /// The slot of the member called `name`, and its bit for spotting repeats.
            fn slot(&mut self, name: &str) -> Option<(u32, &mut Option<Raw<'a>>)> {
                match name {
                    $($name => Some((1 << Member::$field as u32, &mut self.$field)),)*
                    _ => None,
                }
            }
        }
    };
}

members! {
    id = "id",
    // legacy
    date_time = "dateTime",
    data_source_id = "dataSourceId",
    data_source_name = "dataSourceName",
    project_id = "projectId",
    project_name = "projectName",
    record_type = "recordType",
    blob_id = "blobId",
    user_id = "userId",
    profile_id = "profileId",
    purpose_ids = "purposeIds",
    success = "success",
    outcome = "outcome",
    failure_reason = "failureReason",
    warning = "warning",
    fingerprint_version_name = "fingerprintVersionName",
    email = "email",
    // UAM
    event_timestamp = "eventTimestamp",
    received_timestamp = "receivedTimestamp",
    tenant_id = "tenantId",
    action = "action",
    action_status = "actionStatus",
    action_status_reason = "actionStatusReason",
    actor = "actor",
    target_type = "targetType",
    targets = "targets",
    audit_payload = "auditPayload",
}

/// Parses one JSON object (UAM event or legacy record) and derives its [`Dimensions`].
pub fn parse_event(doc: &str) -> Result<Dimensions, EventError> {
    let mut m = Members::default();
    read_members(doc, &mut m)?;
    if m.event_timestamp.is_some() || m.audit_payload.is_some() {
        uam_dimensions(&m)
    } else {
        legacy_dimensions(&m)
    }
}

fn read_members<'a>(doc: &'a str, members: &mut Members<'a>) -> Result<(), EventError> {
    let trimmed = doc.trim_start();
    if !trimmed.starts_with('{') {
        return Err(EventError::new(
            "(document)",
            "an event must be a JSON object",
        ));
    }
    if read_members_fast(doc, members) {
        return Ok(());
    }
    *members = serde_json::from_str::<Members>(doc)
        .map_err(|e| EventError::new("(document)", format!("not valid JSON: {e}")))?;
    Ok(())
}

/// [`read_members`] without serde_json for documents [`crate::scan`] reads whole; false leaves
/// the document (and any error message) to serde_json. A repeated member is left to it too.
fn read_members_fast<'a>(doc: &'a str, members: &mut Members<'a>) -> bool {
    let mut seen = 0u32;
    scan::for_each_member(doc, |name, raw, escaped| match members.slot(name) {
        None => true,
        Some((bit, slot)) => {
            if seen & bit != 0 {
                return false;
            }
            seen |= bit;
            *slot = (raw != "null").then_some(Raw(raw, !escaped));
            true
        }
    })
    .is_some()
}

fn legacy_dimensions(m: &Members) -> Result<Dimensions, EventError> {
    let id = req_string(m.id, "id")?;
    let event_time_ms = match m.date_time {
        None => {
            return Err(EventError::new(
                "dateTime",
                "required (epoch milliseconds as a string)",
            ))
        }
        Some(raw) => epoch_ms(raw, "dateTime")?,
    };
    let record_type = req_string(m.record_type, "recordType")?;
    if record_type.is_empty() {
        return Err(EventError::new("recordType", "must not be empty"));
    }
    let success = opt_bool(m.success, "success")?;
    let outcome = match opt_str(m.outcome, "outcome")? {
        Some(name) => Outcome::parse(&name).ok_or_else(|| {
            EventError::new(
                "outcome",
                format!("unknown outcome `{name}`; expected one of success, userError, systemError, insufficientAuthorizations, failure, insufficientPermissions"),
            )
        })?,
        None => Outcome::from_success(success.unwrap_or(true)),
    };
    let ds_name = opt_string(m.data_source_name, "dataSourceName")?;
    let data_sources = match opt_i64(m.data_source_id, "dataSourceId")? {
        Some(id) => vec![NamedId { id, name: ds_name }],
        None => Vec::new(),
    };
    let project_name = opt_string(m.project_name, "projectName")?;
    let project = opt_i64(m.project_id, "projectId")?.map(|id| NamedId {
        id,
        name: project_name,
    });
    // Members that are not indexed are still checked, so that GET /audit can always render them.
    opt_str(m.failure_reason, "failureReason")?;
    opt_bool(m.warning, "warning")?;
    opt_str(m.fingerprint_version_name, "fingerprintVersionName")?;
    Ok(Dimensions {
        id,
        form: EventForm::Legacy,
        event_time_ms,
        data_sources,
        project,
        profile_id: opt_i64(m.profile_id, "profileId")?,
        user_id: opt_string(m.user_id, "userId")?,
        email: opt_string(m.email, "email")?,
        record_type,
        outcome,
        blob_id: opt_string(m.blob_id, "blobId")?,
        purpose_ids: opt_i64_array(m.purpose_ids, "purposeIds")?,
    })
}

fn uam_dimensions(m: &Members) -> Result<Dimensions, EventError> {
    let id = req_string(m.id, "id")?;
    let ts = req_str(m.event_timestamp, "eventTimestamp")?;
    let event_time_ms = timefmt::parse_iso_ms(&ts).ok_or_else(|| {
        EventError::new(
            "eventTimestamp",
            format!("`{ts}` is not an ISO-8601 timestamp with a time zone"),
        )
    })?;
    if let Some(raw) = m.received_timestamp {
        if let Some(rts) = opt_str(Some(raw), "receivedTimestamp")? {
            timefmt::parse_iso_ms(&rts).ok_or_else(|| {
                EventError::new(
                    "receivedTimestamp",
                    format!("`{rts}` is not an ISO-8601 timestamp with a time zone"),
                )
            })?;
        }
    }
    opt_str(m.tenant_id, "tenantId")?;
    let action = opt_str(m.action, "action")?;
    let status = req_str(m.action_status, "actionStatus")?;
    let outcome = Outcome::from_action_status(&status).ok_or_else(|| {
        EventError::new(
            "actionStatus",
            format!("`{status}` is not one of SUCCESS, FAILURE, UNAUTHORIZED"),
        )
    })?;
    opt_str(m.action_status_reason, "actionStatusReason")?;
    let target_type = opt_str(m.target_type, "targetType")?;

    let payload = match m.audit_payload {
        Some(raw) => parse_value(raw, "auditPayload")?,
        None => {
            return Err(EventError::new(
                "auditPayload",
                "required (an object with `type` and `version`)",
            ))
        }
    };
    let payload_obj = payload
        .as_object()
        .ok_or_else(|| EventError::new("auditPayload", "must be an object"))?;
    let payload_type = match payload_obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(EventError::new("auditPayload.type", "must be a string")),
        None => {
            return Err(EventError::new(
                "auditPayload.type",
                "required (e.g. `ApiKeyCreatedAuditPayload`)",
            ))
        }
    };

    let (profile_id, user_id, email) = match m.actor {
        None => {
            return Err(EventError::new(
                "actor",
                "required (an object with `type`, `id`, `profileId`)",
            ))
        }
        Some(raw) => actor_fields(&parse_value(raw, "actor")?)?,
    };

    let mut data_sources = Vec::new();
    let mut project = None;
    if let Some(raw) = m.targets {
        let targets = parse_value(raw, "targets")?;
        let arr = match &targets {
            Value::Array(a) => a.as_slice(),
            Value::Null => &[],
            _ => return Err(EventError::new("targets", "must be an array of objects")),
        };
        for (i, t) in arr.iter().enumerate() {
            let field = |name: &str| format!("targets[{i}].{name}");
            let obj = t
                .as_object()
                .ok_or_else(|| EventError::new(format!("targets[{i}]"), "must be an object"))?;
            let kind = match obj.get("type") {
                Some(Value::String(s)) => Some(s.as_str()),
                None | Some(Value::Null) => target_type.as_deref(),
                Some(_) => return Err(EventError::new(field("type"), "must be a string")),
            };
            let name = match obj.get("name") {
                Some(Value::String(s)) => Some(s.clone()),
                None | Some(Value::Null) => None,
                Some(_) => return Err(EventError::new(field("name"), "must be a string")),
            };
            match kind {
                Some("DATASOURCE") => {
                    if let Some(id) = value_to_id(obj.get("id"), &field("id"))? {
                        if !data_sources.iter().any(|d: &NamedId| d.id == id) {
                            data_sources.push(NamedId { id, name });
                        }
                    }
                }
                Some("PROJECT") if project.is_none() => {
                    if let Some(id) = value_to_id(obj.get("id"), &field("id"))? {
                        project = Some(NamedId { id, name });
                    }
                }
                _ => {}
            }
        }
    }

    let mut purpose_ids = Vec::new();
    if let Some(v) = payload_obj.get("purposeIds") {
        if let Value::Array(a) = v {
            for (i, p) in a.iter().enumerate() {
                if let Some(id) = value_to_id(Some(p), &format!("auditPayload.purposeIds[{i}]"))? {
                    purpose_ids.push(id);
                }
            }
        } else if !v.is_null() {
            return Err(EventError::new(
                "auditPayload.purposeIds",
                "must be an array of ids",
            ));
        }
    }

    let record_type = catalog::legacy_record_type(
        payload_type,
        payload_obj,
        target_type.as_deref(),
        action.as_deref(),
    );
    Ok(Dimensions {
        id,
        form: EventForm::Uam,
        event_time_ms,
        data_sources,
        project,
        profile_id,
        user_id,
        email,
        record_type,
        outcome,
        blob_id: None,
        purpose_ids,
    })
}

type ActorFields = (Option<i64>, Option<String>, Option<String>);

fn actor_fields(actor: &Value) -> Result<ActorFields, EventError> {
    let obj = actor
        .as_object()
        .ok_or_else(|| EventError::new("actor", "must be an object"))?;
    let profile_id = value_to_id(obj.get("profileId"), "actor.profileId")?;
    let user_id = match obj.get("id") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return Err(EventError::new("actor.id", "must be a string")),
    };
    let email = match obj.get("email") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => user_id.clone().filter(|u| u.contains('@')),
        Some(_) => return Err(EventError::new("actor.email", "must be a string")),
    };
    Ok((profile_id, user_id, email))
}

/// An id given as an integer or as a string of digits (UAM writes ids as strings).
fn value_to_id(v: Option<&Value>, field: &str) -> Result<Option<i64>, EventError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| EventError::new(field, "must be an integer")),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| EventError::new(field, format!("`{s}` is not an integer id"))),
        Some(_) => Err(EventError::new(
            field,
            "must be an integer or a string of digits",
        )),
    }
}

fn parse_value(raw: Raw, field: &str) -> Result<Value, EventError> {
    serde_json::from_str(raw.get()).map_err(|e| EventError::new(field, e.to_string()))
}

fn is_null(raw: Raw) -> bool {
    raw.get() == "null"
}

fn req_string(raw: Option<Raw>, field: &str) -> Result<String, EventError> {
    req_str(raw, field).map(Cow::into_owned)
}

fn req_str<'a>(raw: Option<Raw<'a>>, field: &str) -> Result<Cow<'a, str>, EventError> {
    match opt_str(raw, field)? {
        Some(s) => Ok(s),
        None => Err(EventError::new(field, "required (a string)")),
    }
}

fn opt_string(raw: Option<Raw>, field: &str) -> Result<Option<String>, EventError> {
    Ok(opt_str(raw, field)?.map(Cow::into_owned))
}

/// A string member, borrowed from the document unless it holds escapes. The document was
/// validated whole when its members were read, so a string without `\` is its raw text
/// between the quotes.
fn opt_str<'a>(raw: Option<Raw<'a>>, field: &str) -> Result<Option<Cow<'a, str>>, EventError> {
    let Some(r) = raw else { return Ok(None) };
    if is_null(r) {
        return Ok(None);
    }
    let text = r.get();
    if text.len() >= 2 && text.starts_with('"') && r.escape_free() {
        return Ok(Some(Cow::Borrowed(&text[1..text.len() - 1])));
    }
    serde_json::from_str::<Cow<str>>(text)
        .map(|c| Some(Cow::Owned(c.into_owned())))
        .map_err(|_| EventError::new(field, format!("must be a string, got {}", kind_of(r))))
}

fn opt_bool(raw: Option<Raw>, field: &str) -> Result<Option<bool>, EventError> {
    match raw {
        None => Ok(None),
        Some(r) => match r.get() {
            "null" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(EventError::new(
                field,
                format!("must be true, false or null, got {}", kind_of(r)),
            )),
        },
    }
}

fn opt_i64(raw: Option<Raw>, field: &str) -> Result<Option<i64>, EventError> {
    match raw {
        None => Ok(None),
        Some(r) if is_null(r) => Ok(None),
        Some(r) => {
            r.get().parse::<i64>().map(Some).map_err(|_| {
                EventError::new(field, format!("must be an integer, got {}", kind_of(r)))
            })
        }
    }
}

fn opt_i64_array(raw: Option<Raw>, field: &str) -> Result<Vec<i64>, EventError> {
    match raw {
        None => Ok(Vec::new()),
        Some(r) if is_null(r) => Ok(Vec::new()),
        Some(r) => serde_json::from_str::<Vec<i64>>(r.get()).map_err(|_| {
            EventError::new(
                field,
                format!("must be an array of integers or null, got {}", kind_of(r)),
            )
        }),
    }
}

/// Epoch milliseconds given as a string of digits (as Immuta writes `dateTime`) or a number.
fn epoch_ms(raw: Raw, field: &str) -> Result<i64, EventError> {
    let text = raw.get();
    let digits: Cow<str> = if text.starts_with('"') {
        opt_str(Some(raw), field)?.unwrap_or_default()
    } else {
        Cow::Borrowed(text)
    };
    let ms = digits.parse::<i64>().map_err(|_| {
        EventError::new(
            field,
            format!("must be epoch milliseconds (e.g. \"1634144773832\"), got {text}"),
        )
    })?;
    if !(timefmt::MIN_MS..=timefmt::MAX_MS).contains(&ms) {
        return Err(EventError::new(
            field,
            format!("{ms} is outside years 0001-9999"),
        ));
    }
    Ok(ms)
}

fn kind_of(raw: Raw) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't') | Some(b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_HIT: &str = r#"{"dateTime": "1634065931127", "dataSourceName": "Army Army Records",
        "projectName": "Purpose Test", "recordType": "addToProject", "blobId": null,
        "userId": "katie@example.com", "profileId": 2, "purposeIds": [11, 17], "success": true,
        "failureReason": null, "warning": null, "id": "c8c2ba1b-dc8e-4d4d-aa89-cdb3cfb81dae",
        "fingerprintVersionName": null, "email": "katie@example.com"}"#;

    const UAM_API_KEY: &str = r#"{"id": "d9dc3cee-98d0-47d6-ba81-e0b38f9f4014", "tenantId": "your-immuta-tenant.com",
        "eventTimestamp": "2024-01-25T18:04:58.368Z", "receivedTimestamp": "2024-01-25T18:04:58.505Z",
        "action": "CREATE", "actionStatus": "SUCCESS",
        "actor": {"type": "USER_ACTOR", "id": "taylor@immuta.com", "name": "Taylor Smith", "identityProvider": "bim", "profileId": "1"},
        "actorIp": "xxx.xx.xx.xx", "sessionId": "9c553d7ace0aa3ee735fd3c14f737bc6",
        "requestId": "60c68659-ac83-5299-bf3e-14856178a0de", "targetType": "APIKEY", "targets": [], "relatedResources": [],
        "auditPayload": {"type": "ApiKeyCreatedAuditPayload", "apiKeyId": "1112158", "name": "T1", "version": 1}}"#;

    #[test]
    fn legacy_seed_hit_yields_its_dimensions() {
        let d = parse_event(SEED_HIT).unwrap();
        assert_eq!(d.form, EventForm::Legacy);
        assert_eq!(d.event_time_ms, 1_634_065_931_127);
        assert_eq!(d.record_type, "addToProject");
        assert_eq!(d.profile_id, Some(2));
        assert_eq!(d.purpose_ids, vec![11, 17]);
        assert_eq!(d.outcome, Outcome::Success);
        assert!(
            d.data_sources.is_empty(),
            "the seed's hits carry names but no data source ids"
        );
    }

    #[test]
    fn uam_published_example_maps_to_api_key_record_type() {
        let d = parse_event(UAM_API_KEY).unwrap();
        assert_eq!(d.form, EventForm::Uam);
        assert_eq!(d.record_type, "apiKey");
        assert_eq!(d.profile_id, Some(1));
        assert_eq!(d.user_id.as_deref(), Some("taylor@immuta.com"));
        assert_eq!(d.email.as_deref(), Some("taylor@immuta.com"));
        assert_eq!(d.event_time_ms, 1_706_205_898_368);
    }

    #[test]
    fn uam_query_touching_two_tables_has_both_data_sources() {
        let doc = r#"{"id":"q1","eventTimestamp":"2024-01-01T00:00:00Z","actionStatus":"UNAUTHORIZED",
            "action":"QUERY","actor":{"id":"a@b.c","profileId":7},"targetType":"DATASOURCE",
            "targets":[{"type":"DATASOURCE","id":"12","name":"T12"},{"id":"13","name":"T13"},{"type":"PROJECT","id":4,"name":"P"}],
            "auditPayload":{"type":"QueryAuditPayload","version":1,"technologyContext":{"type":"SnowflakeContext"}}}"#;
        let d = parse_event(doc).unwrap();
        assert_eq!(
            d.data_sources.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![12, 13]
        );
        assert_eq!(d.project.as_ref().map(|p| p.id), Some(4));
        assert_eq!(d.outcome, Outcome::InsufficientAuthorizations);
        assert_eq!(d.record_type, "SnowflakeQuery");
    }

    #[test]
    fn explicit_outcome_wins_over_success() {
        let doc = r#"{"id":"x","dateTime":"1","recordType":"sqlQuery","success":false,"outcome":"userError"}"#;
        assert_eq!(parse_event(doc).unwrap().outcome, Outcome::UserError);
        let doc = r#"{"id":"x","dateTime":"1","recordType":"sqlQuery","success":false}"#;
        assert_eq!(parse_event(doc).unwrap().outcome, Outcome::Failure);
    }

    /// JSON-like text: valid JSON with odd spacing, escapes and number forms; the mutations of
    /// [`mutated`] make some of it invalid.
    /// [`read_members_fast`]'s members, or `None` when it gives up.
    fn fast_members(doc: &str) -> Option<Members<'_>> {
        let mut members = Members::default();
        read_members_fast(doc, &mut members).then_some(members)
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let ws = || prop::sample::select(vec!["", "", " ", "\n", "\t ", "\r\n"]);
        let piece = prop::sample::select(vec![
            "a",
            "Zz",
            " ",
            "\u{e9}",
            "\u{1F600}",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\n",
            "\\u00e9",
            "\\u00E9",
            "\\ud83d\\ude00",
            "\\u0000",
            "{",
            "]",
            ":",
            ",",
        ]);
        let string = prop::collection::vec(piece, 0..6).prop_map(|p| format!("\"{}\"", p.concat()));
        let number = "-?(0|[1-9][0-9]{0,5})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?";
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            number.prop_map(String::from),
            string.clone(),
        ];
        leaf.prop_recursive(4, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..4).prop_map(|items| {
                    let items: Vec<String> = items
                        .into_iter()
                        .map(|(a, v, b)| format!("{a}{v}{b}"))
                        .collect();
                    format!("[{}]", items.join(","))
                }),
                prop::collection::vec((string.clone(), ws(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, w, v)| format!("{k}{w}:{w}{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// A top-level object whose keys include Trail's members (repeated at times, escaped at
    /// times), possibly mutated by up to three byte edits.
    fn event_like_document() -> impl proptest::strategy::Strategy<Value = (String, bool)> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "id",
            "dateTime",
            "recordType",
            "userId",
            "profileId",
            "purposeIds",
            "success",
            "outcome",
            "eventTimestamp",
            "actor",
            "targets",
            "auditPayload",
            "other",
            "",
            "\\u0069d",
            "i\\u0064",
        ]);
        let members = prop::collection::vec((key, " ?", json_value()), 0..8);
        let edits = prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(vec![
                    "", "{", "}", "[", "]", ",", ":", "\"", "\\", " ", "0", "-", ".", "e", "\u{1}",
                    "n", "\u{e9}",
                ]),
            ),
            0..3,
        );
        (members, edits).prop_map(|(members, edits)| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, w, v)| format!("\"{k}\"{w}:{w}{v}"))
                .collect();
            let mut doc = format!(" {{{}}} ", body.join(","));
            for (at, text) in &edits {
                let boundaries: Vec<usize> = (0..=doc.len())
                    .filter(|&b| doc.is_char_boundary(b))
                    .collect();
                let b = boundaries[at.index(boundaries.len())];
                if text.is_empty() {
                    if let Some(c) = doc[b..].chars().next() {
                        doc.replace_range(b..b + c.len_utf8(), "");
                    }
                } else {
                    doc.insert_str(b, text);
                }
            }
            (doc, !edits.is_empty())
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        #[test]
        fn the_fast_member_reader_agrees_with_serde_json_on_token_soup(
            members in proptest::collection::vec((
                proptest::sample::select(vec!["\"id\"", "\"recordType\"", "\"x\"", "\"\\x\"", "x"]),
                proptest::sample::select(vec![":", ":", ":", ":", " : ", "", ",", "::"]),
                proptest::collection::vec(proptest::sample::select(vec![
                    "1", "0", "01", "-0", "-", "-01", "1.", "1.5", ".5", "0.0e0", "1e", "1E+2", "2e-", "1e5x",
                    "true", "tru", "truex", "null", "nul", "\"a\"", "[", "]", "{", "}", ",", " ", "\n", "\u{b}",
                    "\"\\x\"", "\"\\u12\"", "\"\\u00zz\"", "\"\u{1}\"", "\"\u{1f}\"", "\"\\\"\"", "\"\u{e9}\"",
                ]), 1..3),
            ), 0..3),
            trailer in proptest::sample::select(vec!["", "", "", "", " ", "\n", ",", "}", "x", "\u{0}"]),
        ) {
            let body: Vec<String> = members.iter().map(|(k, colon, v)| format!("{k}{colon}{}", v.concat())).collect();
            let doc = format!("{{{}}}{trailer}", body.join(","));
            if let Some(members) = fast_members(&doc) {
                let reference = serde_json::from_str::<Members>(&doc).map_err(|e| e.to_string());
                proptest::prop_assert_eq!(Ok(members), reference, "{}", doc);
            }
        }

        #[test]
        fn the_fast_member_reader_agrees_with_serde_json_whenever_it_answers(
            (doc, edited) in event_like_document()
        ) {
            let fast = fast_members(&doc);
            let reference = serde_json::from_str::<Members>(&doc);
            if let Some(members) = fast {
                proptest::prop_assert_eq!(Ok(members), reference.map_err(|e| e.to_string()), "{}", doc);
            } else if !edited && !doc.contains("\\u0069d") && !doc.contains("i\\u0064") && !doc.contains("\\ud83d") {
                // Valid JSON without escaped keys or surrogates is read fast unless a member repeats.
                proptest::prop_assert!(reference.is_err(), "the fast reader gave up on {}", doc);
            }
        }
        /// Strings without escapes are read straight from the document; with escapes they are
        /// decoded. Either way the dimension is the string the producer serialised.
        #[test]
        fn string_members_read_back_exactly_with_or_without_escapes(
            user in "\\PC{0,24}", record_type in "[a-zA-Z\"\\\\\u{1}\u{e9}\u{1F600}]{1,12}"
        ) {
            let doc = serde_json::json!({"id": "e1", "dateTime": "1", "recordType": record_type, "userId": user});
            let d = parse_event(&doc.to_string()).unwrap();
            proptest::prop_assert_eq!(d.record_type, record_type);
            proptest::prop_assert_eq!(d.user_id, Some(user));
        }
    }

    #[test]
    fn escaped_strings_are_decoded_and_non_strings_refused_by_field() {
        let doc = r#"{"id":"x\u0031","dateTime":"1","recordType":"a\"b","userId":"k\u0040e.com","failureReason":7}"#;
        assert_eq!(parse_event(doc).unwrap_err().field, "failureReason");
        let doc =
            r#"{"id":"x\u0031","dateTime":"\u0031","recordType":"a\"b","userId":"k\u0040e.com"}"#;
        let d = parse_event(doc).unwrap();
        assert_eq!(
            (
                d.id.as_str(),
                d.record_type.as_str(),
                d.user_id.as_deref(),
                d.event_time_ms
            ),
            ("x1", "a\"b", Some("k@e.com"), 1)
        );
    }

    #[test]
    fn errors_name_the_field_and_reason() {
        let cases = [
            (r#"[1]"#, "(document)"),
            (
                r#"{"id":"x","dateTime":"1","recordType":"a","#,
                "(document)",
            ),
            (r#"{"dateTime":"1","recordType":"a"}"#, "id"),
            (r#"{"id":"x","recordType":"a"}"#, "dateTime"),
            (
                r#"{"id":"x","dateTime":"soon","recordType":"a"}"#,
                "dateTime",
            ),
            (r#"{"id":"x","dateTime":"1"}"#, "recordType"),
            (
                r#"{"id":"x","dateTime":"1","recordType":"a","profileId":"2"}"#,
                "profileId",
            ),
            (
                r#"{"id":"x","dateTime":"1","recordType":"a","purposeIds":[1,"b"]}"#,
                "purposeIds",
            ),
            (
                r#"{"id":"x","dateTime":"1","recordType":"a","success":"yes"}"#,
                "success",
            ),
            (
                r#"{"id":"x","dateTime":"1","recordType":"a","outcome":"great"}"#,
                "outcome",
            ),
            (r#"{"id":7,"dateTime":"1","recordType":"a"}"#, "id"),
            (
                r#"{"id":"x","eventTimestamp":"2024-13-01","actionStatus":"SUCCESS","actor":{},"auditPayload":{"type":"T"}}"#,
                "eventTimestamp",
            ),
            (
                r#"{"id":"x","eventTimestamp":"2024-01-01T00:00:00Z","actionStatus":"OK","actor":{},"auditPayload":{"type":"T"}}"#,
                "actionStatus",
            ),
            (
                r#"{"id":"x","eventTimestamp":"2024-01-01T00:00:00Z","actionStatus":"SUCCESS","actor":{"profileId":"me"},"auditPayload":{"type":"T"}}"#,
                "actor.profileId",
            ),
            (
                r#"{"id":"x","eventTimestamp":"2024-01-01T00:00:00Z","actionStatus":"SUCCESS","actor":{},"auditPayload":{}}"#,
                "auditPayload.type",
            ),
        ];
        for (doc, field) in cases {
            let err = parse_event(doc).expect_err(doc);
            assert_eq!(err.field, field, "{doc}: {err}");
            assert!(!err.reason.is_empty());
        }
    }
}
