//! Users, permissions and API keys: the [`MetadataStore`] trait, and its embedded implementation
//! on `redb` (an ACID key-value store) in the data directory.
//!
//! Secrets: an API key is 256 random bits, shown once at creation. Only its SHA-256 is stored;
//! authentication looks the hash up and compares it in constant time.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::RngCore;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::StoreError;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Permission {
    /// Read every audit record.
    Audit,
    /// Write events.
    Ingest,
    /// Manage users and keys.
    Admin,
}

impl Permission {
    pub fn parse(s: &str) -> Option<Permission> {
        match s.to_ascii_uppercase().as_str() {
            "AUDIT" => Some(Permission::Audit),
            "INGEST" => Some(Permission::Ingest),
            "ADMIN" => Some(Permission::Admin),
            _ => None,
        }
    }

    /// The permission's name on the wire and in storage: `AUDIT`, `INGEST` or `ADMIN`.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Audit => "AUDIT",
            Permission::Ingest => "INGEST",
            Permission::Admin => "ADMIN",
        }
    }
}

/// A Trail user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub profile_id: i64,
    pub user_id: String,
    pub email: Option<String>,
    pub name: String,
    pub permissions: Vec<Permission>,
    /// Data sources this user owns: without AUDIT, they read only these sources' records.
    pub owned_data_sources: Vec<i64>,
    pub created_ms: i64,
}

impl User {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// Fields of a user to create or replace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub user_id: String,
    pub email: Option<String>,
    pub name: String,
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub owned_data_sources: Vec<i64>,
}

/// An API key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: String,
    pub profile_id: i64,
    pub name: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    info: ApiKeyInfo,
    hash: [u8; 32],
}

/// Users and keys, for any backend.
#[async_trait]
pub trait MetadataStore: Send + Sync {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    async fn update_user(&self, profile_id: i64, user: NewUser) -> Result<User, StoreError>;
    async fn get_user(&self, profile_id: i64) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Creates a key for a user; returns it with its secret, which is not kept.
    async fn create_key(
        &self,
        profile_id: i64,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), StoreError>;
    /// Registers a key whose secret the operator chose (`TRAIL_BOOTSTRAP_KEY`).
    async fn import_key(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError>;
    async fn list_keys(&self, profile_id: Option<i64>) -> Result<Vec<ApiKeyInfo>, StoreError>;
    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError>;
    /// The user and key a secret belongs to, if it is a live key.
    async fn authenticate(&self, secret: &str) -> Result<Option<(User, ApiKeyInfo)>, StoreError>;
}

const USERS: TableDefinition<i64, &[u8]> = TableDefinition::new("users");
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
const KEY_BY_HASH: TableDefinition<&[u8], &str> = TableDefinition::new("api_key_by_hash");
const COUNTERS: TableDefinition<&str, i64> = TableDefinition::new("counters");

/// Minimum length of an operator-chosen key.
pub const MIN_SECRET_LEN: usize = 32;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a backend stores of an API key: the SHA-256 of its secret, never the secret.
pub fn key_hash(secret: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

/// A new API key secret: 256 random bits from the OS, hex-encoded.
pub fn new_key_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Refuses an operator-chosen secret too short to be a key.
pub fn check_chosen_secret(secret: &str) -> Result<(), StoreError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(StoreError::Invalid(format!(
            "an API key must be at least {MIN_SECRET_LEN} characters"
        )));
    }
    Ok(())
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Metadata(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b)
        .map_err(|e| StoreError::Metadata(format!("unreadable metadata record: {e}")))
}

/// The embedded metadata store.
pub struct RedbMetadata {
    db: Database,
}

impl RedbMetadata {
    pub fn open(path: &Path) -> Result<RedbMetadata, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(USERS)?;
        tx.open_table(KEYS)?;
        tx.open_table(KEY_BY_HASH)?;
        tx.open_table(COUNTERS)?;
        tx.commit()?;
        Ok(RedbMetadata { db })
    }

    fn validate(u: &NewUser) -> Result<(), StoreError> {
        if u.user_id.trim().is_empty() {
            return Err(StoreError::Invalid("userId must not be empty".into()));
        }
        Ok(())
    }

    pub fn create_user_sync(&self, user: NewUser) -> Result<User, StoreError> {
        Self::validate(&user)?;
        let tx = self.db.begin_write()?;
        let created = {
            let mut users = tx.open_table(USERS)?;
            for row in users.iter()? {
                let (_, v) = row?;
                let existing: User = from_json(v.value())?;
                if existing.user_id == user.user_id {
                    return Err(StoreError::Conflict(format!(
                        "a user with userId `{}` exists (profileId {})",
                        user.user_id, existing.profile_id
                    )));
                }
            }
            let mut counters = tx.open_table(COUNTERS)?;
            let next = counters.get("profile_id")?.map(|v| v.value()).unwrap_or(0) + 1;
            counters.insert("profile_id", next)?;
            let u = User {
                profile_id: next,
                user_id: user.user_id,
                email: user.email,
                name: user.name,
                permissions: user.permissions,
                owned_data_sources: user.owned_data_sources,
                created_ms: now_ms(),
            };
            users.insert(next, to_json(&u)?.as_slice())?;
            u
        };
        tx.commit()?;
        Ok(created)
    }

    pub fn update_user_sync(&self, profile_id: i64, user: NewUser) -> Result<User, StoreError> {
        Self::validate(&user)?;
        let tx = self.db.begin_write()?;
        let updated = {
            let mut users = tx.open_table(USERS)?;
            let old: User = match users.get(profile_id)? {
                Some(v) => from_json(v.value())?,
                None => {
                    return Err(StoreError::NotFound(format!(
                        "no user with profileId {profile_id}"
                    )))
                }
            };
            let u = User {
                profile_id,
                user_id: user.user_id,
                email: user.email,
                name: user.name,
                permissions: user.permissions,
                owned_data_sources: user.owned_data_sources,
                created_ms: old.created_ms,
            };
            users.insert(profile_id, to_json(&u)?.as_slice())?;
            u
        };
        tx.commit()?;
        Ok(updated)
    }

    pub fn get_user_sync(&self, profile_id: i64) -> Result<Option<User>, StoreError> {
        let tx = self.db.begin_read()?;
        let users = tx.open_table(USERS)?;
        users
            .get(profile_id)?
            .map(|v| from_json(v.value()))
            .transpose()
    }

    pub fn list_users_sync(&self) -> Result<Vec<User>, StoreError> {
        let tx = self.db.begin_read()?;
        let users = tx.open_table(USERS)?;
        let mut out = Vec::new();
        for row in users.iter()? {
            out.push(from_json(row?.1.value())?);
        }
        Ok(out)
    }

    fn insert_key(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError> {
        let hash = key_hash(secret);
        let tx = self.db.begin_write()?;
        let info = {
            if tx.open_table(USERS)?.get(profile_id)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "no user with profileId {profile_id}"
                )));
            }
            let mut by_hash = tx.open_table(KEY_BY_HASH)?;
            if by_hash.get(hash.as_slice())?.is_some() {
                return Err(StoreError::Conflict(
                    "this key is already registered".into(),
                ));
            }
            let mut counters = tx.open_table(COUNTERS)?;
            let next = counters.get("key_id")?.map(|v| v.value()).unwrap_or(0) + 1;
            counters.insert("key_id", next)?;
            let info = ApiKeyInfo {
                id: next.to_string(),
                profile_id,
                name: name.to_string(),
                created_ms: now_ms(),
                revoked_ms: None,
            };
            let rec = KeyRecord {
                info: info.clone(),
                hash,
            };
            tx.open_table(KEYS)?
                .insert(info.id.as_str(), to_json(&rec)?.as_slice())?;
            by_hash.insert(hash.as_slice(), info.id.as_str())?;
            info
        };
        tx.commit()?;
        Ok(info)
    }

    pub fn create_key_sync(
        &self,
        profile_id: i64,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), StoreError> {
        let secret = new_key_secret();
        let info = self.insert_key(profile_id, name, &secret)?;
        Ok((info, secret))
    }

    pub fn import_key_sync(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError> {
        check_chosen_secret(secret)?;
        self.insert_key(profile_id, name, secret)
    }

    pub fn list_keys_sync(&self, profile_id: Option<i64>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let tx = self.db.begin_read()?;
        let keys = tx.open_table(KEYS)?;
        let mut out = Vec::new();
        for row in keys.iter()? {
            let rec: KeyRecord = from_json(row?.1.value())?;
            if profile_id.is_none_or(|p| p == rec.info.profile_id) {
                out.push(rec.info);
            }
        }
        out.sort_by_key(|k| k.id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(out)
    }

    pub fn revoke_key_sync(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
        let tx = self.db.begin_write()?;
        let info = {
            let mut keys = tx.open_table(KEYS)?;
            let mut rec: KeyRecord = match keys.get(key_id)? {
                Some(v) => from_json(v.value())?,
                None => return Err(StoreError::NotFound(format!("no API key with id {key_id}"))),
            };
            if rec.info.revoked_ms.is_none() {
                rec.info.revoked_ms = Some(now_ms());
                keys.insert(key_id, to_json(&rec)?.as_slice())?;
            }
            rec.info
        };
        tx.commit()?;
        Ok(info)
    }

    pub fn authenticate_sync(
        &self,
        secret: &str,
    ) -> Result<Option<(User, ApiKeyInfo)>, StoreError> {
        let hash = key_hash(secret);
        let tx = self.db.begin_read()?;
        let by_hash = tx.open_table(KEY_BY_HASH)?;
        let Some(id) = by_hash.get(hash.as_slice())? else {
            return Ok(None);
        };
        let keys = tx.open_table(KEYS)?;
        let Some(raw) = keys.get(id.value())? else {
            return Ok(None);
        };
        let rec: KeyRecord = from_json(raw.value())?;
        if !bool::from(rec.hash.ct_eq(&hash)) || rec.info.revoked_ms.is_some() {
            return Ok(None);
        }
        let users = tx.open_table(USERS)?;
        let Some(u) = users.get(rec.info.profile_id)? else {
            return Ok(None);
        };
        Ok(Some((from_json(u.value())?, rec.info)))
    }
}

async fn run<T: Send + 'static>(
    m: &Arc<RedbMetadata>,
    f: impl FnOnce(&RedbMetadata) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let m = m.clone();
    tokio::task::spawn_blocking(move || f(&m))
        .await
        .map_err(|e| StoreError::Unavailable(format!("metadata task failed: {e}")))?
}

#[async_trait]
impl MetadataStore for Arc<RedbMetadata> {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        run(self, move |m| m.create_user_sync(user)).await
    }
    async fn update_user(&self, profile_id: i64, user: NewUser) -> Result<User, StoreError> {
        run(self, move |m| m.update_user_sync(profile_id, user)).await
    }
    async fn get_user(&self, profile_id: i64) -> Result<Option<User>, StoreError> {
        run(self, move |m| m.get_user_sync(profile_id)).await
    }
    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        run(self, |m| m.list_users_sync()).await
    }
    async fn create_key(
        &self,
        profile_id: i64,
        name: &str,
    ) -> Result<(ApiKeyInfo, String), StoreError> {
        let name = name.to_string();
        run(self, move |m| m.create_key_sync(profile_id, &name)).await
    }
    async fn import_key(
        &self,
        profile_id: i64,
        name: &str,
        secret: &str,
    ) -> Result<ApiKeyInfo, StoreError> {
        let (name, secret) = (name.to_string(), secret.to_string());
        run(self, move |m| m.import_key_sync(profile_id, &name, &secret)).await
    }
    async fn list_keys(&self, profile_id: Option<i64>) -> Result<Vec<ApiKeyInfo>, StoreError> {
        run(self, move |m| m.list_keys_sync(profile_id)).await
    }
    async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyInfo, StoreError> {
        let key_id = key_id.to_string();
        run(self, move |m| m.revoke_key_sync(&key_id)).await
    }
    async fn authenticate(&self, secret: &str) -> Result<Option<(User, ApiKeyInfo)>, StoreError> {
        let secret = secret.to_string();
        run(self, move |m| m.authenticate_sync(&secret)).await
    }
}
