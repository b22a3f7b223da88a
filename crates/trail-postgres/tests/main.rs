//! The PostgreSQL backend against a real server (`cargo xtask test` starts one; see
//! `trail_postgres::testdb`). Cross-backend behaviour is in `crates/trail-conformance`; these
//! tests pin what is specific to PostgreSQL: schema versions, partitions, several pools on one
//! database, connection failures, metadata.

mod store;
