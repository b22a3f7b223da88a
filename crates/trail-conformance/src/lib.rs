//! Test-only crate: the conformance suite of Trail's storage backends lives in `tests/`.
//!
//! Why a crate of its own: it depends on every backend (`trail-store`'s embedded one and
//! `trail-postgres`) and on the server, which no production crate should. The suite runs the
//! server's behavioural HTTP tests once per backend and compares the answers of both backends on
//! one generated data set. See `tests/main.rs`.
