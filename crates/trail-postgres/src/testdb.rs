//! Fresh databases for tests (this crate's, the conformance suite's, the CLI's multi-node test).
//!
//! Tests never mock PostgreSQL: `cargo xtask test` starts a throwaway cluster and exports
//! `TRAIL_TEST_POSTGRES_URL` (see `crates/xtask/src/postgres.rs`). Each test creates its own
//! database with a unique name, so tests run in parallel without seeing each other's rows.
//! When the variable is unset the tests fail, on purpose, saying how to run them: a silent pass
//! would report a backend as tested when it was not.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

use crate::{db_err, StoreError};

/// The variable `cargo xtask test` sets to the throwaway cluster's URL.
pub const URL_VAR: &str = "TRAIL_TEST_POSTGRES_URL";

/// The test cluster's URL, or an error that says how to get one.
pub fn server_url() -> Result<String, StoreError> {
    std::env::var(URL_VAR).map_err(|_| {
        StoreError::Invalid(format!(
            "{URL_VAR} is not set: the PostgreSQL tests need a real server. Run them with \
             `cargo xtask test`, or `cargo xtask with-postgres cargo test -p <crate>`, which \
             start a throwaway PostgreSQL and set it"
        ))
    })
}

/// Creates an empty database with a unique name on the test cluster and returns its URL.
pub async fn fresh_database(prefix: &str) -> Result<String, StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let url = server_url()?;
    let cfg = tokio_postgres::Config::from_str(&url)
        .map_err(|e| StoreError::Invalid(format!("{URL_VAR}: {e}")))?;
    let (client, conn) = cfg.connect(NoTls).await.map_err(db_err)?;
    let task = tokio::spawn(conn);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "{}_{}_{}_{}",
        prefix
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(db_err)?;
    drop(client);
    let _ = task.await;
    let base = match url.rfind('/') {
        Some(i) if url[..i].contains("//") && i > url.find("//").unwrap_or(0) + 1 => &url[..i],
        _ => url.as_str(),
    };
    Ok(format!("{base}/{name}"))
}
