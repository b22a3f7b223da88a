//! The UAM event catalogue of seed 003, as data: every UAM event, its legacy record type(s), and
//! the discriminator that picks one when a UAM event maps to several legacy types.
//!
//! Resolutions of the seed's errors (also in docs):
//! - Four entries are all titled `SubscriptionUpdated`. By their descriptions they are the
//!   removed, approved, denied and updated cases; Trail names them `SubscriptionDeleted`,
//!   `SubscriptionRequestApproved`, `SubscriptionRequestDenied` and `SubscriptionUpdated`.
//! - `ProjectUpdated` is listed with legacy `projectPurposeDeny`; the legacy list says
//!   `projectUpdate` is "updating a project", so Trail maps `ProjectUpdated` to `projectUpdate`
//!   (`projectPurposeDeny` stays with `ProjectPurposeDenied`).
//! - Query events (`SnowflakeQuery`, `DatabricksQuery`, `TrinoQuery`) keep their UAM name as record
//!   type, which is how query audit appears in Immuta's audit views and in the peer benchmark data;
//!   legacy `nativeQuery`, `spark` and `prestoQuery` records keep theirs.
//! - `AuditQuery` is Trail's own event (not in seed 003): a search of the audit log, listed under
//!   the legacy `auditQuery` type that Immuta's own sample shows for reads of the audit log.
//! - UAM events with no legacy type (`DatasourceDisabled`, `ProjectDisabled`, `UserLogout`,
//!   `DatasourcePolicyDecertified`) and unknown payload types are listed under their UAM name.

use serde_json::{Map, Value};

/// How a UAM event with several legacy record types picks one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discriminator {
    /// One legacy type (or none).
    Fixed,
    /// `targetType` GROUP → second, else first.
    TargetTypeGroup,
    /// `auditPayload.modelType` or `targets[].model.type` PROJECT → second, else first.
    ModelType,
    /// `auditPayload.updateType`: added / removed / otherwise.
    UpdateTypeAddRemove,
    /// `auditPayload.updateType`: granted / revoked.
    UpdateTypeGrantRevoke,
}

/// One UAM event of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub legacy: &'static [&'static str],
    pub discriminator: Discriminator,
}

use Discriminator::*;

macro_rules! entries {
    ($( $name:literal => [$($legacy:literal),*] $(by $d:ident)? ;)*) => {
        &[ $( CatalogEntry { name: $name, legacy: &[$($legacy),*], discriminator: entries!(@d $($d)?) } ),* ]
    };
    (@d) => { Fixed };
    (@d $d:ident) => { $d };
}

/// Every UAM event Trail knows.
pub static CATALOG: &[CatalogEntry] = entries! {
    "ApiKeyCreated" => ["apiKey"];
    "ApiKeyDeleted" => ["apiKey"];
    "AttributeApplied" => ["accessUser", "accessGroup"] by TargetTypeGroup;
    "AttributeRemoved" => ["accessUser", "accessGroup"] by TargetTypeGroup;
    "ConfigurationUpdated" => ["configurationUpdate"];
    "DatasourceAppliedToProject" => ["addToProject"];
    "DatasourceCatalogSynced" => ["catalogUpdate"];
    "DatasourceCreated" => ["dataSourceCreate"];
    "DatasourceDeleted" => ["dataSourceDelete"];
    "DatasourceDisabled" => [];
    "DatasourceGlobalPolicyApplied" => ["globalPolicyApplied"];
    "DatasourceGlobalPolicyConflictResolved" => ["globalPolicyConflictResolved"];
    "DatasourceGlobalPolicyDisabled" => ["globalPolicyDisabled"];
    "DatasourceGlobalPolicyRemoved" => ["globalPolicyRemoved"];
    "DatasourcePolicyCertificationExpired" => ["policyCertificationExpired"];
    "DatasourcePolicyCertified" => ["globalPolicyCertify"];
    "DatasourcePolicyDecertified" => [];
    "DatasourceRemovedFromProject" => ["removeFromProject"];
    "DatasourceUpdated" => ["dataSourceUpdate", "dataSourceSave"];
    "DomainCreated" => ["collectionCreated"];
    "DomainDataSourcesUpdated" => ["collectionDataSourceAdded", "collectionDataSourceRemoved", "collectionDataSourceUpdated"] by UpdateTypeAddRemove;
    "DomainDeleted" => ["collectionDeleted"];
    "DomainPermissionsUpdated" => ["collectionPermissionGranted", "collectionPermissionRevoked"] by UpdateTypeGrantRevoke;
    "DomainUpdated" => ["collectionUpdated"];
    "GlobalPolicyApprovalRescinded" => ["globalPolicyApprovalRescinded"];
    "GlobalPolicyApproved" => ["globalPolicyApproved"];
    "GlobalPolicyChangeRequested" => ["globalPolicyChangeRequested"];
    "GlobalPolicyCreated" => ["globalPolicyCreate"];
    "GlobalPolicyDeleted" => ["globalPolicyDelete"];
    "GlobalPolicyPromoted" => ["globalPolicyPromoted"];
    "GlobalPolicyReviewRequested" => ["globalPolicyReviewRequested"];
    "GlobalPolicyUpdated" => ["globalPolicyUpdate"];
    "GroupCreated" => ["accessGroup"];
    "GroupDeleted" => ["accessGroup"];
    "GroupMemberAdded" => ["accessGroup"];
    "GroupMemberRemoved" => ["accessGroup"];
    "GroupUpdated" => ["accessGroup"];
    "LicenseCreated" => ["licenseCreate"];
    "LicenseDeleted" => ["licenseDelete"];
    "LocalPolicyCreated" => ["policyHandlerCreate"];
    "LocalPolicyUpdated" => ["policyHandlerUpdate"];
    "PermissionApplied" => ["accessUser"];
    "PermissionRemoved" => ["accessUser"];
    "PolicyAdjustmentCreated" => ["policyAdjustmentCreate"];
    "PolicyAdjustmentDeleted" => ["policyAdjustmentDelete"];
    "ProjectCreated" => ["projectCreate"];
    "ProjectDeleted" => ["projectDelete"];
    "ProjectDisabled" => [];
    "ProjectPurposeApproved" => ["projectPurposeApprove"];
    "ProjectPurposeDenied" => ["projectPurposeDeny"];
    "ProjectPurposesAcknowledged" => ["acknowledgePurposes"];
    "ProjectUpdated" => ["projectUpdate"];
    "PurposeDeleted" => ["purposeDelete"];
    "PurposeUpdated" => ["purposeUpdate"];
    "PurposeUpserted" => ["purposeCreate"];
    "SDDClassifierCreated" => ["sddClassifierCreated"];
    "SDDClassifierDeleted" => ["sddClassifierDeleted"];
    "SDDClassifierUpdated" => ["sddClassifierUpdated"];
    "SDDDatasourceTagUpdated" => ["sddDatasourceTagUpdate"];
    "SDDTemplateApplied" => ["sddTemplateApplied"];
    "SDDTemplateCloned" => ["sddTemplateCreated"];
    "SDDTemplateCreated" => ["sddTemplateCreated"];
    "SDDTemplateDeleted" => ["sddTemplateDeleted"];
    "SDDTemplateUpdated" => ["sddTemplateUpdated"];
    "SubscriptionCreated" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "SubscriptionDeleted" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "SubscriptionRequestApproved" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "SubscriptionRequestDenied" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "SubscriptionRequested" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "SubscriptionUpdated" => ["dataSourceSubscription", "projectSubscription"] by ModelType;
    "TagApplied" => ["tagAdded"];
    "TagCreated" => ["tagCreated"];
    "TagDeleted" => ["tagDeleted"];
    "TagRemoved" => ["tagRemoved"];
    "TagUpdated" => ["tagUpdated"];
    "UserAuthenticated" => ["authenticate"];
    "UserCloned" => ["accessUser"];
    "UserCreated" => ["accessUser"];
    "UserDeleted" => ["accessUser"];
    "UserLogout" => [];
    "UserOneTimeTokenCreated" => ["accessUser"];
    "UserPasswordUpdated" => ["accessUser"];
    "UserUpdated" => ["externalUserIdChanged"];
    "WebhookCreated" => ["webhookCreate"];
    "WebhookDeleted" => ["webhookDelete"];
    "SnowflakeQuery" => ["nativeQuery"];
    "DatabricksQuery" => ["spark", "nativeQuery"];
    "TrinoQuery" => ["prestoQuery"];
    "AuditQuery" => ["auditQuery"];
};

/// Looks an event up by its UAM name.
pub fn entry(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// The UAM event name of a payload: `<Name>AuditPayload` → `Name`; a `QueryAuditPayload` is named
/// by its platform (`SnowflakeQuery`, `DatabricksQuery`, `TrinoQuery`).
pub fn event_name(payload_type: &str, payload: &Map<String, Value>) -> String {
    if payload_type == "QueryAuditPayload" {
        return query_event_name(payload).to_string();
    }
    payload_type
        .strip_suffix("AuditPayload")
        .unwrap_or(payload_type)
        .to_string()
}

fn query_event_name(payload: &Map<String, Value>) -> &'static str {
    let ctx = payload.get("technologyContext").and_then(Value::as_object);
    let hint = ctx
        .map(|c| {
            ["type", "technology", "platform"]
                .iter()
                .filter_map(|k| c.get(*k).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if hint.contains("databricks") || hint.contains("spark") {
        "DatabricksQuery"
    } else if hint.contains("trino") || hint.contains("starburst") || hint.contains("presto") {
        "TrinoQuery"
    } else {
        "SnowflakeQuery"
    }
}

/// The legacy record type under which a UAM event is listed by `GET /audit`.
pub fn legacy_record_type(
    payload_type: &str,
    payload: &Map<String, Value>,
    target_type: Option<&str>,
    _action: Option<&str>,
) -> String {
    let name = event_name(payload_type, payload);
    if matches!(
        name.as_str(),
        "SnowflakeQuery" | "DatabricksQuery" | "TrinoQuery"
    ) {
        return name;
    }
    let Some(e) = entry(&name) else { return name };
    let pick = |i: usize| e.legacy.get(i).or(e.legacy.first()).map(|s| s.to_string());
    let upper = |k: &str| {
        payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    let chosen = match e.discriminator {
        Fixed => pick(0),
        TargetTypeGroup => pick(usize::from(target_type == Some("GROUP"))),
        ModelType => pick(usize::from(upper("modelType") == "PROJECT")),
        UpdateTypeAddRemove => {
            let u = upper("updateType");
            pick(if u.contains("ADD") {
                0
            } else if u.contains("REMOV") {
                1
            } else {
                2
            })
        }
        UpdateTypeGrantRevoke => pick(usize::from(upper("updateType").contains("REVOK"))),
    };
    chosen.unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = CATALOG.iter().map(|e| e.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn one_to_many_cases_pick_by_discriminator() {
        let p = obj(json!({"type": "AttributeAppliedAuditPayload"}));
        assert_eq!(
            legacy_record_type("AttributeAppliedAuditPayload", &p, Some("GROUP"), None),
            "accessGroup"
        );
        assert_eq!(
            legacy_record_type("AttributeAppliedAuditPayload", &p, Some("USER"), None),
            "accessUser"
        );
        let p = obj(json!({"modelType": "PROJECT"}));
        assert_eq!(
            legacy_record_type("SubscriptionCreatedAuditPayload", &p, None, None),
            "projectSubscription"
        );
        let p = obj(json!({"updateType": "REMOVED"}));
        assert_eq!(
            legacy_record_type("DomainDataSourcesUpdatedAuditPayload", &p, None, None),
            "collectionDataSourceRemoved"
        );
        let p = obj(json!({"updateType": "REVOKED"}));
        assert_eq!(
            legacy_record_type("DomainPermissionsUpdatedAuditPayload", &p, None, None),
            "collectionPermissionRevoked"
        );
        let p = obj(json!({}));
        assert_eq!(
            legacy_record_type("ProjectUpdatedAuditPayload", &p, None, None),
            "projectUpdate"
        );
        assert_eq!(
            legacy_record_type("UserLogoutAuditPayload", &p, None, None),
            "UserLogout"
        );
        assert_eq!(
            legacy_record_type("SomethingNewAuditPayload", &p, None, None),
            "SomethingNew"
        );
        let p = obj(json!({"technologyContext": {"type": "TrinoContext"}}));
        assert_eq!(
            legacy_record_type("QueryAuditPayload", &p, None, None),
            "TrinoQuery"
        );
    }
}
