//! The server tests' helpers (`crates/trail-server/tests/support.rs`, included as is), with
//! `start`/`start_with` choosing the backend: tests under a `postgres::` module run on a fresh
//! PostgreSQL database, all others on a fresh embedded store.

use std::sync::Arc;

use trail_postgres::{testdb, PostgresStore};
use trail_server::ServerConfig;
use trail_store::{AuditStore, MetadataStore};

#[allow(dead_code, unused_imports)]
#[path = "../../trail-server/tests/support.rs"]
mod server;

#[allow(unused_imports)]
pub use server::*;

/// The backends of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Postgres,
}

/// The backend of the running test, from its module path (the harness names the test thread
/// after the test).
pub fn this_test_backend() -> Backend {
    let name = std::thread::current().name().unwrap_or("").to_string();
    if name.starts_with("postgres::") {
        Backend::Postgres
    } else if name.starts_with("embedded::") {
        Backend::Embedded
    } else {
        panic!(
            "cannot tell the backend of test thread `{name}`: run the suite with the standard \
             harness (not --test-threads=1 on a harness that runs tests on the main thread)"
        )
    }
}

/// Opens a PostgreSQL store on a fresh database of the test cluster.
pub async fn postgres_store(prefix: &str) -> Arc<PostgresStore> {
    let url = testdb::fresh_database(prefix)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(
        PostgresStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open the PostgreSQL store: {e}")),
    )
}

/// A server on `backend`.
pub fn start_backend(backend: Backend, config: ServerConfig) -> TestServer {
    match backend {
        Backend::Embedded => server::start_with(config),
        Backend::Postgres => server::start_on(
            Box::new(|| {
                Box::pin(async {
                    let s = postgres_store("conf").await;
                    let audit: Arc<dyn AuditStore> = s.clone();
                    let meta: Arc<dyn MetadataStore> = s;
                    (audit, meta)
                })
            }),
            config,
        ),
    }
}

pub fn start() -> TestServer {
    start_with(ServerConfig::default())
}

pub fn start_with(config: ServerConfig) -> TestServer {
    start_backend(this_test_backend(), config)
}
