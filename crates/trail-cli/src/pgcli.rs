//! `--store postgres://...` for `trail serve`, `trail users` and `trail keys`: opens the
//! PostgreSQL backend (`trail-postgres`), whose `AuditStore`/`MetadataStore` handles the
//! commands then use exactly as the embedded store's. Unlike the embedded store, users and keys
//! may be managed while servers run: every node reads them from the database on each request.

use std::sync::Arc;

use anyhow::{Context, Result};
use trail_postgres::PostgresStore;
use trail_store::{AuditStore, MetadataStore};

use crate::{DataDirArg, KeysCommand, Stores, UsersCommand};

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
