//! `trail export-configs list|create|delete|run|runs`: scheduled exports managed on a data
//! directory, like `trail users` and `trail keys` (stop the server first: the store and
//! `exports.redb` are opened by one process at a time). A running server offers the same over
//! `/v1/export-configs`. `run` executes one run in the foreground (or resumes a failed one) and
//! prints the finished run with its tasks; its exit code is non-zero when the run failed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use trail_export::{ConfigInput, ExportOptions, ExportService, Status, Trigger};
use trail_store::AuditStore;

use crate::DataDirArg;

#[derive(Subcommand)]
pub enum ExportConfigsCommand {
    /// List configurations (credentials masked) with their export state.
    List(DataDirArg),
    /// Create a configuration from a JSON document (the body of POST /v1/export-configs).
    Create {
        #[command(flatten)]
        dir: DataDirArg,
        /// The configuration as JSON, or `@FILE` to read it from a file.
        json: String,
    },
    /// Delete a configuration (what was exported stays in its target).
    Delete {
        #[command(flatten)]
        dir: DataDirArg,
        id: String,
    },
    /// Run a configuration now (or resume its failed run) and print the run.
    Run {
        #[command(flatten)]
        dir: DataDirArg,
        id: String,
    },
    /// Show a configuration's runs, newest first, with tasks, attempts and failure reasons.
    Runs {
        #[command(flatten)]
        dir: DataDirArg,
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

fn service(dir: &Path) -> Result<ExportService> {
    let store: Arc<dyn AuditStore> = Arc::new(crate::open(dir)?);
    ExportService::open(dir, store, ExportOptions::default())
        .with_context(|| format!("cannot open the export database in {}", dir.display()))
}

fn read_input(json: &str) -> Result<ConfigInput> {
    let text = match json.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(PathBuf::from(file))
            .with_context(|| format!("cannot read {file}"))?,
        None => json.to_string(),
    };
    serde_json::from_str(&text).context("invalid export configuration JSON")
}

pub fn run(cmd: ExportConfigsCommand) -> Result<()> {
    match cmd {
        ExportConfigsCommand::List(d) => {
            let svc = service(&d.data_dir)?;
            let mut out = Vec::new();
            for c in svc.list()? {
                let mut v = serde_json::to_value(c.masked())?;
                v["state"] = serde_json::to_value(svc.state(&c.id)?)?;
                out.push(v);
            }
            crate::print_json(&out)
        }
        ExportConfigsCommand::Create { dir, json } => {
            let c = service(&dir.data_dir)?.create(read_input(&json)?, None)?;
            crate::print_json(&c.masked())
        }
        ExportConfigsCommand::Delete { dir, id } => {
            service(&dir.data_dir)?.delete(&id)?;
            println!("deleted export configuration {id}");
            Ok(())
        }
        ExportConfigsCommand::Runs { dir, id, limit } => {
            crate::print_json(&service(&dir.data_dir)?.runs(&id, limit)?)
        }
        ExportConfigsCommand::Run { dir, id } => {
            let svc = service(&dir.data_dir)?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let r = rt.block_on(svc.run_now(&id, Trigger::Manual))?;
            crate::print_json(&r)?;
            if r.status != Status::Succeeded {
                bail!(
                    "the run failed: {}; run it again to resume it",
                    r.failure_reason.as_deref().unwrap_or("unknown reason")
                );
            }
            Ok(())
        }
    }
}
