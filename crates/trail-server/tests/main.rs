//! Trail's HTTP service end to end: one test binary (one link) for the whole crate. Every test
//! starts the real router over a real embedded store on loopback and talks HTTP to it.

mod access;
mod admin;
mod export;
mod export_configs;
mod ingest;
mod search;
mod seed;
mod self_audit;
mod service;
mod support;
mod uam;
