//! `trail serve`: settings from flags, `TRAIL_*` environment variables and an optional TOML
//! file (in that precedence), then the demo data, the bootstrap admin, and the HTTP service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use trail_store::embedded::EmbeddedStore;
use trail_store::{AuditStore, MetadataStore, NewEvent, Permission};

use crate::demo;

/// Settings of `trail serve`. Each may come from a flag, an environment variable or the TOML
/// file named by `--config` (keys as the flags, e.g. `listen = "0.0.0.0:8080"`), in that order.
/// The bootstrap admin key is read only from `TRAIL_BOOTSTRAP_KEY` (never a flag, so it stays
/// out of shell history and process lists).
#[derive(Args, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "TRAIL_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TRAIL_LISTEN")]
    listen: Option<String>,
    /// Data directory of the embedded store [default: trail-data].
    #[arg(long, env = "TRAIL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Storage backend [default: embedded].
    #[arg(long, env = "TRAIL_STORE")]
    store: Option<String>,
    /// Load realistic demo data into an empty data directory and print a ready `curl` line.
    #[arg(long, env = "TRAIL_DEMO", num_args = 0..=1, default_missing_value = "true")]
    demo: Option<bool>,
    /// Number of demo events [default: 250000].
    #[arg(long, env = "TRAIL_DEMO_EVENTS")]
    demo_events: Option<usize>,
    /// Largest accepted request body, after decompression [default: 67108864].
    #[arg(long, env = "TRAIL_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Tenant id written into Trail's own audit events [default: trail].
    #[arg(long, env = "TRAIL_TENANT_ID")]
    tenant_id: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "TRAIL_LOG_FORMAT")]
    log_format: Option<String>,
    /// Store UAM events whose auditPayload.type the catalogue does not know (flagged in the
    /// ingest answer) instead of refusing them [default: false].
    #[arg(long, env = "TRAIL_ACCEPT_UNKNOWN_EVENT_TYPES", num_args = 0..=1, default_missing_value = "true")]
    accept_unknown_event_types: Option<bool>,
    /// How the threads that parse and append posted events are scheduled, so that searches get
    /// the CPU first on a busy machine (Linux only): `idle` (SCHED_IDLE: only when nothing else
    /// wants the CPU; ingest may stall while searches or exports keep every core busy), or a
    /// nice value from 1 to 19 added to the service's (a share of the CPU even then), or 0 (the
    /// service's priority) [default: idle].
    #[arg(long, env = "TRAIL_INGEST_PRIORITY")]
    #[serde(default, deserialize_with = "priority_from_toml")]
    ingest_priority: Option<trail_server::IngestPriority>,
}

impl ServeArgs {
    fn merged(self) -> Result<ServeArgs> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let file: ServeArgs = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(ServeArgs {
            config: Some(path),
            listen: self.listen.or(file.listen),
            data_dir: self.data_dir.or(file.data_dir),
            store: self.store.or(file.store),
            demo: self.demo.or(file.demo),
            demo_events: self.demo_events.or(file.demo_events),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            tenant_id: self.tenant_id.or(file.tenant_id),
            log_format: self.log_format.or(file.log_format),
            accept_unknown_event_types: self
                .accept_unknown_event_types
                .or(file.accept_unknown_event_types),
            ingest_priority: self.ingest_priority.or(file.ingest_priority),
        })
    }
}

/// `ingest-priority` in the TOML file: `"idle"` or a nice value, as a string or a number.
fn priority_from_toml<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<trail_server::IngestPriority>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Text(String),
        Number(i64),
    }
    let text = match Given::deserialize(d)? {
        Given::Text(text) => text,
        Given::Number(n) => n.to_string(),
    };
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

fn init_logging(format: &str) -> Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("unknown log format `{other}`: use text or json"),
    }
    Ok(())
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let args = args.merged()?;
    init_logging(args.log_format.as_deref().unwrap_or("text"))?;
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("trail-data"));
    let store_kind = args.store.clone().unwrap_or_else(|| "embedded".into());
    let demo_mode = args.demo.unwrap_or(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ingest_priority = args.ingest_priority.unwrap_or_default();
    let crate::Stores {
        embedded: store,
        audit,
        meta,
    } = crate::stores(&store_kind, &data_dir, &runtime, ingest_priority)?;
    let spec = demo::DemoSpec {
        events: args.demo_events.unwrap_or(250_000),
        ..Default::default()
    };
    if demo_mode {
        match &store {
            Some(s) => load_demo(s, &spec)?,
            None => anyhow::bail!("--demo loads its data into the embedded store only; load demo data into PostgreSQL by POSTing it to /v1/events"),
        }
    }
    let cast = demo_mode.then(|| demo::demo_cast(&spec));
    let mut config = trail_server::ServerConfig::default();
    if let Some(m) = args.max_body_bytes {
        config.max_body_bytes = m;
    }
    config.ingest_priority = ingest_priority;
    if let Some(t) = &args.tenant_id {
        config.tenant_id = t.clone();
    }
    let embedded_store = store.is_some();
    let location = match &store {
        Some(_) => format!("data directory {}", data_dir.display()),
        None => "PostgreSQL store".to_string(),
    };
    config.accept_unknown_event_types = args.accept_unknown_event_types.unwrap_or(false);
    runtime.block_on(async move {
        let bootstrap_key = std::env::var("TRAIL_BOOTSTRAP_KEY").ok();
        let boot = trail_server::ensure_bootstrap_admin(meta.as_ref(), &config.tenant_id, bootstrap_key.as_deref()).await?;
        if let Some(b) = &boot {
            // The admin exists now and its secret must still be shown: a failure is logged.
            if let Err(e) = audit.append(b.self_audit.clone()).await {
                tracing::error!(error = %e, "could not write the self-audit events of the first admin and its key");
            }
        }
        let mut key = boot.as_ref().map(|b| b.secret.clone());
        if let Some(b) = &boot {
            tracing::info!(profile_id = b.profile_id, key_id = %b.key_id, "created the first admin user");
        }
        if key.is_none() && demo_mode {
            key = Some(demo_key(meta.as_ref(), audit.as_ref(), &config.tenant_id).await?);
        }
        let listener = tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let events = audit.stats().await?.events;
        banner(&addr.to_string(), &location, &data_dir, events, key.as_deref(), cast.as_ref());
        // Scheduled exports keep their state in the data directory, so they run on the
        // embedded store only: PostgreSQL nodes would each run (and double) every export.
        let exports = match embedded_store {
            true => Some(Arc::new(
                trail_export::ExportService::open(&data_dir, audit.clone(), Default::default())
                    .context("cannot open the export database (exports.redb)")?,
            )),
            false => None,
        };
        let (stop_exports, stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = exports.clone().map(|e| tokio::spawn(e.schedule(stop_rx)));
        let state = trail_server::AppState { store: audit, meta, config, exports };
        trail_server::serve(listener, state, async move {
            shutdown_signal().await;
            let _ = stop_exports.send(true);
        })
        .await?;
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        tracing::info!("stopped cleanly; the store is synced");
        Ok::<(), anyhow::Error>(())
    })?;
    drop(store);
    Ok(())
}

/// Demo mode always prints a working key: a fresh one for the first admin (keys are cheap),
/// self-audited like any other key.
async fn demo_key(
    meta: &dyn MetadataStore,
    audit: &dyn AuditStore,
    tenant_id: &str,
) -> Result<String> {
    let admin = meta
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.has(Permission::Admin) && u.has(Permission::Audit))
        .context("no admin user with AUDIT: create one with `trail users create --permission ADMIN --permission AUDIT`")?;
    let (info, secret) = meta.create_key(admin.profile_id, "demo").await?;
    let events = trail_server::LocalAudit::new(tenant_id, "trail-serve").key_created(&info)?;
    audit
        .append(events)
        .await
        .context("the demo key was created, but its self-audit event could not be written")?;
    Ok(secret)
}

fn load_demo(store: &EmbeddedStore, spec: &demo::DemoSpec) -> Result<()> {
    let events = spec.events;
    let have = store.stats_blocking().events;
    if have > 0 {
        println!(
            "Demo: the data directory already holds {have} events; not loading demo data again."
        );
        return Ok(());
    }
    let bar = ProgressBar::new(events as u64).with_style(
        ProgressStyle::with_template(
            "Loading demo data {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut batch = Vec::with_capacity(5000);
    let flush = |batch: &mut Vec<NewEvent>| -> Result<()> {
        let n = batch.len() as u64;
        store.append_blocking(std::mem::take(batch))?;
        bar.inc(n);
        Ok(())
    };
    for doc in demo::demo_events(spec) {
        batch.push(NewEvent::parse(doc).context("the demo generator produced an invalid event")?);
        if batch.len() == 5000 {
            flush(&mut batch)?;
        }
    }
    flush(&mut batch)?;
    bar.finish();
    Ok(())
}

fn banner(
    addr: &str,
    location: &str,
    data_dir: &Path,
    events: u64,
    key: Option<&str>,
    cast: Option<&demo::DemoCast>,
) {
    let url = format!("http://{addr}");
    println!();
    println!("Trail is listening on {url}  ({location}, {events} events)");
    match key {
        Some(k) => {
            println!("Admin API key (shown once; keep it): {k}");
            println!();
            println!("The seed's request, answered by Trail (saves 50 records, newest first):");
            println!(
                "  curl --request GET --header \"Content-Type: application/json\" --header \"Authorization: {k}\" --output audit-logs-file.json \"{url}/audit?sortField=dateTime&sortOrder=desc\""
            );
            println!("See hits and facets in the terminal:");
            println!("  curl -s --header \"Authorization: {k}\" \"{url}/audit?size=2&outcome=failure\"");
            if let Some(c) = cast {
                if let (Some(ds), Some(user)) = (c.data_source_ids.first(), c.profile_ids.first()) {
                    println!("  curl -s --header \"Authorization: {k}\" \"{url}/audit?size=3&dataSourceId={ds}&minDate=2026-06-01&maxDate=2026-06-30\"");
                    println!("  curl -s --header \"Authorization: {k}\" \"{url}/audit?size=0&profileId={user}&outcome=failure&outcome=insufficientAuthorizations\"");
                }
            }
        }
        None => println!("Use an API key created earlier, or create one: trail keys create --data-dir {} --profile-id 1 (with the server stopped)", data_dir.display()),
    }
    println!("API description: {url}/openapi.json   Stop with Ctrl-C.");
    println!();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
