//! Export throughput (a benchmark, not a test): `GET /v1/export` over loopback HTTP against an
//! existing store, compared with the store's own `scan_matching` read path, so that the cost of
//! the store's reads and of the export's rendering and transport can be told apart.
//!
//! Usage: `cargo bench -p trail-server --bench export_bench -- <store-dir>`; the directory must
//! be a copy (the store is opened read-write and locked), e.g. of a store built by
//! `cargo xtask bench 1000000`. Prints events/s and MB/s of each variant.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use trail_model::SearchQuery;
use trail_server::{serve, AppState, ServerConfig};
use trail_store::embedded::EmbeddedStore;
use trail_store::{AuditStore, MetadataStore, NewUser, Permission};

/// The allocator of the `trail` binary, so the figures are the ones it gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .expect("usage: export_bench <store-dir> (a copy: it is opened read-write)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = EmbeddedStore::open(&dir).expect("open store");
    let last = store.stats_blocking().last_seq;
    println!("store {dir}: {last} events");

    // 1. The store's read path alone: every event through scan_matching in 8192-event chunks.
    let started = Instant::now();
    let (mut after, mut n, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let chunk = store
            .scan_matching_blocking(&SearchQuery::new(), after, last, 8192)
            .unwrap();
        n += chunk.len() as u64;
        bytes += chunk
            .iter()
            .map(|e| e.document.len() as u64 + 1)
            .sum::<u64>();
        match chunk.last() {
            Some(e) if chunk.len() == 8192 => after = e.seq,
            _ => break,
        }
    }
    report("store scan_matching (no HTTP)", n, bytes, started);

    // 2. The packed read path the export uses: the same events, documents in one buffer.
    let started = Instant::now();
    let (mut after, mut n, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let chunk = store
            .scan_matching_packed_blocking(&SearchQuery::new(), after, last, 8192)
            .unwrap();
        n += chunk.events.len() as u64;
        bytes += chunk
            .events
            .iter()
            .map(|e| (e.end - e.start) as u64 + 1)
            .sum::<u64>();
        match chunk.events.last() {
            Some(e) if chunk.events.len() == 8192 => after = e.seq,
            _ => break,
        }
    }
    report("store scan_matching_packed (no HTTP)", n, bytes, started);

    let meta: Arc<dyn MetadataStore> = Arc::new(store.metadata());
    let key = rt.block_on(async {
        let user = meta
            .create_user(NewUser {
                user_id: format!("bench-{}", std::process::id()),
                email: None,
                name: "bench".into(),
                permissions: vec![Permission::Audit],
                owned_data_sources: vec![],
            })
            .await
            .unwrap();
        meta.create_key(user.profile_id, "bench").await.unwrap().1
    });
    let audit: Arc<dyn AuditStore> = Arc::new(store);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        store: audit,
        meta,
        config: ServerConfig::default(),
        exports: None,
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(listener, state, async move {
        let _ = stop_rx.await;
    }));

    for (what, query, gzip) in [
        ("GET /v1/export ndjson original", "", false),
        (
            "GET /v1/export ndjson original, framed",
            "frame=true",
            false,
        ),
        (
            "GET /v1/export json legacy",
            "format=json&form=legacy",
            false,
        ),
        ("GET /v1/export ndjson original, gzip transfer", "", true),
    ] {
        let started = Instant::now();
        let body = get(
            &addr.to_string(),
            &format!("/v1/export?upTo={last}&{query}"),
            &key,
            gzip,
        );
        report(what, last, body, started);
    }
    let _ = stop_tx.send(());
    rt.block_on(server).unwrap().unwrap();
}

/// Reads a whole response over a raw HTTP/1.0 connection; returns the body length.
fn get(addr: &str, path: &str, key: &str, gzip: bool) -> u64 {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let enc = if gzip { "gzip" } else { "identity" };
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: {key}\r\nAccept-Encoding: {enc}\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut head = Vec::new();
    let mut in_body = false;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if in_body {
            total += n as u64;
        } else {
            head.extend_from_slice(&buf[..n]);
            if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(
                    head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&head)
                );
                total += (head.len() - p - 4) as u64;
                in_body = true;
            }
        }
    }
    total
}

fn report(what: &str, events: u64, bytes: u64, started: Instant) {
    let s = started.elapsed().as_secs_f64();
    println!(
        "{what:<48} {events:>10} events {:>8.2} s {:>12.0} events/s {:>8.1} MB/s",
        s,
        events as f64 / s,
        bytes as f64 / s / 1e6
    );
}
