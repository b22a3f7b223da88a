//! The mapping between the two forms of an audit event, both ways, driven by the catalogue.
//!
//! **UAM → legacy** ([`uam_to_legacy`]): the `GET /audit` hit of a UAM event. `recordType` is the
//! catalogue's legacy type, chosen among several by the discriminator of the event
//! (`targetType`, `auditPayload.modelType`, `auditPayload.updateType`); events without a legacy
//! type are listed under their UAM name. `dateTime` comes from `eventTimestamp`, the user fields
//! from `actor`, `success` from `actionStatus`, data source and project names from `targets`,
//! `purposeIds` from the payload. Lost: every other envelope and payload member, and targets
//! beyond the first data source and project (they stay searchable: every data source is indexed).
//!
//! **Legacy → UAM** ([`legacy_to_uam`]): the UAM event of a legacy record. Where one legacy type
//! maps to one UAM event, that event. Where several merge into one (`dataSourceSave` and
//! `dataSourceUpdate` → DatasourceUpdated, the `collection*` types → the Domain events), the
//! merged event, with the discriminator members (`updateType`, `modelType`) set from the record
//! type. Where one legacy type fans out to several UAM events, the record has no field that
//! says which, so Trail picks one documented representative ([`representative`]):
//! `apiKey` → ApiKeyCreated, `accessUser` → UserCreated, `accessGroup` → GroupUpdated,
//! `sddTemplateCreated` → SDDTemplateCreated, `nativeQuery` → SnowflakeQuery, the subscription
//! types → SubscriptionCreated. What is lost there is the kind of change (created vs deleted,
//! ...): the converted event's `action` is the representative's. Every converted event keeps
//! `auditPayload.legacyRecordType`, so converting back gives the original record type. Legacy
//! types with no UAM event become a `LegacyRecord` event holding the record in
//! `auditPayload.record` (lossless). UAM envelope members a legacy record lacks (`tenantId`,
//! `receivedTimestamp`, `sessionId`, `requestId`, `actorIp`) are null or absent.

use serde_json::{json, Map, Value};

use crate::catalog::{self, CatalogEntry, LEGACY_RECORD};
use crate::event::{parse_event, EventError, EventForm};
use crate::legacy::LegacyHit;
use crate::timefmt::format_iso_ms;

/// The `GET /audit` hit of a stored document (either form).
pub fn uam_to_legacy(document: &str) -> Result<LegacyHit, EventError> {
    LegacyHit::from_document(document)
}

/// The representative UAM event of a legacy record type that several UAM events share (the
/// record does not say which); `None` when the type maps to at most one event.
pub fn representative(record_type: &str) -> Option<&'static str> {
    Some(match record_type {
        "apiKey" => "ApiKeyCreated",
        "accessUser" => "UserCreated",
        "accessGroup" => "GroupUpdated",
        "sddTemplateCreated" => "SDDTemplateCreated",
        "nativeQuery" => "SnowflakeQuery",
        "dataSourceSubscription" | "projectSubscription" => "SubscriptionCreated",
        _ => return None,
    })
}

/// The UAM event a legacy record type converts to; [`LEGACY_RECORD`] for legacy-only types.
pub fn uam_event_for_legacy(record_type: &str) -> &'static CatalogEntry {
    if let Some(e) = catalog::entry(record_type) {
        // the peer data and Trail's GET /audit use UAM names as record types
        return e;
    }
    if let Some(e) = representative(record_type).and_then(catalog::entry) {
        return e;
    }
    catalog::uam_events_of_legacy(record_type)
        .first()
        .copied()
        .unwrap_or(&LEGACY_RECORD)
}

/// The UAM form of any stored document: a UAM event as it is, a legacy record converted.
pub fn to_uam_value(document: &str) -> Result<Value, EventError> {
    let dims = parse_event(document)?;
    match dims.form {
        EventForm::Uam => serde_json::from_str(document)
            .map_err(|e| EventError::new("(document)", format!("not valid JSON: {e}"))),
        EventForm::Legacy => legacy_to_uam(document),
    }
}

/// Converts a legacy record to a UAM event (see the module docs for the rules and what is lost).
/// A UAM document is refused: it is already in that form.
pub fn legacy_to_uam(document: &str) -> Result<Value, EventError> {
    let dims = parse_event(document)?;
    if dims.form == EventForm::Uam {
        return Err(EventError::new(
            "(document)",
            "already a UAM event; only legacy records are converted",
        ));
    }
    let rec: Map<String, Value> = serde_json::from_str(document)
        .map_err(|e| EventError::new("(document)", format!("not valid JSON: {e}")))?;
    let s = |k: &str| rec.get(k).and_then(Value::as_str).map(str::to_string);
    let rt = dims.record_type.as_str();
    let entry = uam_event_for_legacy(rt);

    let mut targets = Vec::new();
    let ds_name = s("dataSourceName");
    match dims.data_sources.first() {
        Some(ds) => {
            targets.push(json!({"type": "DATASOURCE", "id": ds.id.to_string(), "name": ds.name}))
        }
        None if ds_name.is_some() => targets.push(json!({"type": "DATASOURCE", "name": ds_name})),
        None => {}
    }
    let project_name = s("projectName");
    match &dims.project {
        Some(p) => targets.push(json!({"type": "PROJECT", "id": p.id.to_string(), "name": p.name})),
        None if project_name.is_some() => {
            targets.push(json!({"type": "PROJECT", "name": project_name}))
        }
        None => {}
    }

    let mut payload = Map::new();
    payload.insert("type".into(), json!(entry.payload_type));
    payload.insert(
        "version".into(),
        json!(entry.versions.first().copied().unwrap_or(1)),
    );
    payload.insert("legacyRecordType".into(), json!(rt));
    let mut target_type = entry.target_types.first().copied().unwrap_or("NONE");
    match rt {
        "dataSourceSubscription" => {
            payload.insert("modelType".into(), json!("DATASOURCE"));
            target_type = "DATASOURCE";
        }
        "projectSubscription" => {
            payload.insert("modelType".into(), json!("PROJECT"));
            target_type = "PROJECT";
        }
        "collectionDataSourceAdded" => {
            payload.insert("updateType".into(), json!("ADDED"));
        }
        "collectionDataSourceRemoved" => {
            payload.insert("updateType".into(), json!("REMOVED"));
        }
        "collectionDataSourceUpdated" => {
            payload.insert("updateType".into(), json!("UPDATED"));
        }
        "collectionPermissionGranted" => {
            payload.insert("updateType".into(), json!("GRANTED"));
        }
        "collectionPermissionRevoked" => {
            payload.insert("updateType".into(), json!("REVOKED"));
        }
        "accessGroup" => target_type = "GROUP",
        "accessUser" => target_type = "USER",
        _ => {}
    }
    if entry.payload_type == "QueryAuditPayload" {
        let platform = entry.name.strip_suffix("Query").unwrap_or(entry.name);
        payload.insert(
            "technologyContext".into(),
            json!({"type": format!("{platform}Context")}),
        );
    }
    if entry.name == LEGACY_RECORD.name {
        target_type = if !dims.data_sources.is_empty() || ds_name.is_some() {
            "DATASOURCE"
        } else if dims.project.is_some() || project_name.is_some() {
            "PROJECT"
        } else {
            "NONE"
        };
        payload.insert("record".into(), Value::Object(rec.clone()));
    } else {
        for k in ["blobId", "warning", "fingerprintVersionName"] {
            if let Some(v) = rec.get(k).filter(|v| !v.is_null()) {
                payload.insert(k.into(), v.clone());
            }
        }
    }
    if !dims.purpose_ids.is_empty() {
        payload.insert("purposeIds".into(), json!(dims.purpose_ids));
    }

    let status = match s("outcome").as_deref() {
        Some("success") => "SUCCESS",
        Some("insufficientAuthorizations") | Some("insufficientPermissions") => "UNAUTHORIZED",
        Some(_) => "FAILURE",
        None => match rec.get("success").and_then(Value::as_bool) {
            Some(false) => "FAILURE",
            _ => "SUCCESS",
        },
    };
    let mut actor = Map::new();
    actor.insert("type".into(), json!("USER_ACTOR"));
    actor.insert(
        "id".into(),
        json!(dims
            .user_id
            .clone()
            .unwrap_or_else(|| "unknown".to_string())),
    );
    if let Some(p) = dims.profile_id {
        actor.insert("profileId".into(), json!(p.to_string()));
    }
    if let Some(e) = &dims.email {
        actor.insert("email".into(), json!(e));
    }
    Ok(json!({
        "id": dims.id,
        "tenantId": null,
        "eventTimestamp": format_iso_ms(dims.event_time_ms),
        "action": entry.actions.first().copied().unwrap_or("UNKNOWN"),
        "actionStatus": status,
        "actionStatusReason": s("failureReason"),
        "actor": actor,
        "targetType": target_type,
        "targets": targets,
        "relatedResources": [],
        "auditPayload": payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CATALOG, LEGACY_ONLY};
    use crate::validate::{validate_event, Checked};
    use std::collections::BTreeSet;

    /// (UAM event, targetType, payload members, legacy record type, UAM event converted back).
    /// One row per catalogue entry and per value of its discriminator.
    const TABLE: &[(&str, &str, &str, &str, &str)] = &[
        ("ApiKeyCreated", "APIKEY", "", "apiKey", "ApiKeyCreated"),
        ("ApiKeyDeleted", "APIKEY", "", "apiKey", "ApiKeyCreated"),
        ("AttributeApplied", "USER", "", "accessUser", "UserCreated"),
        (
            "AttributeApplied",
            "GROUP",
            "",
            "accessGroup",
            "GroupUpdated",
        ),
        ("AttributeRemoved", "USER", "", "accessUser", "UserCreated"),
        (
            "AttributeRemoved",
            "GROUP",
            "",
            "accessGroup",
            "GroupUpdated",
        ),
        (
            "ConfigurationUpdated",
            "CONFIGURATION",
            "",
            "configurationUpdate",
            "ConfigurationUpdated",
        ),
        (
            "DatasourceAppliedToProject",
            "DATASOURCE",
            "",
            "addToProject",
            "DatasourceAppliedToProject",
        ),
        (
            "DatasourceCatalogSynced",
            "DATASOURCE",
            "",
            "catalogUpdate",
            "DatasourceCatalogSynced",
        ),
        (
            "DatasourceCreated",
            "DATASOURCE",
            "",
            "dataSourceCreate",
            "DatasourceCreated",
        ),
        (
            "DatasourceDeleted",
            "DATASOURCE",
            "",
            "dataSourceDelete",
            "DatasourceDeleted",
        ),
        (
            "DatasourceDisabled",
            "DATASOURCE",
            "",
            "DatasourceDisabled",
            "DatasourceDisabled",
        ),
        (
            "DatasourceGlobalPolicyApplied",
            "DATASOURCE",
            "",
            "globalPolicyApplied",
            "DatasourceGlobalPolicyApplied",
        ),
        (
            "DatasourceGlobalPolicyConflictResolved",
            "DATASOURCE",
            "",
            "globalPolicyConflictResolved",
            "DatasourceGlobalPolicyConflictResolved",
        ),
        (
            "DatasourceGlobalPolicyDisabled",
            "DATASOURCE",
            "",
            "globalPolicyDisabled",
            "DatasourceGlobalPolicyDisabled",
        ),
        (
            "DatasourceGlobalPolicyRemoved",
            "DATASOURCE",
            "",
            "globalPolicyRemoved",
            "DatasourceGlobalPolicyRemoved",
        ),
        (
            "DatasourcePolicyCertificationExpired",
            "DATASOURCE",
            "",
            "policyCertificationExpired",
            "DatasourcePolicyCertificationExpired",
        ),
        (
            "DatasourcePolicyCertified",
            "DATASOURCE",
            "",
            "globalPolicyCertify",
            "DatasourcePolicyCertified",
        ),
        (
            "DatasourcePolicyDecertified",
            "DATASOURCE",
            "",
            "DatasourcePolicyDecertified",
            "DatasourcePolicyDecertified",
        ),
        (
            "DatasourceRemovedFromProject",
            "DATASOURCE",
            "",
            "removeFromProject",
            "DatasourceRemovedFromProject",
        ),
        (
            "DatasourceUpdated",
            "DATASOURCE",
            "",
            "dataSourceUpdate",
            "DatasourceUpdated",
        ),
        (
            "DomainCreated",
            "DOMAIN",
            "",
            "collectionCreated",
            "DomainCreated",
        ),
        (
            "DomainDataSourcesUpdated",
            "DOMAIN",
            r#""updateType":"ADDED""#,
            "collectionDataSourceAdded",
            "DomainDataSourcesUpdated",
        ),
        (
            "DomainDataSourcesUpdated",
            "DOMAIN",
            r#""updateType":"REMOVED""#,
            "collectionDataSourceRemoved",
            "DomainDataSourcesUpdated",
        ),
        (
            "DomainDataSourcesUpdated",
            "DOMAIN",
            r#""updateType":"UPDATED""#,
            "collectionDataSourceUpdated",
            "DomainDataSourcesUpdated",
        ),
        (
            "DomainDeleted",
            "DOMAIN",
            "",
            "collectionDeleted",
            "DomainDeleted",
        ),
        (
            "DomainPermissionsUpdated",
            "DOMAIN",
            r#""updateType":"GRANTED""#,
            "collectionPermissionGranted",
            "DomainPermissionsUpdated",
        ),
        (
            "DomainPermissionsUpdated",
            "DOMAIN",
            r#""updateType":"REVOKED""#,
            "collectionPermissionRevoked",
            "DomainPermissionsUpdated",
        ),
        (
            "DomainUpdated",
            "DOMAIN",
            "",
            "collectionUpdated",
            "DomainUpdated",
        ),
        (
            "GlobalPolicyApprovalRescinded",
            "POLICY",
            "",
            "globalPolicyApprovalRescinded",
            "GlobalPolicyApprovalRescinded",
        ),
        (
            "GlobalPolicyApproved",
            "POLICY",
            "",
            "globalPolicyApproved",
            "GlobalPolicyApproved",
        ),
        (
            "GlobalPolicyChangeRequested",
            "POLICY",
            "",
            "globalPolicyChangeRequested",
            "GlobalPolicyChangeRequested",
        ),
        (
            "GlobalPolicyCreated",
            "POLICY",
            "",
            "globalPolicyCreate",
            "GlobalPolicyCreated",
        ),
        (
            "GlobalPolicyDeleted",
            "POLICY",
            "",
            "globalPolicyDelete",
            "GlobalPolicyDeleted",
        ),
        (
            "GlobalPolicyPromoted",
            "POLICY",
            "",
            "globalPolicyPromoted",
            "GlobalPolicyPromoted",
        ),
        (
            "GlobalPolicyReviewRequested",
            "POLICY",
            "",
            "globalPolicyReviewRequested",
            "GlobalPolicyReviewRequested",
        ),
        (
            "GlobalPolicyUpdated",
            "POLICY",
            "",
            "globalPolicyUpdate",
            "GlobalPolicyUpdated",
        ),
        ("GroupCreated", "GROUP", "", "accessGroup", "GroupUpdated"),
        ("GroupDeleted", "GROUP", "", "accessGroup", "GroupUpdated"),
        (
            "GroupMemberAdded",
            "GROUP",
            "",
            "accessGroup",
            "GroupUpdated",
        ),
        (
            "GroupMemberRemoved",
            "GROUP",
            "",
            "accessGroup",
            "GroupUpdated",
        ),
        ("GroupUpdated", "GROUP", "", "accessGroup", "GroupUpdated"),
        (
            "LicenseCreated",
            "LICENSE",
            "",
            "licenseCreate",
            "LicenseCreated",
        ),
        (
            "LicenseDeleted",
            "LICENSE",
            "",
            "licenseDelete",
            "LicenseDeleted",
        ),
        (
            "LocalPolicyCreated",
            "DATASOURCE",
            "",
            "policyHandlerCreate",
            "LocalPolicyCreated",
        ),
        (
            "LocalPolicyUpdated",
            "DATASOURCE",
            "",
            "policyHandlerUpdate",
            "LocalPolicyUpdated",
        ),
        ("PermissionApplied", "USER", "", "accessUser", "UserCreated"),
        ("PermissionRemoved", "USER", "", "accessUser", "UserCreated"),
        (
            "PolicyAdjustmentCreated",
            "PROJECT",
            "",
            "policyAdjustmentCreate",
            "PolicyAdjustmentCreated",
        ),
        (
            "PolicyAdjustmentDeleted",
            "PROJECT",
            "",
            "policyAdjustmentDelete",
            "PolicyAdjustmentDeleted",
        ),
        (
            "ProjectCreated",
            "PROJECT",
            "",
            "projectCreate",
            "ProjectCreated",
        ),
        (
            "ProjectDeleted",
            "PROJECT",
            "",
            "projectDelete",
            "ProjectDeleted",
        ),
        (
            "ProjectDisabled",
            "PROJECT",
            "",
            "ProjectDisabled",
            "ProjectDisabled",
        ),
        (
            "ProjectPurposeApproved",
            "PROJECT",
            "",
            "projectPurposeApprove",
            "ProjectPurposeApproved",
        ),
        (
            "ProjectPurposeDenied",
            "PROJECT",
            "",
            "projectPurposeDeny",
            "ProjectPurposeDenied",
        ),
        (
            "ProjectPurposesAcknowledged",
            "PROJECT",
            "",
            "acknowledgePurposes",
            "ProjectPurposesAcknowledged",
        ),
        (
            "ProjectUpdated",
            "PROJECT",
            "",
            "projectUpdate",
            "ProjectUpdated",
        ),
        (
            "PurposeDeleted",
            "PURPOSE",
            "",
            "purposeDelete",
            "PurposeDeleted",
        ),
        (
            "PurposeUpdated",
            "PURPOSE",
            "",
            "purposeUpdate",
            "PurposeUpdated",
        ),
        (
            "PurposeUpserted",
            "PURPOSE",
            "",
            "purposeCreate",
            "PurposeUpserted",
        ),
        (
            "SDDClassifierCreated",
            "CLASSIFIER",
            r#""config":{"regex":"^\\d+$"}"#,
            "sddClassifierCreated",
            "SDDClassifierCreated",
        ),
        (
            "SDDClassifierDeleted",
            "CLASSIFIER",
            "",
            "sddClassifierDeleted",
            "SDDClassifierDeleted",
        ),
        (
            "SDDClassifierUpdated",
            "CLASSIFIER",
            r#""config":{"values":["a"]}"#,
            "sddClassifierUpdated",
            "SDDClassifierUpdated",
        ),
        (
            "SDDDatasourceTagUpdated",
            "DATASOURCE",
            "",
            "sddDatasourceTagUpdate",
            "SDDDatasourceTagUpdated",
        ),
        (
            "SDDTemplateApplied",
            "IDENTIFICATION_FRAMEWORK",
            "",
            "sddTemplateApplied",
            "SDDTemplateApplied",
        ),
        (
            "SDDTemplateCloned",
            "IDENTIFICATION_FRAMEWORK",
            "",
            "sddTemplateCreated",
            "SDDTemplateCreated",
        ),
        (
            "SDDTemplateCreated",
            "IDENTIFICATION_FRAMEWORK",
            "",
            "sddTemplateCreated",
            "SDDTemplateCreated",
        ),
        (
            "SDDTemplateDeleted",
            "IDENTIFICATION_FRAMEWORK",
            "",
            "sddTemplateDeleted",
            "SDDTemplateDeleted",
        ),
        (
            "SDDTemplateUpdated",
            "IDENTIFICATION_FRAMEWORK",
            "",
            "sddTemplateUpdated",
            "SDDTemplateUpdated",
        ),
        (
            "SubscriptionCreated",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionCreated",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionDeleted",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionDeleted",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequestApproved",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequestApproved",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequestDenied",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequestDenied",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequested",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionRequested",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionUpdated",
            "DATASOURCE",
            r#""modelType":"DATASOURCE""#,
            "dataSourceSubscription",
            "SubscriptionCreated",
        ),
        (
            "SubscriptionUpdated",
            "PROJECT",
            r#""modelType":"PROJECT""#,
            "projectSubscription",
            "SubscriptionCreated",
        ),
        ("TagApplied", "DATASOURCE", "", "tagAdded", "TagApplied"),
        ("TagCreated", "TAG", "", "tagCreated", "TagCreated"),
        ("TagDeleted", "TAG", "", "tagDeleted", "TagDeleted"),
        ("TagRemoved", "DATASOURCE", "", "tagRemoved", "TagRemoved"),
        ("TagUpdated", "TAG", "", "tagUpdated", "TagUpdated"),
        (
            "UserAuthenticated",
            "USER",
            r#""authenticationMethod":"SAML""#,
            "authenticate",
            "UserAuthenticated",
        ),
        ("UserCloned", "USER", "", "accessUser", "UserCreated"),
        ("UserCreated", "USER", "", "accessUser", "UserCreated"),
        ("UserDeleted", "USER", "", "accessUser", "UserCreated"),
        (
            "UserLogout",
            "USER",
            r#""authenticationMethod":"apiKey","logoutReason":"IDP_INITIATED""#,
            "UserLogout",
            "UserLogout",
        ),
        (
            "UserOneTimeTokenCreated",
            "USER",
            "",
            "accessUser",
            "UserCreated",
        ),
        (
            "UserPasswordUpdated",
            "USER",
            "",
            "accessUser",
            "UserCreated",
        ),
        (
            "UserUpdated",
            "USER",
            "",
            "externalUserIdChanged",
            "UserUpdated",
        ),
        (
            "WebhookCreated",
            "WEBHOOK",
            "",
            "webhookCreate",
            "WebhookCreated",
        ),
        (
            "WebhookDeleted",
            "WEBHOOK",
            "",
            "webhookDelete",
            "WebhookDeleted",
        ),
        (
            "SnowflakeQuery",
            "DATASOURCE",
            r#""technologyContext":{"type":"SnowflakeContext"}"#,
            "SnowflakeQuery",
            "SnowflakeQuery",
        ),
        (
            "DatabricksQuery",
            "DATASOURCE",
            r#""technologyContext":{"type":"DatabricksContext"}"#,
            "DatabricksQuery",
            "DatabricksQuery",
        ),
        (
            "TrinoQuery",
            "DATASOURCE",
            r#""technologyContext":{"type":"TrinoContext"}"#,
            "TrinoQuery",
            "TrinoQuery",
        ),
        ("AuditQuery", "AUDIT", "", "auditQuery", "AuditQuery"),
    ];

    /// Legacy record types that several legacy types merge into one UAM event (many-to-one),
    /// and legacy-only ones: (record type, UAM event).
    const LEGACY_TABLE: &[(&str, &str)] = &[
        ("dataSourceUpdate", "DatasourceUpdated"),
        ("dataSourceSave", "DatasourceUpdated"),
        ("collectionDataSourceAdded", "DomainDataSourcesUpdated"),
        ("collectionDataSourceRemoved", "DomainDataSourcesUpdated"),
        ("collectionDataSourceUpdated", "DomainDataSourcesUpdated"),
        ("collectionPermissionGranted", "DomainPermissionsUpdated"),
        ("collectionPermissionRevoked", "DomainPermissionsUpdated"),
        ("spark", "DatabricksQuery"),
        ("nativeQuery", "SnowflakeQuery"),
        ("prestoQuery", "TrinoQuery"),
        ("sqlQuery", "LegacyRecord"),
        ("handleTask", "LegacyRecord"),
    ];

    fn uam_doc(name: &str, target_type: &str, members: &str) -> String {
        let e = catalog::entry(name).unwrap();
        let sep = if members.is_empty() { "" } else { "," };
        format!(
            r#"{{"id":"ev-{name}","tenantId":"t","eventTimestamp":"2024-03-01T10:00:00.123Z","action":"{action}",
            "actionStatus":"FAILURE","actionStatusReason":"no","actor":{{"type":"USER_ACTOR","id":"ana@x.io","profileId":"42"}},
            "targetType":"{target_type}","targets":[{{"type":"DATASOURCE","id":"7","name":"Claims"}},{{"type":"DATASOURCE","id":"8","name":"Notes"}},{{"type":"PROJECT","id":"3","name":"P3"}}],
            "auditPayload":{{"type":"{ptype}","version":1,"purposeIds":[5]{sep}{members}}}}}"#,
            action = e.actions[0],
            ptype = e.payload_type,
        )
    }

    fn name_of(uam: &Value) -> String {
        let p = uam["auditPayload"].as_object().unwrap();
        catalog::event_name(p["type"].as_str().unwrap(), p)
    }

    #[test]
    fn every_catalogue_entry_maps_to_legacy_and_back() {
        let covered: BTreeSet<&str> = TABLE.iter().map(|r| r.0).collect();
        let all: BTreeSet<&str> = CATALOG.iter().map(|e| e.name).collect();
        assert_eq!(covered, all, "the table covers the whole catalogue");
        for &(name, target_type, members, legacy, back) in TABLE {
            let doc = uam_doc(name, target_type, members);
            assert_eq!(
                validate_event(&doc, false),
                Ok(Checked::Known(catalog::entry(name).unwrap().name)),
                "{name}"
            );
            let hit = uam_to_legacy(&doc).unwrap();
            assert_eq!(hit.record_type, legacy, "{name} {members}");
            assert_eq!(hit.date_time, "1709287200123");
            assert_eq!(hit.profile_id, Some(42));
            assert_eq!(hit.user_id.as_deref(), Some("ana@x.io"));
            assert_eq!(hit.success, Some(false));
            assert_eq!(hit.failure_reason.as_deref(), Some("no"));
            assert_eq!(hit.data_source_name.as_deref(), Some("Claims"));
            assert_eq!(hit.project_name.as_deref(), Some("P3"));
            assert_eq!(hit.purpose_ids, Some(vec![5]));

            let record = serde_json::to_string(&hit).unwrap();
            let uam = legacy_to_uam(&record).unwrap();
            assert_eq!(name_of(&uam), back, "{name} via {legacy}");
            assert_eq!(uam["id"], json!(format!("ev-{name}")));
            assert_eq!(uam["eventTimestamp"], "2024-03-01T10:00:00.123Z");
            assert_eq!(uam["actionStatus"], "FAILURE");
            assert_eq!(uam["actor"]["profileId"], "42");
            assert!(
                matches!(
                    validate_event(&uam.to_string(), false),
                    Ok(Checked::Known(_))
                ),
                "{name}: the converted event passes ingest validation: {uam}"
            );
            // and the converted event is listed under the same legacy record type again
            let again = uam_to_legacy(&uam.to_string()).unwrap();
            assert_eq!(again.record_type, legacy, "{name}: {uam}");
        }
    }

    #[test]
    fn every_legacy_type_maps_to_uam_and_back_to_itself() {
        let mut types: BTreeSet<&str> = CATALOG
            .iter()
            .flat_map(|e| e.legacy.iter().copied())
            .collect();
        types.extend(LEGACY_ONLY.iter().copied());
        for &(rt, uam_name) in LEGACY_TABLE {
            assert!(types.contains(rt), "{rt}");
            let rec = format!(
                r#"{{"id":"l-{rt}","dateTime":"1709287200123","recordType":"{rt}","userId":"u","profileId":9,"success":true}}"#
            );
            assert_eq!(name_of(&legacy_to_uam(&rec).unwrap()), uam_name, "{rt}");
        }
        for rt in types {
            let rec = format!(
                r#"{{"id":"l-{rt}","dateTime":"1709287200123","dataSourceId":4,"dataSourceName":"D","projectName":"P","recordType":"{rt}","blobId":null,"userId":"u@x","profileId":9,"purposeIds":[1],"success":false,"failureReason":"denied","warning":true,"fingerprintVersionName":null,"email":"u@x"}}"#
            );
            let uam = legacy_to_uam(&rec).unwrap();
            let candidates = catalog::uam_events_of_legacy(rt);
            let name = name_of(&uam);
            if candidates.is_empty() {
                assert_eq!(name, "LegacyRecord", "{rt}");
                assert_eq!(uam["auditPayload"]["record"]["recordType"], rt);
            } else {
                assert!(candidates.iter().any(|e| e.name == name), "{rt} → {name}");
                if candidates.len() > 1 {
                    assert_eq!(Some(name.as_str()), representative(rt), "{rt}");
                }
            }
            assert!(
                matches!(
                    validate_event(&uam.to_string(), false),
                    Ok(Checked::Known(_))
                ),
                "{rt}: {uam}"
            );
            let back = uam_to_legacy(&uam.to_string()).unwrap();
            assert_eq!(back.record_type, rt);
            assert_eq!(back.success, Some(false));
            assert_eq!(back.failure_reason.as_deref(), Some("denied"));
            assert_eq!(back.data_source_name.as_deref(), Some("D"));
            assert_eq!(back.project_name.as_deref(), Some("P"));
            assert_eq!(back.profile_id, Some(9));
            assert_eq!(back.purpose_ids, Some(vec![1]));
            assert_eq!(back.date_time, "1709287200123");
        }
    }

    #[test]
    fn a_uam_document_is_not_converted_again() {
        let doc = uam_doc("TagCreated", "TAG", "");
        assert_eq!(legacy_to_uam(&doc).unwrap_err().field, "(document)");
        assert_eq!(to_uam_value(&doc).unwrap()["id"], "ev-TagCreated");
    }
}
