//! Users, permissions and API keys in PostgreSQL, with the semantics of the embedded
//! `trail_store::metadata`: a key is 256 random bits shown once, only its SHA-256 is stored,
//! authentication looks the hash up and compares it in constant time, a revoked key never
//! authenticates again.
//!
//! Nothing is cached in the node: every authentication reads `trail_api_keys`, so a key created
//! on one node works on every node as soon as its transaction commits, and a revocation acts on
//! every node from the next request that starts after it committed (bound: zero, plus the
//! duration of a request already past authentication).

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use trail_store::metadata::{check_chosen_secret, key_hash, new_key_secret};
use trail_store::{ApiKeyInfo, MetadataStore, NewUser, Permission, User};

use crate::{db_err, now_ms, PostgresStore, StoreError};

const USER_COLUMNS: &str =
    "profile_id, user_id, email, name, permissions, owned_data_sources, created_ms";
const KEY_COLUMNS: &str = "id, profile_id, name, created_ms, revoked_ms";

fn user_at(r: &Row, at: usize) -> User {
    let perms: Vec<String> = r.get(at + 4);
    User {
        profile_id: r.get(at),
        user_id: r.get(at + 1),
        email: r.get(at + 2),
        name: r.get(at + 3),
        permissions: perms.iter().filter_map(|p| Permission::parse(p)).collect(),
        owned_data_sources: r.get(at + 5),
        created_ms: r.get(at + 6),
    }
}

fn key_at(r: &Row, at: usize) -> ApiKeyInfo {
    ApiKeyInfo {
        id: r.get::<_, i64>(at).to_string(),
        profile_id: r.get(at + 1),
        name: r.get(at + 2),
        created_ms: r.get(at + 3),
        revoked_ms: r.get(at + 4),
    }
}

fn validate(u: &NewUser) -> Result<(), StoreError> {
    if u.user_id.trim().is_empty() {
        return Err(StoreError::Invalid("userId must not be empty".into()));
    }
    Ok(())
}

fn is(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

impl PostgresStore {
    async fn user_conflict(&self, user_id: &str) -> StoreError {
        let existing = match self.client().await {
            Ok(c) => c
                .query_opt(
                    "SELECT profile_id FROM trail_users WHERE user_id = $1",
                    &[&user_id],
                )
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<_, i64>(0)),
            Err(_) => None,
        };
        StoreError::Conflict(match existing {
            Some(p) => format!("a user with userId `{user_id}` exists (profileId {p})"),
            None => format!("a user with userId `{user_id}` exists"),
        })
    }

    async fn insert_key(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError> {
        let hash: [u8; 32] = key_hash(secret);
        let client = self.client().await?;
        let res = client
            .query_one(
                &format!(
                    "INSERT INTO trail_api_keys (profile_id, name, created_ms, hash) \
                     VALUES ($1, $2, $3, $4) RETURNING {KEY_COLUMNS}"
                ),
                &[&profile_id, &name, &now_ms(), &hash.as_slice()],
            )
            .await;
        match res {
            Ok(r) => Ok(key_at(&r, 0)),
            Err(e) if is(&e, &SqlState::FOREIGN_KEY_VIOLATION) => Err(StoreError::NotFound(
                format!("no user with profileId {profile_id}"),
            )),
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => Err(StoreError::Conflict(
                "this key is already registered".into(),
            )),
            Err(e) => Err(db_err(e)),
        }
    }
}

#[async_trait]
impl MetadataStore for PostgresStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        validate(&user)?;
        let perms: Vec<&str> = user.permissions.iter().map(|p| p.name()).collect();
        let client = self.client().await?;
        let res = client
            .query_one(
                &format!(
                    "INSERT INTO trail_users (user_id, email, name, permissions, \
                     owned_data_sources, created_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                     RETURNING {USER_COLUMNS}"
                ),
                &[
                    &user.user_id,
                    &user.email,
                    &user.name,
                    &perms,
                    &user.owned_data_sources,
                    &now_ms(),
                ],
            )
            .await;
        match res {
            Ok(r) => Ok(user_at(&r, 0)),
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                Err(self.user_conflict(&user.user_id).await)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn update_user(&self, profile_id: i64, user: NewUser) -> Result<User, StoreError> {
        validate(&user)?;
        let perms: Vec<&str> = user.permissions.iter().map(|p| p.name()).collect();
        let client = self.client().await?;
        let res = client
            .query_opt(
                &format!(
                    "UPDATE trail_users SET user_id = $2, email = $3, name = $4, \
                     permissions = $5, owned_data_sources = $6 WHERE profile_id = $1 \
                     RETURNING {USER_COLUMNS}"
                ),
                &[
                    &profile_id,
                    &user.user_id,
                    &user.email,
                    &user.name,
                    &perms,
                    &user.owned_data_sources,
                ],
            )
            .await;
        match res {
            Ok(Some(r)) => Ok(user_at(&r, 0)),
            Ok(None) => Err(StoreError::NotFound(format!(
                "no user with profileId {profile_id}"
            ))),
            Err(e) if is(&e, &SqlState::UNIQUE_VIOLATION) => {
                Err(self.user_conflict(&user.user_id).await)
            }
            Err(e) => Err(db_err(e)),
        }
    }

    async fn get_user(&self, profile_id: i64) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM trail_users WHERE profile_id = $1"),
                &[&profile_id],
            )
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| user_at(&r, 0)))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {USER_COLUMNS} FROM trail_users ORDER BY profile_id"),
                &[],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| user_at(r, 0)).collect())
    }

    async fn create_key(
        &self,
        profile_id: i64,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), StoreError> {
        let secret = new_key_secret();
        let info = self.insert_key(profile_id, name, &secret).await?;
        Ok((info, secret))
    }

    async fn import_key(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError> {
        check_chosen_secret(secret)?;
        self.insert_key(profile_id, name, secret).await
    }

    async fn list_keys(&self, profile_id: Option<i64>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM trail_api_keys \
                     WHERE $1::bigint IS NULL OR profile_id = $1 ORDER BY id"
                ),
                &[&profile_id],
            )
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| key_at(r, 0)).collect())
    }

    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
        let not_found = || StoreError::NotFound(format!("no API key with id {key_id}"));
        let id: i64 = key_id.parse().map_err(|_| not_found())?;
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE trail_api_keys SET revoked_ms = coalesce(revoked_ms, $2) \
                     WHERE id = $1 RETURNING {KEY_COLUMNS}"
                ),
                &[&id, &now_ms()],
            )
            .await
            .map_err(db_err)?;
        row.map(|r| key_at(&r, 0)).ok_or_else(not_found)
    }

    async fn authenticate(&self, secret: &str) -> Result<Option<(User, ApiKeyInfo)>, StoreError> {
        let hash: [u8; 32] = key_hash(secret);
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT k.id, k.profile_id, k.name, k.created_ms, k.revoked_ms, k.hash, \
                 u.profile_id, u.user_id, u.email, u.name, u.permissions, \
                 u.owned_data_sources, u.created_ms \
                 FROM trail_api_keys k JOIN trail_users u ON u.profile_id = k.profile_id \
                 WHERE k.hash = $1",
                &[&hash.as_slice()],
            )
            .await
            .map_err(db_err)?;
        let Some(r) = row else { return Ok(None) };
        let stored: &[u8] = r.get(5);
        let info = key_at(&r, 0);
        if !bool::from(stored.ct_eq(hash.as_slice())) || info.revoked_ms.is_some() {
            return Ok(None);
        }
        Ok(Some((user_at(&r, 6), info)))
    }
}
