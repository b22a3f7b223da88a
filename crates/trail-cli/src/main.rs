//! The `trail` binary: assembles the model, the store and the HTTP service. The only place that
//! uses `anyhow`, reads configuration files and environment variables, and prints to a terminal.

mod config;
mod demo;
mod download;
mod exports;
mod import;
mod pgcli;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use trail_model::EventError;
use trail_server::LocalAudit;
use trail_store::embedded::{EmbeddedOptions, EmbeddedStore, ThreadStart};
use trail_store::{AuditStore, MetadataStore, NewEvent, NewUser, Permission, StoreError};

use crate::config::ServeArgs;

/// Ingest allocates and frees several small strings per event from many threads; glibc's
/// allocator spent about a fifth of ingest CPU on that, mimalloc about half as much
/// (`cargo bench -p trail-store --bench store_bench`, CPU seconds per million events).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Trail: an audit-log service that speaks Immuta's audit API.
#[derive(Parser)]
#[command(name = "trail", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Load NDJSON, a JSON array, or an Immuta `{"hits": [...]}` download into a data directory.
    Import(ImportArgs),
    /// Manage users of a data directory (stop the server first). Every change is recorded in
    /// the audit log (UserCreated, UserUpdated, PermissionApplied/Removed) with actor
    /// `trail-cli:<OS account>` and tenant `TRAIL_TENANT_ID` (default `trail`).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys of a data directory (stop the server first). Creating and revoking are
    /// recorded in the audit log (ApiKeyCreated/ApiKeyDeleted) with actor `trail-cli:<OS
    /// account>` and tenant `TRAIL_TENANT_ID` (default `trail`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read and check every record of the log; reports any corruption with segment and offset.
    Verify(DataDirArg),
    /// Manage scheduled exports of a data directory (stop the server first).
    #[command(subcommand)]
    ExportConfigs(exports::ExportConfigsCommand),
    /// Download every matching event from a server into a file (resumable, verified by the
    /// export's trailer); falls back to GET /audit paging against servers without /v1/export.
    Download(Box<download::DownloadArgs>),
}

#[derive(Args)]
struct DataDirArg {
    /// Data directory of the embedded store.
    #[arg(long, env = "TRAIL_DATA_DIR", default_value = "trail-data")]
    data_dir: PathBuf,
    /// Storage backend: `embedded` (the data directory) or a `postgres://` URL.
    #[arg(long, env = "TRAIL_STORE", default_value = "embedded")]
    store: String,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    dir: DataDirArg,
    /// Files to load (NDJSON, a JSON array, or `{"hits": [...]}`); each object a UAM event or a
    /// legacy audit record.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Events per appended batch.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
    /// Store UAM events whose auditPayload.type the catalogue does not know instead of
    /// rejecting them (as `trail serve --accept-unknown-event-types`).
    #[arg(long)]
    accept_unknown_event_types: bool,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List users.
    List(DataDirArg),
    /// Create a user.
    Create(UserFields),
    /// Replace a user's fields.
    Update {
        /// Profile id of the user to update.
        profile_id: i64,
        #[command(flatten)]
        fields: UserFields,
    },
}

#[derive(Args)]
struct UserFields {
    #[command(flatten)]
    dir: DataDirArg,
    /// Login id (usually an email address).
    #[arg(long)]
    user_id: String,
    #[arg(long)]
    email: Option<String>,
    /// Display name.
    #[arg(long, default_value = "")]
    name: String,
    /// AUDIT, INGEST or ADMIN; repeat for several.
    #[arg(long = "permission")]
    permissions: Vec<String>,
    /// Data source ids this user owns (reads only their records without AUDIT); comma list.
    #[arg(long, value_delimiter = ',')]
    owns: Vec<i64>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        dir: DataDirArg,
        /// Only this user's keys.
        #[arg(long)]
        profile_id: Option<i64>,
    },
    /// Create a key for a user; the secret is printed once.
    Create {
        #[command(flatten)]
        dir: DataDirArg,
        #[arg(long)]
        profile_id: i64,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a key.
    Revoke {
        #[command(flatten)]
        dir: DataDirArg,
        /// Key id (from `trail keys list`).
        id: String,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => config::serve(args),
        Command::Import(args) => import::run(
            &args.dir.data_dir,
            &args.files,
            args.batch_size,
            args.accept_unknown_event_types,
        ),
        Command::Users(cmd) => users(cmd),
        Command::Keys(cmd) => keys(cmd),
        Command::ExportConfigs(cmd) => exports::run(cmd),
        Command::Download(args) => download::main(*args),
        Command::Verify(d) => {
            let store = open(&d.data_dir)?;
            let n = store.verify_blocking().context("verification failed")?;
            println!("ok: {n} events checked in {}", d.data_dir.display());
            Ok(())
        }
    }
}

fn open(dir: &std::path::Path) -> Result<EmbeddedStore> {
    open_with(dir, EmbeddedOptions::default())
}

fn open_with(dir: &std::path::Path, options: EmbeddedOptions) -> Result<EmbeddedStore> {
    EmbeddedStore::open_with(dir, options)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))
}

fn permissions(names: &[String]) -> Result<Vec<Permission>> {
    names
        .iter()
        .map(|n| {
            Permission::parse(n)
                .with_context(|| format!("unknown permission `{n}`: use AUDIT, INGEST or ADMIN"))
        })
        .collect()
}

fn new_user(f: &UserFields) -> Result<NewUser> {
    Ok(NewUser {
        user_id: f.user_id.clone(),
        email: f.email.clone(),
        name: f.name.clone(),
        permissions: permissions(&f.permissions)?,
        owned_data_sources: f.owns.clone(),
    })
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs a `trail users` / `trail keys` action on the store its `--data-dir`/`--store` names,
/// embedded or PostgreSQL, through the store traits.
fn on_stores<F>(dir: &DataDirArg, action: F) -> Result<()>
where
    F: AsyncFnOnce(&dyn MetadataStore, &dyn AuditStore) -> Result<()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // A short command: its store's indexing threads need no lowering.
    let same = trail_server::IngestPriority::Same;
    let stores = stores(&dir.store, &dir.data_dir, &runtime, same)?;
    runtime.block_on(action(stores.meta.as_ref(), stores.audit.as_ref()))
}

fn users(cmd: UsersCommand) -> Result<()> {
    on_stores(cmd.dir(), async |meta, audit| match &cmd {
        UsersCommand::List(_) => print_json(&meta.list_users().await?),
        UsersCommand::Create(f) => {
            let user = meta.create_user(new_user(f)?).await?;
            print_json(&user)?;
            let done = format!("user {} was created", user.profile_id);
            record_locally(audit, local_audit().user_created(&user), &done).await
        }
        UsersCommand::Update { profile_id, fields } => {
            let old = meta.get_user(*profile_id).await?.with_context(|| {
                format!("no user with profile id {profile_id}; `trail users list` shows them")
            })?;
            let user = meta.update_user(*profile_id, new_user(fields)?).await?;
            print_json(&user)?;
            let done = format!("user {profile_id} was updated");
            record_locally(audit, local_audit().user_updated(&old, &user), &done).await
        }
    })
}

fn keys(cmd: KeysCommand) -> Result<()> {
    on_stores(cmd.dir(), async |meta, audit| match &cmd {
        KeysCommand::List { profile_id, .. } => print_json(&meta.list_keys(*profile_id).await?),
        KeysCommand::Create {
            profile_id, name, ..
        } => {
            let (info, secret) = meta.create_key(*profile_id, name).await?;
            print_json(&info)?;
            println!("\nAPI key (shown once, store it now):\n{secret}");
            let done = format!("key {} was created (its secret is above)", info.id);
            record_locally(audit, local_audit().key_created(&info), &done).await
        }
        KeysCommand::Revoke { id, .. } => {
            let info = meta.revoke_key(id).await?;
            print_json(&info)?;
            let done = format!("key {id} was revoked");
            record_locally(audit, local_audit().key_revoked(&info), &done).await
        }
    })
}

/// The self-audit of `trail users` / `trail keys`: the same events as the HTTP endpoints, with
/// actor `trail-cli:<account>`, under the tenant id `trail serve` uses (`TRAIL_TENANT_ID`,
/// default `trail`).
fn local_audit() -> LocalAudit {
    let tenant = std::env::var("TRAIL_TENANT_ID").unwrap_or_else(|_| "trail".to_string());
    LocalAudit::new(tenant, "trail-cli")
}

/// Appends the self-audit events of an action already carried out (`done` says what it was).
async fn record_locally(
    audit: &dyn AuditStore,
    events: Result<Vec<NewEvent>, EventError>,
    done: &str,
) -> Result<()> {
    let written = match events {
        Ok(events) => audit.append(events).await,
        Err(e) => Err(StoreError::Invalid(e.to_string())),
    };
    written.map(|_| ()).with_context(|| {
        format!("{done}, but its self-audit event could not be written to the store")
    })
}

/// The stores a server runs on: the embedded handle (for demo loading; `None` on PostgreSQL)
/// and the trait objects.
pub struct Stores {
    pub embedded: Option<EmbeddedStore>,
    pub audit: Arc<dyn AuditStore>,
    pub meta: Arc<dyn MetadataStore>,
}

/// Store handles for the server, from the `--store` setting. The embedded store's indexing
/// threads take the ingest lane's priority: indexing what was ingested is ingest work.
fn stores(
    store: &str,
    data_dir: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
    ingest_priority: trail_server::IngestPriority,
) -> Result<Stores> {
    if pgcli::is_postgres(store) {
        return pgcli::stores(store, runtime);
    }
    if store != "embedded" {
        bail!("unsupported --store `{store}`: use `embedded` or a postgres://user:password@host:port/database URL");
    }
    let options = EmbeddedOptions {
        indexing_thread_start: ingest_priority.thread_lowering().map(ThreadStart),
        ..EmbeddedOptions::default()
    };
    let s = open_with(data_dir, options)?;
    let audit: Arc<dyn AuditStore> = Arc::new(s.clone());
    let meta: Arc<dyn MetadataStore> = Arc::new(s.metadata());
    Ok(Stores {
        embedded: Some(s),
        audit,
        meta,
    })
}
