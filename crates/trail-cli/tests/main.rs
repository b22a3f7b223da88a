//! End-to-end tests of the `trail` binary: the README's first command, import, settings
//! precedence, users and keys. Real processes, real HTTP on loopback.

mod exports;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod download;
mod postgres;

const TRAIL: &str = env!("CARGO_BIN_EXE_trail");

/// A running `trail serve` and the banner it printed.
struct Served {
    child: Child,
    banner: Vec<String>,
}

impl Served {
    fn start(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> Served {
        let mut child = Command::new(TRAIL)
            .arg("serve")
            .args(args)
            .env_remove("TRAIL_DATA_DIR")
            .envs(envs.iter().copied())
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut banner = Vec::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("API description");
            banner.push(line);
            if done {
                break;
            }
        }
        assert!(
            banner.iter().any(|l| l.starts_with("API description")),
            "no banner: {banner:?}"
        );
        std::thread::spawn(move || lines.for_each(drop));
        Served { child, banner }
    }

    fn line_with(&self, needle: &str) -> &str {
        self.banner
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {:?}", self.banner))
    }

    fn url(&self) -> String {
        let l = self.line_with("listening on");
        l.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_string()
    }

    fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(TRAIL).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn serve_demo_prints_a_curl_line_that_returns_hits_and_facets_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        &["--demo", "--demo-events", "3000", "--listen", "127.0.0.1:0"],
        &[],
        dir.path(),
    );
    let curl = served
        .line_with("--output audit-logs-file.json")
        .to_string();
    let key = curl
        .split("Authorization: ")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let url = curl
        .rsplit(" \"")
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    assert!(
        url.ends_with("/audit?sortField=dateTime&sortOrder=desc"),
        "{url}"
    );
    let body: serde_json::Value = ureq::get(&url)
        .set("Content-Type", "application/json")
        .set("Authorization", &key)
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(body["hits"].as_array().unwrap().len(), 50);
    assert_eq!(
        body["count"], 3002,
        "the demo events and the first admin's UserCreated and ApiKeyCreated (the search's own audit record comes after it)"
    );
    for facet in [
        "datasources",
        "projects",
        "users",
        "recordTypes",
        "outcomes",
    ] {
        assert!(
            !body["facets"][facet].as_array().unwrap().is_empty(),
            "facet {facet} is empty"
        );
    }
    assert!(body["facets"]["datasources"][0]["count"].is_string());
    let audit_queries = |url: &str, key: &str| -> u64 {
        let b: serde_json::Value = ureq::get(&format!("{url}/audit?size=0&recordType=auditQuery"))
            .set("Authorization", key)
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        b["count"].as_u64().unwrap()
    };
    let before_restart = audit_queries(&served.url(), &key);
    assert!(served.stop().success(), "SIGTERM stops trail cleanly");

    // A second start on the same directory keeps everything, does not load the demo again, and
    // prints a fresh working key.
    let again = Served::start(
        &["--demo", "--demo-events", "3000", "--listen", "127.0.0.1:0"],
        &[],
        dir.path(),
    );
    let key2 = again
        .line_with("Admin API key")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        audit_queries(&again.url(), &key2),
        before_restart + 1,
        "the last search before the restart was audited durably"
    );
    let all: serde_json::Value = ureq::get(&format!("{}/audit?size=0", again.url()))
        .set("Authorization", &key2)
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert!(
        all["count"].as_u64().unwrap() < 3_100,
        "demo data was not loaded twice: {}",
        all["count"]
    );
    again.stop();
}

#[test]
fn settings_come_from_flags_then_environment_then_the_toml_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trail.toml"),
        "listen = \"127.0.0.1:0\"\ndata-dir = \"from-toml\"\ntenant-id = \"t\"\n",
    )
    .unwrap();
    let from_toml = Served::start(&["--config", "trail.toml"], &[], dir.path());
    assert!(from_toml
        .line_with("listening on")
        .contains("data directory from-toml"));
    from_toml.stop();
    let from_env = Served::start(
        &["--config", "trail.toml"],
        &[("TRAIL_DATA_DIR", "from-env")],
        dir.path(),
    );
    assert!(from_env
        .line_with("listening on")
        .contains("data directory from-env"));
    from_env.stop();
    let from_flag = Served::start(
        &["--config", "trail.toml", "--data-dir", "from-flag"],
        &[("TRAIL_DATA_DIR", "from-env")],
        dir.path(),
    );
    assert!(from_flag
        .line_with("listening on")
        .contains("data directory from-flag"));
    from_flag.stop();
    std::fs::write(
        dir.path().join("bad.toml"),
        "listen = \"127.0.0.1:0\"\nlisten-port = 3\n",
    )
    .unwrap();
    let (ok, out) = run(&[
        "serve",
        "--config",
        dir.path().join("bad.toml").to_str().unwrap(),
    ]);
    assert!(
        !ok && out.contains("invalid config file") && out.contains("listen-port"),
        "{out}"
    );
}

/// (scheduling policy, nice value) of each thread named `name` of process `pid`, from fields
/// 41 and 19 of its `/proc/.../stat`; waits a little for such threads to start.
#[cfg(target_os = "linux")]
fn threads_scheduling(pid: u32, name: &str) -> Vec<(u32, i64)> {
    for _ in 0..100 {
        let found = threads_scheduling_now(pid, name);
        if !found.is_empty() {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Vec::new()
}

/// The name of this process's main thread.
#[cfg(target_os = "linux")]
fn thread_name_of_this_process() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim_end()
        .to_string()
}

#[cfg(target_os = "linux")]
fn threads_scheduling_now(pid: u32, name: &str) -> Vec<(u32, i64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (open, close) = (stat.find('(').unwrap(), stat.rfind(')').unwrap());
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if &stat[open + 1..close] == name {
            found.push((fields[38].parse().unwrap(), fields[16].parse().unwrap()));
        }
    }
    found
}

#[cfg(target_os = "linux")]
#[test]
fn ingest_runs_under_sched_idle_unless_a_nice_value_is_set_and_a_bad_setting_is_named() {
    const SCHED_IDLE: u32 = 5;
    let dir = tempfile::tempdir().unwrap();
    let by_default = Served::start(&["--listen", "127.0.0.1:0"], &[], dir.path());
    // The store's indexing threads take the lane's priority; its sync thread does not.
    for name in ["trail-ingest", "trail-publish", "trail-seal", "trail-warm"] {
        let threads = threads_scheduling(by_default.child.id(), name);
        assert!(
            !threads.is_empty() && threads.iter().all(|(policy, _)| *policy == SCHED_IDLE),
            "{name}: {threads:?}"
        );
    }
    // The server inherits this test's nice value.
    let base = threads_scheduling_now(std::process::id(), &thread_name_of_this_process())[0].1;
    let sync = threads_scheduling(by_default.child.id(), "trail-sync");
    assert_eq!(sync, [(0, base)], "trail-sync at the service's priority");
    by_default.stop();
    std::fs::write(
        dir.path().join("trail.toml"),
        "listen = \"127.0.0.1:0\"\ningest-priority = 12\n",
    )
    .unwrap();
    let niced = Served::start(&["--config", "trail.toml"], &[], dir.path());
    for name in ["trail-ingest", "trail-publish"] {
        let threads = threads_scheduling(niced.child.id(), name);
        assert!(
            !threads.is_empty() && threads.iter().all(|t| *t == (0, (base + 12).min(19))),
            "{name} at nice 12 from the TOML file: {threads:?}"
        );
    }
    niced.stop();
    let (ok, out) = run(&["serve", "--ingest-priority", "25"]);
    assert!(
        !ok && out
            .contains("`25` is not an ingest priority: use `idle` or a nice value from 0 to 19"),
        "{out}"
    );
    std::fs::write(dir.path().join("bad.toml"), "ingest-priority = \"low\"\n").unwrap();
    let bad = dir.path().join("bad.toml");
    let (ok, out) = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert!(
        !ok && out.contains("invalid config file")
            && out.contains("`low` is not an ingest priority"),
        "{out}"
    );
}

#[test]
fn import_loads_ndjson_arrays_and_immuta_downloads_and_lists_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |id: &str, t: u64| {
        format!(
            r#"{{"id":"{id}","dateTime":"{t}","recordType":"sqlQuery","profileId":2,"userId":"k@e.com","success":true}}"#
        )
    };
    let nd = dir.path().join("a.ndjson");
    std::fs::write(
        &nd,
        format!(
            "{}\n{{\"id\":\"bad\",\"dateTime\":\"soon\",\"recordType\":\"x\"}}\n\n{}\n",
            ev("a1", 1),
            ev("a2", 2)
        ),
    )
    .unwrap();
    let arr = dir.path().join("b.json");
    std::fs::write(&arr, format!("[{}, {}]", ev("b1", 3), ev("b2", 4))).unwrap();
    let hits = dir.path().join("c.json");
    std::fs::write(
        &hits,
        format!(
            "{{\"hits\": [{}, {}], \"count\": 2}}",
            ev("c1", 5),
            ev("a1", 1)
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (ok, out) = run(&[
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        nd.to_str().unwrap(),
        arr.to_str().unwrap(),
        hits.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("5 stored, 1 duplicates, 1 rejected"), "{out}");
    assert!(out.contains("a.ndjson: line 2: field `dateTime`"), "{out}");
    let (ok, out) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert!(ok && out.contains("ok: 5 events checked"), "{out}");
}

#[test]
fn import_stores_in_file_order_across_parallel_chunks_and_keeps_the_first_of_a_repeated_id() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |id: &str, user: &str| {
        format!(
            r#"{{"id":"{id}","dateTime":"7","recordType":"sqlQuery","profileId":2,"userId":"{user}","success":true}}"#
        )
    };
    // 400 lines cut into chunks of 3, parsed on several threads: a repeat of an earlier id
    // (with another user), and a rejection, every 50 lines.
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    for i in 0..400 {
        if i % 50 == 49 {
            lines.push(ev(&format!("e{}", i - 40), "repeat@e.com"));
        } else if i % 50 == 25 {
            lines.push(format!(
                r#"{{"id":"bad{i}","dateTime":"soon","recordType":"x"}}"#
            ));
        } else {
            lines.push(ev(&format!("e{i}"), "first@e.com"));
            expected.push(format!("e{i}"));
        }
    }
    let nd = dir.path().join("many.ndjson");
    std::fs::write(&nd, lines.join("\n")).unwrap();
    let data = dir.path().join("data");
    let (ok, out) = run(&[
        "import",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "3",
        nd.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("384 stored, 8 duplicates, 8 rejected"),
        "{out}"
    );
    let rejected: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("many.ndjson: ").nth(1))
        .collect();
    let lines_of: Vec<String> = (0..8).map(|k| format!("line {}: ", k * 50 + 26)).collect();
    assert_eq!(rejected.len(), 8, "{out}");
    for (r, want) in rejected.iter().zip(&lines_of) {
        assert!(r.starts_with(want.as_str()), "{r} should start with {want}");
    }
    let store = trail_store::embedded::EmbeddedStore::open(&data).unwrap();
    let stored = store.scan_blocking(0, 1000).unwrap();
    let ids: Vec<String> = stored
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.document).unwrap();
            assert_eq!(
                v["userId"], "first@e.com",
                "a repeat replaced the first: {v}"
            );
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, expected, "sequence order is file order");
}

#[test]
fn import_checks_uam_events_against_the_catalogue_unless_unknown_types_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |id: &str, payload: &str| {
        format!(
            r#"{{"id":"{id}","tenantId":"t","eventTimestamp":"2024-01-01T00:00:00Z","action":"CREATE","actionStatus":"SUCCESS","actor":{{"id":"a@b.c","profileId":"1"}},"targetType":"APIKEY","targets":[],"auditPayload":{{"type":"{payload}","version":1}}}}"#
        )
    };
    let nd = dir.path().join("uam.ndjson");
    std::fs::write(
        &nd,
        format!(
            "{}\n{}\n",
            ev("known", "ApiKeyCreatedAuditPayload"),
            ev("unknown", "BrandNewAuditPayload")
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (ok, out) = run(&["import", "--data-dir", d, nd.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("1 stored, 0 duplicates, 1 rejected"), "{out}");
    assert!(
        out.contains(
            "line 2: field `auditPayload.type`: unknown event type `BrandNewAuditPayload`"
        ),
        "{out}"
    );
    let (ok, out) = run(&[
        "import",
        "--data-dir",
        d,
        "--accept-unknown-event-types",
        nd.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("1 stored, 1 duplicates, 0 rejected"), "{out}");
}

#[test]
fn users_and_keys_are_managed_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out) = run(&[
        "users",
        "create",
        "--data-dir",
        d,
        "--user-id",
        "ana@example.com",
        "--permission",
        "AUDIT",
        "--owns",
        "3,4",
    ]);
    assert!(
        ok && out.contains("\"profileId\": 1") && out.contains("\"ownedDataSources\""),
        "{out}"
    );
    let (ok, out) = run(&[
        "users",
        "create",
        "--data-dir",
        d,
        "--user-id",
        "x",
        "--permission",
        "ROOT",
    ]);
    assert!(!ok && out.contains("unknown permission `ROOT`"), "{out}");
    let (ok, out) = run(&[
        "keys",
        "create",
        "--data-dir",
        d,
        "--profile-id",
        "1",
        "--name",
        "laptop",
    ]);
    assert!(ok && out.contains("shown once"), "{out}");
    let secret = out.lines().last().unwrap().trim().to_string();
    assert_eq!(secret.len(), 64);
    let (_, listed) = run(&["keys", "list", "--data-dir", d]);
    assert!(
        listed.contains("laptop") && !listed.contains(&secret),
        "listing never shows secrets: {listed}"
    );
    let (ok, out) = run(&["keys", "revoke", "--data-dir", d, "1"]);
    let revoked: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        ok && revoked["revokedMs"].as_i64().is_some_and(|t| t > 0),
        "{out}"
    );
}

#[test]
fn cli_user_and_key_changes_are_self_audited_with_the_operator_as_actor() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (ok, out) = run(&[
        "users",
        "create",
        "--data-dir",
        d,
        "--user-id",
        "bo@example.com",
        "--permission",
        "AUDIT",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&[
        "users",
        "update",
        "1",
        "--data-dir",
        d,
        "--user-id",
        "bo@example.com",
        "--permission",
        "INGEST",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["keys", "create", "--data-dir", d, "--profile-id", "1"]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["keys", "revoke", "--data-dir", d, "1"]);
    assert!(ok, "{out}");

    let store = trail_store::embedded::EmbeddedStore::open(dir.path()).unwrap();
    let events: Vec<serde_json::Value> = store
        .scan_blocking(0, 100)
        .unwrap()
        .iter()
        .map(|e| serde_json::from_str(&e.document).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["auditPayload"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "UserCreatedAuditPayload",
            "UserUpdatedAuditPayload",
            "PermissionAppliedAuditPayload",
            "PermissionRemovedAuditPayload",
            "ApiKeyCreatedAuditPayload",
            "ApiKeyDeletedAuditPayload",
        ],
        "every change made through the CLI is in the log, in order"
    );
    for e in &events {
        assert_eq!(e["actor"]["type"], "SYSTEM_ACTOR", "{e}");
        assert!(
            e["actor"]["id"]
                .as_str()
                .is_some_and(|a| a.starts_with("trail-cli:")),
            "the actor names the tool and the account: {e}"
        );
        assert_eq!(e["tenantId"], "trail", "{e}");
    }
    assert_eq!(events[2]["auditPayload"]["permission"], "INGEST");
    assert_eq!(events[3]["auditPayload"]["permission"], "AUDIT");
    assert_eq!(events[4]["auditPayload"]["apiKeyId"], "1");
    assert_eq!(events[5]["targets"][0]["id"], "1");
}
