//! Shared pieces: a store with numbered events, a hand-moved clock, the scheduler harness, a
//! moto process, a cuttable TCP proxy, and the check that a target holds every event exactly
//! once as its manifests say.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use trail_export::{Clock, ExportOptions, ExportService, RunRecord, Status};
use trail_store::embedded::EmbeddedStore;
use trail_store::{AuditStore, NewEvent};

/// 2030-01-01T00:00:00Z: where the hand-moved clock starts.
pub const CLOCK0: i64 = 1_893_456_000_000;
/// 2022-03-01: event times of the fixture.
pub const T0: i64 = 1_646_092_800_000;

pub struct ManualClock(pub Arc<AtomicI64>);

impl ManualClock {
    pub fn new() -> (ManualClock, Clock) {
        let a = Arc::new(AtomicI64::new(CLOCK0));
        let b = a.clone();
        (ManualClock(a), Arc::new(move || b.load(Ordering::SeqCst)))
    }
    pub fn advance(&self, ms: i64) -> i64 {
        self.0.fetch_add(ms, Ordering::SeqCst) + ms
    }
}

/// Options for tests: fast ticks and retries, two attempts per task.
pub fn options(clock: Clock) -> ExportOptions {
    ExportOptions {
        clock,
        tick: Duration::from_millis(30),
        attempts_per_task: 2,
        retry_backoff: Duration::from_millis(10),
        retry_failed_after: Duration::ZERO,
    }
}

/// A legacy record `ev-<i>` with event time `time`.
pub fn doc(i: usize, time: i64) -> String {
    json!({"dateTime": time.to_string(), "dataSourceId": (i % 3) as i64 + 1, "dataSourceName": "Claims",
           "recordType": "sqlQuery", "userId": "katie@example.com", "profileId": 2,
           "success": true, "outcome": "success", "id": format!("ev-{i}")})
    .to_string()
}

/// Appends `ev-<from>..ev-<to-1>` with the given event-time function.
pub async fn append(
    store: &EmbeddedStore,
    range: std::ops::Range<usize>,
    time: impl Fn(usize) -> i64,
) {
    let batch: Vec<NewEvent> = range
        .map(|i| NewEvent::parse(doc(i, time(i))).unwrap())
        .collect();
    let n = batch.len() as u64;
    let r = store.append(batch).await.unwrap();
    assert_eq!(r.stored, n);
}

/// Polls `f` until it yields `Some`, for at most 30 s.
pub async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until run `run_id` of `id` is finished (succeeded or failed) and returns it.
pub async fn finished_run(svc: &ExportService, id: &str, run_id: u64) -> RunRecord {
    wait_for(&format!("run {run_id}"), || {
        svc.runs(id, 100)
            .unwrap()
            .into_iter()
            .find(|r| r.run_id == run_id && r.status != Status::Running && r.finished_ms.is_some())
    })
    .await
}

/// What a target holds: object names and a reader.
pub trait TargetView {
    fn list(&self) -> Vec<String>;
    fn read(&self, name: &str) -> Vec<u8>;
}

pub struct DirView<'a>(pub &'a Path);

impl TargetView for DirView<'_> {
    fn list(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.0, self.0, &mut out);
        out.sort();
        out
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).unwrap()
    }
}

/// Checks the target against the store: the manifests' windows chain, their objects' seq ranges
/// are increasing with no overlap, every object's SHA-256 matches, every event `1..=last_seq`
/// is present exactly once (each with its document byte for byte), and the target holds
/// nothing but the manifests and their objects. Returns the manifests by window.
pub async fn check_complete(
    view: &dyn TargetView,
    store: &EmbeddedStore,
    last_seq: u64,
) -> BTreeMap<String, Value> {
    let names = view.list();
    let mut manifests = BTreeMap::new();
    for n in names.iter().filter(|n| n.ends_with("manifest.json")) {
        let m: Value = serde_json::from_slice(&view.read(n)).unwrap();
        manifests.insert(m["window"].as_str().unwrap().to_string(), m);
    }
    let mut listed = Vec::new();
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut prev_last = 0u64;
    let mut prev_up_to = 0u64;
    for m in manifests.values() {
        assert_eq!(
            m["afterSeq"].as_u64().unwrap(),
            prev_up_to,
            "windows chain without a gap: {m}"
        );
        prev_up_to = m["upToSeq"].as_u64().unwrap();
        let mut count = 0;
        for o in m["objects"].as_array().unwrap() {
            let name = o["name"].as_str().unwrap();
            let bytes = view.read(name);
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                o["sha256"].as_str().unwrap(),
                "{name}"
            );
            let (first, last) = (
                o["firstSeq"].as_u64().unwrap(),
                o["lastSeq"].as_u64().unwrap(),
            );
            assert!(first > prev_last, "{name} overlaps the previous object");
            assert!(first > m["afterSeq"].as_u64().unwrap() && last <= prev_up_to);
            prev_last = last;
            let mut text = String::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_string(&mut text)
                .unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len() as u64, o["events"].as_u64().unwrap());
            for line in lines {
                let id = serde_json::from_str::<Value>(line).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let stored = store
                    .get(&id)
                    .await
                    .unwrap()
                    .expect("exported event is stored");
                assert_eq!(stored.document, line, "documents exactly as stored");
                assert!(
                    stored.seq >= first && stored.seq <= last,
                    "{id} outside {name}'s range"
                );
                assert!(
                    seen.insert(stored.seq, id.clone()).is_none(),
                    "event {id} exported twice"
                );
                count += 1;
            }
            listed.push(name.to_string());
        }
        assert_eq!(m["events"].as_u64().unwrap(), count);
    }
    assert_eq!(
        prev_up_to, last_seq,
        "the last window reaches the store's end"
    );
    let expected: Vec<u64> = (1..=last_seq).collect();
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        expected,
        "every event exactly once"
    );
    let mut all: Vec<String> = listed;
    all.extend(
        names
            .iter()
            .filter(|n| n.ends_with("manifest.json"))
            .cloned(),
    );
    all.sort();
    assert_eq!(
        all, names,
        "the target holds only manifests and the objects they list"
    );
    manifests
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's S3 server on a free port, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with moto[server] (cargo xtask test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while ureq::get(&format!("{url}/moto-api/")).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, url }
    }

    /// Creates a bucket (moto does not check signatures in server mode by default; Trail signs).
    pub fn create_bucket(&self, name: &str) {
        ureq::put(&format!("{}/{name}", self.url)).call().unwrap();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test's S3 credentials.
pub const S3_KEY_ID: &str = "AKIDTRAILTEST";
pub const S3_SECRET: &str = "s3cr3t-never-shown";

/// Reads a bucket straight from moto (not through the proxy).
pub struct S3View<'a> {
    pub moto: &'a Moto,
    pub bucket: &'a str,
}

impl TargetView for S3View<'_> {
    fn list(&self) -> Vec<String> {
        let body = ureq::get(&format!(
            "{}/{}?list-type=2&max-keys=1000",
            self.moto.url, self.bucket
        ))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
        assert!(!body.contains("<IsTruncated>true"), "more than 1000 keys");
        let mut out: Vec<String> = body
            .split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_string())
            .collect();
        out.sort();
        out
    }
    fn read(&self, name: &str) -> Vec<u8> {
        use rusty_s3::S3Action;
        let bucket = rusty_s3::Bucket::new(
            self.moto.url.parse().unwrap(),
            rusty_s3::UrlStyle::Path,
            self.bucket.to_string(),
            "us-east-1",
        )
        .unwrap();
        let creds = rusty_s3::Credentials::new(S3_KEY_ID, S3_SECRET);
        let url = bucket
            .get_object(Some(&creds), name)
            .sign(Duration::from_secs(600));
        let mut v = Vec::new();
        ureq::get(url.as_str())
            .call()
            .unwrap()
            .into_reader()
            .read_to_end(&mut v)
            .unwrap();
        v
    }
}

/// A TCP proxy in front of moto. It passes `budget` connections; the next one is forwarded to
/// moto but its response is swallowed and the connection dropped (the object is written, the
/// writer sees a failure); every later one is refused, until [`Proxy::heal`].
pub struct Proxy {
    pub url: String,
    budget: Arc<AtomicUsize>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

const UNLIMITED: usize = usize::MAX / 2;
const REFUSE: usize = usize::MAX;

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let budget = Arc::new(AtomicUsize::new(UNLIMITED));
        let connections = Arc::new(AtomicUsize::new(0));
        let (b, c) = (budget.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let left = b.load(Ordering::SeqCst);
                if left == REFUSE {
                    let _ = client.shutdown(Shutdown::Both);
                } else if left > 0 {
                    if left < UNLIMITED {
                        b.fetch_sub(1, Ordering::SeqCst);
                    }
                    let up = upstream.clone();
                    std::thread::spawn(move || pass(client, &up));
                } else if left == 0 {
                    b.store(REFUSE, Ordering::SeqCst);
                    let up = upstream.clone();
                    std::thread::spawn(move || swallow(client, &up));
                }
            }
        });
        Proxy {
            url,
            budget,
            connections,
        }
    }

    /// Lets `n` more connections through, then cuts (see the type's doc).
    pub fn cut_after(&self, n: usize) {
        self.budget.store(n, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.budget.store(UNLIMITED, Ordering::SeqCst);
    }
}

fn pass(client: TcpStream, upstream: &str) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let (mut s, mut c) = (server, client);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(Shutdown::Both);
    let _ = t.join();
}

fn swallow(client: TcpStream, upstream: &str) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
    });
    // Wait for moto's answer (the object is stored by then), drop it, cut the client.
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let _ = server.read(&mut buf);
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
    let _ = std::io::sink().write(&buf);
}
