//! Keys and users: who may call Trail and with which permissions (`/v1/keys`, `/v1/users`,
//! `/v1/me`).
//!
//! ADMIN manages everything. Any authenticated user may create, list and revoke its own keys
//! and read itself (`/v1/me`). Every change is audited (see [`crate::selfaudit`]). A key's
//! secret is returned once, by `POST /v1/keys`, and never stored.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use trail_store::{ApiKeyInfo, NewUser, Permission, User};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::ingest::read_body;
use crate::selfaudit::{key_draft, user_created_draft, user_updated_drafts};
use crate::SharedState;

/// Largest JSON body of the key and user endpoints.
pub const ADMIN_BODY_LIMIT: usize = 1 << 20;

/// A permission, as the API writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PermissionName {
    /// Read every audit record.
    Audit,
    /// Write events.
    Ingest,
    /// Manage users and keys.
    Admin,
}

impl From<PermissionName> for Permission {
    fn from(p: PermissionName) -> Permission {
        match p {
            PermissionName::Audit => Permission::Audit,
            PermissionName::Ingest => Permission::Ingest,
            PermissionName::Admin => Permission::Admin,
        }
    }
}

impl From<Permission> for PermissionName {
    fn from(p: Permission) -> PermissionName {
        match p {
            Permission::Audit => PermissionName::Audit,
            Permission::Ingest => PermissionName::Ingest,
            Permission::Admin => PermissionName::Admin,
        }
    }
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub profile_id: i64,
    pub user_id: String,
    pub email: Option<String>,
    pub name: String,
    pub permissions: Vec<PermissionName>,
    /// Data sources whose audit this user reads without AUDIT.
    pub owned_data_sources: Vec<i64>,
    pub created_ms: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView {
            profile_id: u.profile_id,
            user_id: u.user_id,
            email: u.email,
            name: u.name,
            permissions: u.permissions.into_iter().map(Into::into).collect(),
            owned_data_sources: u.owned_data_sources,
            created_ms: u.created_ms,
        }
    }
}

/// An API key as listed (never with its secret).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub profile_id: i64,
    pub created_ms: i64,
    /// When it was revoked; null while it is live.
    pub revoked_ms: Option<i64>,
}

impl From<ApiKeyInfo> for KeyView {
    fn from(k: ApiKeyInfo) -> KeyView {
        KeyView {
            id: k.id,
            name: k.name,
            profile_id: k.profile_id,
            created_ms: k.created_ms,
            revoked_ms: k.revoked_ms,
        }
    }
}

/// `POST /v1/keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label for the key.
    pub name: String,
    /// Whose key: the caller by default; only ADMIN may name another user.
    pub profile_id: Option<i64>,
}

/// `POST /v1/keys` answer: the key with its secret, shown only here.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub profile_id: i64,
    pub created_ms: i64,
    /// The secret to pass in `Authorization`; it is not stored and cannot be shown again.
    pub key: String,
}

/// `POST /v1/users` and `PUT /v1/users/{profileId}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRequest {
    pub user_id: String,
    pub email: Option<String>,
    /// Display name; the userId when left out.
    pub name: Option<String>,
    #[serde(default)]
    pub permissions: Vec<PermissionName>,
    #[serde(default)]
    pub owned_data_sources: Vec<i64>,
}

impl UserRequest {
    fn into_new_user(self) -> Result<NewUser, ApiError> {
        if self.user_id.trim().is_empty() {
            return Err(ApiError::bad_request("userId must not be empty"));
        }
        let mut permissions: Vec<Permission> = Vec::new();
        for p in self.permissions {
            if !permissions.contains(&p.into()) {
                permissions.push(p.into());
            }
        }
        let mut owned = self.owned_data_sources;
        owned.sort_unstable();
        owned.dedup();
        Ok(NewUser {
            name: self.name.unwrap_or_else(|| self.user_id.clone()),
            user_id: self.user_id,
            email: self.email,
            permissions,
            owned_data_sources: owned,
        })
    }
}

/// `GET /v1/me` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: UserView,
    /// The key this request was authenticated with.
    pub key: KeyView,
}

async fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let bytes = read_body(headers, body, ADMIN_BODY_LIMIT).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn path_value<T: std::str::FromStr>(
    path: Result<Path<String>, PathRejection>,
    name: &str,
    what: &str,
) -> Result<T, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    raw.parse::<T>().map_err(|_| {
        ApiError::bad_request(format!("{name} in the path must be {what}, got '{raw}'"))
    })
}

/// Creates an API key (for the caller, or, by an ADMIN, for anyone).
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest,
    security(("apiKey" = [])),
    responses(
        (status = 201, description = "Created; `key` is the secret, shown only now", body = CreatedKey),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "A key for another user needs ADMIN", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn create_key(
    State(shared): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let req: CreateKeyRequest = json_body(&headers, body).await?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request(
            "name must be 1 to 200 characters: a label for the key",
        ));
    }
    let owner = req.profile_id.unwrap_or(caller.user.profile_id);
    if owner != caller.user.profile_id {
        caller.require(Permission::Admin, "creating a key for another user")?;
    }
    let (info, secret) = shared.app.meta.create_key(owner, name).await?;
    shared
        .record_after_the_fact(
            &caller.ctx,
            vec![key_draft("ApiKeyCreated", "CREATE", &info)],
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: info.id,
            name: info.name,
            profile_id: info.profile_id,
            created_ms: info.created_ms,
            key: secret,
        }),
    ))
}

/// Lists API keys: every key for an ADMIN, the caller's own otherwise.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("apiKey" = [])),
    responses(
        (status = 200, description = "Keys, without secrets", body = Vec<KeyView>),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list_keys(
    State(shared): State<SharedState>,
    caller: Caller,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let filter = (!caller.is_admin()).then_some(caller.user.profile_id);
    let keys = shared.app.meta.list_keys(filter).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Revokes an API key (an ADMIN any key, others their own).
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Revoked (revokedMs set)", body = KeyView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 404, description = "No such key (among the caller's, for a non-admin)", body = ErrorBody),
    ))]
pub async fn revoke_key(
    State(shared): State<SharedState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<KeyView>, ApiError> {
    let id: String = path_value(id, "id", "a key id")?;
    if !caller.is_admin() {
        let own = shared
            .app
            .meta
            .list_keys(Some(caller.user.profile_id))
            .await?;
        if !own.iter().any(|k| k.id == id) {
            return Err(ApiError::NotFound(format!(
                "you have no API key with id {id}"
            )));
        }
    }
    let info = shared.app.meta.revoke_key(&id).await?;
    shared
        .record_after_the_fact(
            &caller.ctx,
            vec![key_draft("ApiKeyDeleted", "DELETE", &info)],
        )
        .await;
    Ok(Json(info.into()))
}

/// Lists users (ADMIN).
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("apiKey" = [])),
    responses(
        (status = 200, description = "Every user", body = Vec<UserView>),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "ADMIN is needed", body = ErrorBody),
    ))]
pub async fn list_users(
    State(shared): State<SharedState>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    caller.require(Permission::Admin, "listing users")?;
    let users = shared.app.meta.list_users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Creates a user (ADMIN).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = UserRequest,
    security(("apiKey" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "ADMIN is needed", body = ErrorBody),
        (status = 409, description = "A user with this userId exists", body = ErrorBody),
    ))]
pub async fn create_user(
    State(shared): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    caller.require(Permission::Admin, "creating users")?;
    let req: UserRequest = json_body(&headers, body).await?;
    let user = shared.app.meta.create_user(req.into_new_user()?).await?;
    let draft = user_created_draft(&user);
    shared.record_after_the_fact(&caller.ctx, vec![draft]).await;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One user (ADMIN).
#[utoipa::path(get, path = "/v1/users/{profileId}", tag = "users",
    params(("profileId" = i64, Path, description = "The user's profile id")),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "ADMIN is needed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn get_user(
    State(shared): State<SharedState>,
    caller: Caller,
    profile_id: Result<Path<String>, PathRejection>,
) -> Result<Json<UserView>, ApiError> {
    caller.require(Permission::Admin, "reading users")?;
    let profile_id: i64 = path_value(profile_id, "profileId", "an integer")?;
    match shared.app.meta.get_user(profile_id).await? {
        Some(u) => Ok(Json(u.into())),
        None => Err(ApiError::NotFound(format!(
            "no user with profileId {profile_id}"
        ))),
    }
}

/// Replaces a user (ADMIN). Refused (409) if it would leave no user with ADMIN.
#[utoipa::path(put, path = "/v1/users/{profileId}", tag = "users", request_body = UserRequest,
    params(("profileId" = i64, Path, description = "The user's profile id")),
    security(("apiKey" = [])),
    responses(
        (status = 200, description = "Replaced", body = UserView),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "ADMIN is needed", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "It would leave no administrator", body = ErrorBody),
    ))]
pub async fn replace_user(
    State(shared): State<SharedState>,
    caller: Caller,
    profile_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<UserView>, ApiError> {
    caller.require(Permission::Admin, "changing users")?;
    let profile_id: i64 = path_value(profile_id, "profileId", "an integer")?;
    let req: UserRequest = json_body(&headers, body).await?;
    let new = req.into_new_user()?;
    let meta = &shared.app.meta;
    let Some(old) = meta.get_user(profile_id).await? else {
        return Err(ApiError::NotFound(format!(
            "no user with profileId {profile_id}"
        )));
    };
    if old.has(Permission::Admin) && !new.permissions.contains(&Permission::Admin) {
        let other_admins = meta
            .list_users()
            .await?
            .iter()
            .filter(|u| u.profile_id != profile_id && u.has(Permission::Admin))
            .count();
        if other_admins == 0 {
            return Err(ApiError::Conflict(
                "this would leave no user with ADMIN; grant ADMIN to another user first"
                    .to_string(),
            ));
        }
    }
    let user = meta.update_user(profile_id, new).await?;
    let drafts = user_updated_drafts(&old, &user);
    shared.record_after_the_fact(&caller.ctx, drafts).await;
    Ok(Json(user.into()))
}

/// The caller and the key it used. Any authenticated user.
#[utoipa::path(get, path = "/v1/me", tag = "users", security(("apiKey" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        user: caller.user.into(),
        key: caller.key.into(),
    })
}
