//! The UAM events Trail writes about itself: an audit log must record who read it and who
//! changed who may read it.
//!
//! Events go through the same `AuditStore::append` as ingested ones, so they are durable,
//! searchable and hash-sealed like any other. What is written:
//!
//! | what happened | UAM event (`auditPayload.type` without `AuditPayload`) | legacy `recordType` | `action` |
//! |---|---|---|---|
//! | a search (`GET /audit`, `/audit/{id}`, `/audit/apikey/activity`) | `AuditQuery` | `auditQuery` | `QUERY` |
//! | an API key created / revoked | `ApiKeyCreated` / `ApiKeyDeleted` | `apiKey` | `CREATE` / `DELETE` |
//! | a user created / replaced | `UserCreated` / `UserUpdated` | `accessUser` / `externalUserIdChanged` | `CREATE` / `UPDATE` |
//! | a permission granted / taken away | `PermissionApplied` / `PermissionRemoved` | `accessUser` | `UPDATE` |
//! | a failed authentication (rate-limited per client IP) | `UserAuthenticated`, `actionStatus` `FAILURE` | `authenticate` | `LOGIN` |
//!
//! Keys and users changed outside HTTP (the `trail` CLI, the first admin and the demo key of
//! `trail serve`) get the same events through [`LocalAudit`], with a `SYSTEM_ACTOR` naming the
//! tool and the operating-system account.
//!
//! A search's own event is written after its answer is computed, so an answer never contains
//! the record of itself. If that event cannot be written the search is refused (503): Trail
//! does not answer reads it could not audit.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use trail_model::timefmt::format_iso_ms;
use trail_model::{Dimensions, EventError, SearchQuery};
use trail_store::{ApiKeyInfo, NewEvent, User};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::Shared;

/// Legacy record types of the events Trail writes about itself (the activity endpoint's filter).
pub const SELF_AUDIT_RECORD_TYPES: [&str; 5] = [
    "auditQuery",
    "apiKey",
    "accessUser",
    "externalUserIdChanged",
    "authenticate",
];

/// A random (version 4) UUID in its usual hyphenated lower-case form.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Who did it, from where, in which request.
#[derive(Clone, Debug)]
pub struct Context {
    /// The authenticated user; `None` for a failed authentication or a local operator.
    pub actor: Option<User>,
    /// For actions taken outside HTTP (see [`LocalAudit`]): the operator, e.g. `trail-cli:alice`.
    pub operator: Option<String>,
    pub ip: String,
    pub request_id: String,
}

/// One self-audit event before it is rendered.
pub struct Draft {
    /// UAM event name, e.g. `ApiKeyCreated`.
    pub event: &'static str,
    pub action: &'static str,
    /// `SUCCESS`, `FAILURE` or `UNAUTHORIZED`.
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub target_type: &'static str,
    pub targets: Vec<Value>,
    /// Members of `auditPayload` besides `type` and `version`.
    pub payload: Map<String, Value>,
}

impl Draft {
    /// A successful event with no targets and an empty payload.
    pub fn new(event: &'static str, action: &'static str, target_type: &'static str) -> Draft {
        Draft {
            event,
            action,
            status: "SUCCESS",
            status_reason: None,
            target_type,
            targets: Vec::new(),
            payload: Map::new(),
        }
    }

    /// Adds a payload member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Draft {
        self.payload.insert(key.to_string(), value.into());
        self
    }

    /// Adds a target.
    pub fn target(mut self, target: Value) -> Draft {
        self.targets.push(target);
        self
    }

    /// Marks the event as not successful.
    pub fn status(mut self, status: &'static str, reason: impl Into<String>) -> Draft {
        self.status = status;
        self.status_reason = Some(reason.into());
        self
    }

    /// Renders the UAM document (envelope members in the published example's order).
    pub fn render(self, tenant_id: &str, ctx: &Context) -> String {
        let now = format_iso_ms(now_ms());
        let actor = match (&ctx.actor, &ctx.operator) {
            (Some(u), _) => json!({
                "type": "USER_ACTOR",
                "id": u.user_id,
                "name": u.name,
                "identityProvider": "bim",
                "profileId": u.profile_id.to_string(),
            }),
            (None, Some(operator)) => json!({
                "type": "SYSTEM_ACTOR",
                "id": operator,
                "name": operator,
                "identityProvider": "local",
            }),
            (None, None) => json!({
                "type": "USER_ACTOR",
                "id": "anonymous",
                "name": "anonymous",
                "identityProvider": "bim",
            }),
        };
        let mut payload = Map::new();
        payload.insert(
            "type".to_string(),
            Value::String(format!("{}AuditPayload", self.event)),
        );
        payload.extend(self.payload);
        payload.insert("version".to_string(), json!(1));
        json!({
            "id": uuid_v4(),
            "tenantId": tenant_id,
            "eventTimestamp": now,
            "receivedTimestamp": now,
            "action": self.action,
            "actionStatus": self.status,
            "actionStatusReason": self.status_reason,
            "actor": actor,
            "actorIp": ctx.ip,
            "requestId": ctx.request_id,
            "targetType": self.target_type,
            "targets": self.targets,
            "relatedResources": [],
            "auditPayload": payload,
        })
        .to_string()
    }
}

/// A `USER` target.
pub fn user_target(u: &User) -> Value {
    json!({"type": "USER", "id": u.profile_id.to_string(), "name": u.user_id})
}

/// `ApiKeyCreated` / `ApiKeyDeleted` of one key.
pub(crate) fn key_draft(event: &'static str, action: &'static str, key: &ApiKeyInfo) -> Draft {
    Draft::new(event, action, "APIKEY")
        .with("apiKeyId", key.id.clone())
        .with("name", key.name.clone())
        .target(json!({"type": "APIKEY", "id": key.id, "name": key.name, "profileId": key.profile_id.to_string()}))
}

/// `UserCreated` of a new user, with its permissions and owned data sources.
pub(crate) fn user_created_draft(user: &User) -> Draft {
    let permissions: Vec<&str> = user.permissions.iter().map(|p| p.name()).collect();
    Draft::new("UserCreated", "CREATE", "USER")
        .with("userId", user.user_id.clone())
        .with("permissions", permissions)
        .with("ownedDataSources", user.owned_data_sources.clone())
        .target(user_target(user))
}

/// `UserUpdated` of a replaced user, then one `PermissionApplied` / `PermissionRemoved` per
/// permission that changed.
pub(crate) fn user_updated_drafts(old: &User, user: &User) -> Vec<Draft> {
    let mut drafts = vec![Draft::new("UserUpdated", "UPDATE", "USER")
        .with("userId", user.user_id.clone())
        .target(user_target(user))];
    // Permissions `has` that `lacks` does not, as events of `kind`.
    let changes = |kind: &'static str, has: &User, lacks: &User| {
        has.permissions
            .iter()
            .filter(|p| !lacks.has(**p))
            .map(|p| {
                Draft::new(kind, "UPDATE", "USER")
                    .with("permission", p.name())
                    .target(user_target(user))
            })
            .collect::<Vec<_>>()
    };
    drafts.extend(changes("PermissionApplied", user, old));
    drafts.extend(changes("PermissionRemoved", old, user));
    drafts
}

/// The self-audit of administrative actions taken outside an HTTP request: by `trail users` /
/// `trail keys` on a data directory or database, and by the server itself at start-up (the
/// first admin and its key, the demo key). The same events as the HTTP endpoints write, with a
/// `SYSTEM_ACTOR` naming the tool and the operating-system account as the actor. The caller
/// appends them to the store.
#[derive(Clone, Debug)]
pub struct LocalAudit {
    tenant_id: String,
    ctx: Context,
}

impl LocalAudit {
    /// `tool` names what acted, e.g. `trail-cli` or `trail-serve`; the OS account (`$USER`) is
    /// added to it.
    pub fn new(tenant_id: impl Into<String>, tool: &str) -> LocalAudit {
        let account = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_string());
        LocalAudit {
            tenant_id: tenant_id.into(),
            ctx: Context {
                actor: None,
                operator: Some(format!("{tool}:{account}")),
                ip: "local".to_string(),
                request_id: uuid_v4(),
            },
        }
    }

    /// An API key was created (or imported).
    pub fn key_created(&self, key: &ApiKeyInfo) -> Result<Vec<NewEvent>, EventError> {
        self.events(vec![key_draft("ApiKeyCreated", "CREATE", key)])
    }

    /// An API key was revoked.
    pub fn key_revoked(&self, key: &ApiKeyInfo) -> Result<Vec<NewEvent>, EventError> {
        self.events(vec![key_draft("ApiKeyDeleted", "DELETE", key)])
    }

    /// A user was created.
    pub fn user_created(&self, user: &User) -> Result<Vec<NewEvent>, EventError> {
        self.events(vec![user_created_draft(user)])
    }

    /// A user was replaced: `old` before, `user` after.
    pub fn user_updated(&self, old: &User, user: &User) -> Result<Vec<NewEvent>, EventError> {
        self.events(user_updated_drafts(old, user))
    }

    fn events(&self, drafts: Vec<Draft>) -> Result<Vec<NewEvent>, EventError> {
        drafts
            .into_iter()
            .map(|d| NewEvent::parse(d.render(&self.tenant_id, &self.ctx)))
            .collect()
    }
}

/// A user's read records kept for [`Shared::see_own_reads`] before one wait covers them all.
const MAX_PENDING_READS: usize = 64;

impl Shared {
    /// Appends self-audit events durably, as one batch, visible to searches on return.
    pub(crate) async fn record(&self, ctx: &Context, drafts: Vec<Draft>) -> Result<(), ApiError> {
        if drafts.is_empty() {
            return Ok(());
        }
        self.app.store.append(self.render(ctx, drafts)?).await?;
        Ok(())
    }

    /// Appends the self-audit record of a read (a search, a download) durably before the
    /// answer goes out, without waiting for searches to see it: the record of a search
    /// becomes visible moments later, after the bulk ingest synced with it is indexed, so a
    /// search under heavy ingest waits for one `fdatasync`, not for that indexing.
    /// The reader's next request still sees it (see [`Shared::see_own_reads`]).
    pub(crate) async fn record_read(
        &self,
        ctx: &Context,
        drafts: Vec<Draft>,
    ) -> Result<(), ApiError> {
        let batch = self.render(ctx, drafts)?;
        let dims: Vec<Dimensions> = batch.iter().map(|e| e.dims.clone()).collect();
        let report = self.app.store.append_without_visibility_wait(batch).await?;
        if let Some(user) = &ctx.actor {
            let stored =
                (report.results.iter().zip(dims)).filter_map(|(r, d)| Some((r.stored_seq()?, d)));
            let mut own = self.own_reads.lock().unwrap_or_else(|p| p.into_inner());
            own.entry(user.profile_id).or_default().extend(stored);
        }
        Ok(())
    }

    /// Waits until those records of the caller's earlier reads that `query` would find are
    /// visible (all of them when `query` is `None`), so that a user always finds their own
    /// previous searches (`/audit/apikey/activity`, `auditQuery`) while a search that cannot
    /// match them, such as one for a data source, does not wait behind ingest.
    pub(crate) async fn see_own_reads(
        &self,
        caller: &Caller,
        query: Option<&SearchQuery>,
    ) -> Result<(), ApiError> {
        let profile = caller.user.profile_id;
        let wait_for = {
            let own = self.own_reads.lock().unwrap_or_else(|p| p.into_inner());
            let Some(pending) = own.get(&profile) else {
                return Ok(());
            };
            let everything = pending.len() > MAX_PENDING_READS;
            pending
                .iter()
                .filter(|(_, d)| everything || query.is_none_or(|q| q.admits(d)))
                .map(|(seq, _)| *seq)
                .max()
        };
        if let Some(seq) = wait_for {
            self.app.store.wait_visible(seq).await?;
            // Visibility is a prefix of the log: every record up to `seq` is visible now.
            let mut own = self.own_reads.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pending) = own.get_mut(&profile) {
                pending.retain(|(s, _)| *s > seq);
                if pending.is_empty() {
                    own.remove(&profile);
                }
            }
        }
        Ok(())
    }

    fn render(&self, ctx: &Context, drafts: Vec<Draft>) -> Result<Vec<NewEvent>, ApiError> {
        let tenant = &self.app.config.tenant_id;
        drafts
            .into_iter()
            .map(|d| {
                let event = d.event;
                NewEvent::parse(d.render(tenant, ctx)).map_err(|e| {
                    ApiError::Internal(format!("self-audit event {event} is invalid: {e}"))
                })
            })
            .collect()
    }

    /// Like [`Shared::record`] for actions already carried out: a failure is logged, not
    /// returned, because the action it describes cannot be undone.
    pub(crate) async fn record_after_the_fact(&self, ctx: &Context, drafts: Vec<Draft>) {
        if let Err(e) = self.record(ctx, drafts).await {
            tracing::error!(error = %e, request_id = ctx.request_id, "could not write self-audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_has_version_and_variant_bits() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(uuid_v4(), u);
    }

    #[test]
    fn rendered_events_parse_with_the_expected_record_types() {
        let ctx = Context {
            actor: Some(User {
                profile_id: 7,
                user_id: "u@x.io".into(),
                email: None,
                name: "U".into(),
                permissions: vec![],
                owned_data_sources: vec![],
                created_ms: 0,
            }),
            operator: None,
            ip: "127.0.0.1".into(),
            request_id: "r".into(),
        };
        let cases = [
            (Draft::new("AuditQuery", "QUERY", "AUDIT"), "auditQuery"),
            (Draft::new("ApiKeyCreated", "CREATE", "APIKEY"), "apiKey"),
            (
                Draft::new("UserAuthenticated", "LOGIN", "USER").status("FAILURE", "bad key"),
                "authenticate",
            ),
        ];
        for (draft, record_type) in cases {
            let doc = draft.render("t", &ctx);
            let dims = trail_model::parse_event(&doc).unwrap();
            assert_eq!(dims.record_type, record_type);
            assert_eq!(dims.profile_id, Some(7));
        }
    }
}
