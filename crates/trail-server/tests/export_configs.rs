//! `/v1/export-configs` over real HTTP: create, read, replace, delete, run on demand, run
//! history; credentials masked; 400s naming the body member in `field`; the permission model.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

fn s3_body() -> Value {
    json!({"name": "to s3", "interval": "EVERY_6_HOURS",
           "target": {"type": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "audit", "prefix": "trail",
                      "region": "us-east-1", "accessKeyId": "AKIDHTTPTEST", "secretAccessKey": "very-secret-value"}})
}

#[test]
fn export_configs_are_managed_over_http_with_credentials_never_echoed() {
    let s = start_with_exports();
    let r = s.send_json("POST", "/v1/export-configs", &s.admin_key, &s3_body());
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        !r.text.contains("very-secret") && !r.text.contains("AKIDHTTPTEST"),
        "{}",
        r.text
    );
    let c = r.json();
    let id = c["id"].as_str().unwrap().to_string();
    assert_eq!(c["target"]["accessKeyId"], "AKID****");
    assert_eq!(c["state"]["exportedThroughSeq"], 0);

    let list = s.admin_get("/v1/export-configs");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains("very-secret"));
    assert_eq!(
        s.admin_get(&format!("/v1/export-configs/{id}"))["name"],
        "to s3"
    );

    let mut body = s3_body();
    body["name"] = json!("renamed");
    body["enabled"] = json!(false);
    let r = s.send_json(
        "PUT",
        &format!("/v1/export-configs/{id}"),
        &s.admin_key,
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json()["name"].clone(), r.json()["enabled"].clone()),
        (json!("renamed"), json!(false))
    );

    let r = s.call(
        "DELETE",
        &format!("/v1/export-configs/{id}"),
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        s.get(&format!("/v1/export-configs/{id}"), &s.admin_key)
            .status,
        404
    );
}

#[test]
fn bad_export_configs_get_a_400_naming_the_field_and_change_nothing() {
    let s = start_with_exports();
    let cases = [
        (
            json!({"name": "x", "interval": "CUSTOM", "target": {"type": "directory", "path": "/tmp/x"}}),
            "customIntervalSeconds",
        ),
        (
            json!({"name": "x", "interval": "EVERY_2_HOURS", "target": {"type": "directory", "path": "relative"}}),
            "target.path",
        ),
        (
            json!({"name": "x", "interval": "EVERY_2_HOURS", "target": {"type": "directory", "path": "/tmp/x", "prefix": "../up"}}),
            "target.prefix",
        ),
        (
            json!({"name": "x", "interval": "EVERY_2_HOURS", "target": {"type": "directory", "path": "/tmp/x"}, "filter": {"outcome": ["bogus"]}}),
            "filter.outcome[0]",
        ),
        (
            json!({"name": "", "interval": "EVERY_2_HOURS", "target": {"type": "directory", "path": "/tmp/x"}}),
            "name",
        ),
    ];
    for (body, field) in cases {
        let r = s.send_json("POST", "/v1/export-configs", &s.admin_key, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["field"], field, "{}", r.text);
        assert!(r.json().get("parameter").is_none(), "{}", r.text);
    }
    let r = s.send_json(
        "POST",
        "/v1/export-configs",
        &s.admin_key,
        &json!({"name": "x", "interval": "HOURLY"}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().contains("interval"),
        "{}",
        r.text
    );
    assert_eq!(s.admin_get("/v1/export-configs"), json!([]));
}

#[test]
fn auditors_read_and_run_exports_but_only_admins_change_them() {
    let s = start_with_exports();
    let out = tempfile::tempdir().unwrap();
    load_fixture(&s, 40);
    let (_, auditor) = s.user_with_key("auditor@example.com", &["AUDIT"], &[]);
    let (_, ingester) = s.user_with_key("ingest@example.com", &["INGEST"], &[]);
    let body = json!({"name": "disk", "interval": "EVERY_24_HOURS", "maxEventsPerObject": 25,
                      "target": {"type": "directory", "path": out.path().to_str().unwrap()}});
    let r = s.send_json("POST", "/v1/export-configs", &auditor, &body);
    assert_eq!(
        (r.status, r.json()["permission"].clone()),
        (403, json!("ADMIN"))
    );
    assert_eq!(s.get("/v1/export-configs", &ingester).status, 403);
    let r = s.send_json("POST", "/v1/export-configs", &s.admin_key, &body);
    let id = r.json()["id"].as_str().unwrap().to_string();

    let r = s.call(
        "POST",
        &format!("/v1/export-configs/{id}/run"),
        Some(&auditor),
        &[],
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "RUNNING");
    let start = Instant::now();
    let run = loop {
        let runs = s
            .get(&format!("/v1/export-configs/{id}/runs"), &auditor)
            .json();
        if runs[0]["status"] != "RUNNING" {
            break runs[0].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "run did not finish: {runs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    // 40 fixture events plus Trail's own audit records written before the run started.
    let events = run["events"].as_u64().unwrap();
    assert!(events >= 40, "{run}");
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(
        tasks.len() as u64,
        events.div_ceil(25) + 1,
        "objects of 25 plus the manifest"
    );
    assert!(tasks
        .iter()
        .all(|t| t["status"] == "SUCCEEDED" && t["attempts"] == 1));
    let manifest = out.path().join(run["manifest"].as_str().unwrap());
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    assert_eq!(m["events"], run["events"]);
    assert_eq!(s.get("/v1/export-configs/nope/runs", &auditor).status, 404);
}

#[test]
fn without_an_export_service_the_endpoints_say_so() {
    let s = start();
    let r = s.get("/v1/export-configs", &s.admin_key);
    assert_eq!(r.status, 404);
    assert!(r.text.contains("not enabled"), "{}", r.text);
}
