//! A real Trail server for each test: the real router on 127.0.0.1:0 over a real embedded store in
//! a temporary directory, run by `trail_server::serve` on a background tokio runtime, and a
//! blocking HTTP client (ureq) to talk to it. No mocks.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;
use trail_server::{ensure_bootstrap_admin, serve, AppState, ServerConfig};
use trail_store::embedded::EmbeddedStore;
use trail_store::MetadataStore;

/// A running server, stopped (gracefully) when dropped.
pub struct TestServer {
    pub base: String,
    /// The bootstrap administrator's key (AUDIT, INGEST, ADMIN).
    pub admin_key: String,
    pub admin_profile_id: i64,
    dir: Option<TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    agent: ureq::Agent,
}

/// An HTTP answer.
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn start() -> TestServer {
    start_with(ServerConfig::default())
}

pub fn start_with(config: ServerConfig) -> TestServer {
    start_in(tempfile::tempdir().unwrap(), config)
}

pub fn start_in(dir: TempDir, config: ServerConfig) -> TestServer {
    start_in_with(dir, config, false)
}

/// A server with scheduled exports enabled (`exports.redb` in its data directory).
pub fn start_with_exports() -> TestServer {
    start_in_with(tempfile::tempdir().unwrap(), ServerConfig::default(), true)
}

pub fn start_in_with(dir: TempDir, config: ServerConfig, with_exports: bool) -> TestServer {
    let path = dir.path().to_path_buf();
    let make = move || async move {
        let store = EmbeddedStore::open(&path).expect("open store");
        let meta: Arc<dyn MetadataStore> = Arc::new(store.metadata());
        let store: Arc<dyn trail_store::AuditStore> = Arc::new(store);
        let exports = with_exports.then(|| {
            Arc::new(
                trail_export::ExportService::open(&path, store.clone(), Default::default())
                    .expect("open exports.redb"),
            )
        });
        (store, meta, exports)
    };
    launch(make, config, Some(dir))
}

/// What a test server runs on.
type ServerStores = (
    Arc<dyn trail_store::AuditStore>,
    Arc<dyn MetadataStore>,
    Option<Arc<trail_export::ExportService>>,
);

/// Runs a server on its own thread and runtime, on the stores `make` opens there (so a
/// PostgreSQL pool lives on that runtime), with a bootstrap admin.
fn launch<F, Fut>(make: F, config: ServerConfig, dir: Option<TempDir>) -> TestServer
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ServerStores>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let (store, meta, exports) = make().await;
            // The harness starts from an empty log: it does not append the admin's
            // self-audit events (`admin::the_bootstrap_admin_*` checks them).
            let admin = ensure_bootstrap_admin(meta.as_ref(), "trail", None)
                .await
                .expect("bootstrap");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr: SocketAddr = listener.local_addr()?;
            addr_tx.send((addr, admin)).expect("report address");
            let state = AppState {
                store,
                meta,
                config,
                exports,
            };
            serve(listener, state, async move {
                let _ = stop_rx.await;
            })
            .await
        })
    });
    let (addr, admin) = addr_rx.recv().expect("server started");
    let admin = admin.expect("a fresh store gets a bootstrap admin");
    TestServer {
        base: format!("http://{addr}"),
        admin_key: admin.secret,
        admin_profile_id: admin.profile_id,
        dir,
        stop: Some(stop_tx),
        thread: Some(thread),
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build(),
    }
}

/// Opens the stores a test server runs on; called on the server's own runtime (so a
/// PostgreSQL pool lives there). Used by the conformance suite to run these tests on any backend.
#[allow(dead_code)] // used by crates/trail-conformance, which includes this file
pub type StoreFactory = Box<
    dyn FnOnce() -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                    Output = (Arc<dyn trail_store::AuditStore>, Arc<dyn MetadataStore>),
                >,
            >,
        > + Send,
>;

/// Like [`start_with`], on the stores `make` opens (no data directory to hand back).
#[allow(dead_code)] // used by crates/trail-conformance, which includes this file
pub fn start_on(make: StoreFactory, config: ServerConfig) -> TestServer {
    let make = move || async move {
        let (store, meta) = make().await;
        (store, meta, None)
    };
    launch(make, config, None)
}

impl TestServer {
    /// Stops the server gracefully, checks `serve` returned Ok, and hands back the data directory.
    pub fn shutdown(mut self) -> TempDir {
        self.stop_and_join().expect("serve returned an error");
        self.dir.take().unwrap()
    }

    fn stop_and_join(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }

    /// Any request. `key` goes into `Authorization` as is.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.set("Authorization", k);
        }
        for (n, v) in headers {
            req = req.set(n, v);
        }
        let result = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        // A header sent several times is one value, its parts joined by ", " (RFC 9110 5.3).
        let mut names = resp.headers_names();
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let headers = names
            .into_iter()
            .map(|n| {
                let v = resp.all(&n).join(", ");
                (n, v)
            })
            .collect();
        let mut text = String::new();
        resp.into_reader().read_to_string(&mut text).unwrap();
        Resp {
            status,
            text,
            headers,
        }
    }

    pub fn get(&self, path: &str, key: &str) -> Resp {
        self.call("GET", path, Some(key), &[], None)
    }

    /// GET as the administrator, expecting 200; returns the JSON.
    pub fn admin_get(&self, path: &str) -> Value {
        let r = self.get(path, &self.admin_key.clone());
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        r.json()
    }

    pub fn send_json(&self, method: &str, path: &str, key: &str, body: &Value) -> Resp {
        self.call(
            method,
            path,
            Some(key),
            &[("Content-Type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    /// POST /v1/events as the administrator, expecting 200.
    pub fn ingest(&self, events: &[Value]) -> Value {
        let r = self.send_json("POST", "/v1/events", &self.admin_key, &json!(events));
        assert_eq!(r.status, 200, "ingest: {}", r.text);
        r.json()
    }

    /// Creates a user as the administrator and a key for it; returns (profileId, key).
    pub fn user_with_key(
        &self,
        user_id: &str,
        permissions: &[&str],
        owned: &[i64],
    ) -> (i64, String) {
        let r = self.send_json(
            "POST",
            "/v1/users",
            &self.admin_key,
            &json!({"userId": user_id, "email": user_id, "name": user_id,
                    "permissions": permissions, "ownedDataSources": owned}),
        );
        assert_eq!(r.status, 201, "create user: {}", r.text);
        let profile_id = r.json()["profileId"].as_i64().unwrap();
        let r = self.send_json(
            "POST",
            "/v1/keys",
            &self.admin_key,
            &json!({"name": format!("{user_id} key"), "profileId": profile_id}),
        );
        assert_eq!(r.status, 201, "create key: {}", r.text);
        (profile_id, r.json()["key"].as_str().unwrap().to_string())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let result = self.stop_and_join();
        if !std::thread::panicking() {
            result.expect("serve returned an error");
        }
    }
}

/// 2022-03-01T00:00:00Z: fixture events are in 2022, Trail's own records in the present.
pub const T0: i64 = 1_646_092_800_000;
/// Excludes Trail's self-audit records (written now) from a search.
pub const BEFORE_NOW: &str = "maxDate=2022-12-31";

/// One fixture legacy record; its fields drive the filters.
#[derive(Clone, Debug)]
pub struct Spec {
    pub id: String,
    pub time: i64,
    pub ds: (i64, &'static str),
    pub project: Option<(i64, &'static str)>,
    pub user: (i64, &'static str),
    pub record_type: &'static str,
    pub outcome: &'static str,
    pub blob: Option<&'static str>,
    pub purposes: Option<Vec<i64>>,
}

impl Spec {
    pub fn doc(&self) -> Value {
        json!({
            "dateTime": self.time.to_string(),
            "dataSourceId": self.ds.0,
            "dataSourceName": self.ds.1,
            "projectId": self.project.map(|p| p.0),
            "projectName": self.project.map(|p| p.1),
            "recordType": self.record_type,
            "blobId": self.blob,
            "userId": self.user.1,
            "profileId": self.user.0,
            "purposeIds": self.purposes,
            "success": self.outcome == "success",
            "outcome": self.outcome,
            "failureReason": null,
            "warning": null,
            "id": self.id,
            "fingerprintVersionName": null,
            "email": self.user.1,
        })
    }
}

pub const DATA_SOURCES: [(i64, &str); 3] = [(1, "Claims"), (2, "Credit"), (3, "Census")];
pub const USERS: [(i64, &str); 2] = [(2, "katie@example.com"), (3, "user@example.com")];
pub const RECORD_TYPES: [&str; 4] = [
    "sqlQuery",
    "dataSourceSubscription",
    "policyHandlerUpdate",
    "queryDebugRequest",
];
pub const OUTCOMES: [&str; 6] = [
    "success",
    "success",
    "userError",
    "failure",
    "systemError",
    "insufficientPermissions",
];

/// `n` varied records, one minute apart from [`T0`], ids `ev-0`, `ev-1`, ...
pub fn fixture(n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| Spec {
            id: format!("ev-{i}"),
            time: T0 + i as i64 * 60_000,
            ds: DATA_SOURCES[i % 3],
            project: match i % 5 {
                0 => Some((10, "Proj A")),
                1 => Some((11, "Proj B")),
                _ => None,
            },
            user: USERS[i % 2],
            record_type: RECORD_TYPES[i % 4],
            outcome: OUTCOMES[i % 6],
            blob: (i % 7 == 0).then_some("blob-7"),
            purposes: (i % 4 == 1).then(|| vec![11, 17]),
        })
        .collect()
}

/// Ingests the fixture and returns it.
pub fn load_fixture(server: &TestServer, n: usize) -> Vec<Spec> {
    let specs = fixture(n);
    let docs: Vec<Value> = specs.iter().map(Spec::doc).collect();
    let r = server.ingest(&docs);
    assert_eq!(r["stored"], n as u64);
    specs
}

/// The ids of a `GET /audit` answer's hits, in order.
pub fn hit_ids(answer: &Value) -> Vec<String> {
    answer["hits"]
        .as_array()
        .expect("hits is an array")
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Expected ids, newest first, of the specs matching `keep`.
pub fn expected_desc(specs: &[Spec], keep: impl Fn(&Spec) -> bool) -> Vec<String> {
    let mut v: Vec<&Spec> = specs.iter().filter(|s| keep(s)).collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.time));
    v.into_iter().map(|s| s.id.clone()).collect()
}

/// The member names of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}
