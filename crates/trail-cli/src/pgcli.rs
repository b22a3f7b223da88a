//! `--store postgres://...` for `trail serve`, `trail users` and `trail keys`: opens the
//! PostgreSQL backend (`trail-postgres`) and runs the same commands through the
//! `AuditStore`/`MetadataStore` traits. Kept apart from `main.rs` so the embedded paths stay as
//! they were. Unlike the embedded store, users and keys may be managed while servers run: every
//! node reads them from the database on each request.

use std::sync::Arc;

use anyhow::{Context, Result};
use trail_model::EventError;
use trail_postgres::PostgresStore;
use trail_store::{AuditStore, MetadataStore, NewEvent, StoreError};

use crate::{local_audit, new_user, print_json, DataDirArg, KeysCommand, Stores, UsersCommand};

/// Whether a `--store` value names PostgreSQL.
pub fn is_postgres(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

async fn connect(url: &str) -> Result<PostgresStore> {
    PostgresStore::connect(url).await.context(
        "cannot open the PostgreSQL store (check the --store URL and that the server is up)",
    )
}

/// Store handles for `trail serve` on PostgreSQL; the pool lives on `runtime`.
pub fn stores(url: &str, runtime: &tokio::runtime::Runtime) -> Result<Stores> {
    let s = Arc::new(runtime.block_on(connect(url))?);
    let audit: Arc<dyn AuditStore> = s.clone();
    let meta: Arc<dyn MetadataStore> = s;
    Ok(Stores {
        embedded: None,
        audit,
        meta,
    })
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

impl UsersCommand {
    pub fn dir(&self) -> &DataDirArg {
        match self {
            UsersCommand::List(d) => d,
            UsersCommand::Create(f) => &f.dir,
            UsersCommand::Update { fields, .. } => &fields.dir,
        }
    }
}

impl KeysCommand {
    pub fn dir(&self) -> &DataDirArg {
        match self {
            KeysCommand::List { dir, .. }
            | KeysCommand::Create { dir, .. }
            | KeysCommand::Revoke { dir, .. } => dir,
        }
    }
}

pub fn users(cmd: UsersCommand) -> Result<()> {
    block_on(async move {
        let s = connect(&cmd.dir().store).await?;
        match &cmd {
            UsersCommand::List(_) => print_json(&s.list_users().await?),
            UsersCommand::Create(f) => {
                let user = s.create_user(new_user(f)?).await?;
                print_json(&user)?;
                let done = format!("user {} was created", user.profile_id);
                record_locally(&s, local_audit().user_created(&user), &done).await
            }
            UsersCommand::Update { profile_id, fields } => {
                let old = s.get_user(*profile_id).await?.with_context(|| {
                    format!("no user with profile id {profile_id}; `trail users list` shows them")
                })?;
                let user = s.update_user(*profile_id, new_user(fields)?).await?;
                print_json(&user)?;
                let done = format!("user {profile_id} was updated");
                record_locally(&s, local_audit().user_updated(&old, &user), &done).await
            }
        }
    })
}

pub fn keys(cmd: KeysCommand) -> Result<()> {
    block_on(async move {
        let s = connect(&cmd.dir().store).await?;
        match &cmd {
            KeysCommand::List { profile_id, .. } => print_json(&s.list_keys(*profile_id).await?),
            KeysCommand::Create {
                profile_id, name, ..
            } => {
                let (info, secret) = s.create_key(*profile_id, name).await?;
                print_json(&info)?;
                println!("\nAPI key (shown once, store it now):\n{secret}");
                let done = format!("key {} was created (its secret is above)", info.id);
                record_locally(&s, local_audit().key_created(&info), &done).await
            }
            KeysCommand::Revoke { id, .. } => {
                let info = s.revoke_key(id).await?;
                print_json(&info)?;
                let done = format!("key {id} was revoked");
                record_locally(&s, local_audit().key_revoked(&info), &done).await
            }
        }
    })
}

/// [`crate::record_locally`] on PostgreSQL.
async fn record_locally(
    store: &PostgresStore,
    events: Result<Vec<NewEvent>, EventError>,
    done: &str,
) -> Result<()> {
    let events = events.map_err(|e| StoreError::Invalid(e.to_string()));
    let written = match events {
        Ok(events) => store.append(events).await,
        Err(e) => Err(e),
    };
    written.map(|_| ()).with_context(|| {
        format!("{done}, but its self-audit event could not be written to PostgreSQL")
    })
}
