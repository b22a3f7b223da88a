//! One behavioural suite for every storage backend, over real HTTP (one test binary).
//!
//! - `embedded::*` and `postgres::*`: the server's own behavioural tests (ingest, every
//!   `GET /audit` parameter and error, facets, data-owner scoping, duplicates, self-audit, the
//!   seed's sample), compiled twice from `crates/trail-server/tests/`, once per backend. Their
//!   `start()` comes from [`support`], which picks the backend from the test's module path (the
//!   test thread's name, which the test harness sets to it).
//! - `cursor`: `scan_matching` paging on both backends, against a plain filter of `scan`.
//! - `same_answers`: one generated data set loaded into both backends; a list of queries must
//!   get identical JSON bodies.
//!
//! PostgreSQL comes from `cargo xtask test` (`TRAIL_TEST_POSTGRES_URL`); without it the
//! PostgreSQL tests fail saying so.

// The same test files are compiled once per backend, on purpose.
#![allow(clippy::duplicate_mod)]

mod support;

#[path = "../../trail-server/tests"]
mod embedded {
    mod access;
    mod ingest;
    mod search;
    mod seed;
    mod self_audit;
}

#[path = "../../trail-server/tests"]
mod postgres {
    mod access;
    mod ingest;
    mod search;
    mod seed;
    mod self_audit;
}

mod cursor;
mod same_answers;
