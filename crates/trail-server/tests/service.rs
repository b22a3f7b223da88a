//! The service around the endpoints: probes, the OpenAPI document, JSON 404/405, request ids,
//! and graceful shutdown that leaves the store closed and reopenable.

use serde_json::Value;
use trail_model::SearchQuery;
use trail_server::ServerConfig;
use trail_store::embedded::EmbeddedStore;

use crate::support::*;

#[test]
fn healthz_and_readyz_answer_without_a_key() {
    let s = start();
    let r = s.call("GET", "/healthz", None, &[], None);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"status": "ok"}))
    );
    load_fixture(&s, 4);
    let r = s.call("GET", "/readyz", None, &[], None);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"status": "ready", "events": 4}))
    );
}

#[test]
fn the_openapi_document_parses_and_lists_every_path_with_its_methods() {
    let s = start();
    let r = s.call("GET", "/openapi.json", None, &[], None);
    assert_eq!(r.status, 200);
    let doc: Value = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected: [(&str, &[&str]); 20] = [
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/openapi.json", &["get"]),
        ("/audit", &["get"]),
        ("/audit/{recordId}", &["get"]),
        ("/audit/apikey/activity", &["get"]),
        ("/audit/queries/dataSource/{dataSourceId}/mine", &["get"]),
        ("/v1/events", &["post", "get"]),
        ("/v1/events/{id}", &["get"]),
        ("/v1/event-types", &["get"]),
        ("/v1/keys", &["get", "post"]),
        ("/v1/keys/{id}", &["delete"]),
        ("/v1/users", &["get", "post"]),
        ("/v1/users/{profileId}", &["get", "put"]),
        ("/v1/me", &["get"]),
        ("/v1/export-configs", &["get", "post"]),
        ("/v1/export-configs/{id}", &["get", "put", "delete"]),
        ("/v1/export-configs/{id}/run", &["post"]),
        ("/v1/export-configs/{id}/runs", &["get"]),
        ("/v1/export", &["get"]),
    ];
    assert_eq!(
        paths.len(),
        expected.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (path, methods) in expected {
        let item = &paths[path];
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path} is documented");
        }
    }
    let params: Vec<&str> = paths["/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "dataSourceId",
        "projectId",
        "profileId",
        "recordType",
        "outcome",
        "minDate",
        "maxDate",
        "blobId",
        "purpose",
        "offset",
        "size",
        "sortField",
        "sortOrder",
    ] {
        assert!(params.contains(&name), "GET /audit documents {name}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "AuditResponse",
        "Hit",
        "ErrorBody",
        "IngestResponse",
        "UserView",
        "KeyView",
        "CreatedKey",
        "ConfigInput",
        "ExportConfigView",
        "TargetSpec",
        "RunRecord",
        "TaskRecord",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert!(doc["components"]["securitySchemes"]["apiKey"].is_object());
    let ingest_400 = &paths["/v1/events"]["post"]["responses"]["400"];
    assert!(ingest_400["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .ends_with("ErrorBody"));
    // The export-config body is documented as the type the handler parses, with its members.
    let create = &paths["/v1/export-configs"]["post"];
    assert!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("ConfigInput")
    );
    let input = schemas["ConfigInput"]["properties"].as_object().unwrap();
    for name in [
        "name",
        "interval",
        "customIntervalSeconds",
        "enabled",
        "target",
        "filter",
        "maxEventsPerObject",
    ] {
        assert!(input.contains_key(name), "ConfigInput documents {name}");
    }
    assert!(create["responses"]["201"].is_object() && create["responses"]["400"].is_object());
    assert!(paths["/v1/export-configs/{id}/run"]["post"]["responses"]["409"].is_object());
}

#[test]
fn unknown_routes_and_methods_get_json_errors_and_every_response_a_request_id() {
    let s = start();
    let r = s.call("GET", "/nope", None, &[], None);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, Value::from("not_found"))
    );
    assert!(r.header("x-request-id").is_some_and(|v| v.len() == 36));
    let r = s.call("DELETE", "/audit", None, &[], None);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (405, Value::from("method_not_allowed"))
    );
    let r = s.call(
        "GET",
        "/healthz",
        None,
        &[("X-Request-Id", "abc-123")],
        None,
    );
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
}

/// The phases named in a `Server-Timing` value, each with its milliseconds.
fn server_timing(value: &str) -> Vec<(String, f64)> {
    value
        .split(',')
        .map(|entry| {
            let (name, dur) = entry.trim().split_once(";dur=").expect("name;dur=ms");
            (name.to_string(), dur.parse().expect("milliseconds"))
        })
        .collect()
}

#[test]
fn responses_say_their_server_time_and_searches_each_phase_in_server_timing() {
    let s = start();
    load_fixture(&s, 20);
    let r = s.call("GET", "/healthz", None, &[], None);
    let phases = server_timing(r.header("server-timing").expect("Server-Timing"));
    assert_eq!(phases.len(), 1);
    assert_eq!(phases[0].0, "total");

    let r = s.get("/audit?size=5", &s.admin_key.clone());
    assert_eq!(r.status, 200);
    let phases = server_timing(r.header("server-timing").expect("Server-Timing"));
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["auth", "own", "search", "render", "audit", "total"]);
    let total = phases.last().unwrap().1;
    let parts: f64 = phases[..5].iter().map(|(_, ms)| ms).sum();
    assert!(
        phases.iter().all(|(_, ms)| *ms >= 0.0) && parts <= total + 0.01,
        "the phases fit in the total: {phases:?}"
    );

    let r = s.call(
        "POST",
        "/v1/events",
        Some(&s.admin_key.clone()),
        &[("Content-Type", "application/json")],
        Some(fixture(1)[0].doc().to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let phases = server_timing(r.header("server-timing").expect("Server-Timing"));
    let names: Vec<&str> = phases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["auth", "body", "store", "total"]);
}

#[test]
fn graceful_shutdown_closes_the_store_so_it_reopens_with_every_acknowledged_event() {
    let s = start_with(ServerConfig::default());
    load_fixture(&s, 25);
    let dir = s.shutdown();
    let store = EmbeddedStore::open(dir.path()).expect("the data directory is released");
    let answer = store
        .search_blocking(&SearchQuery {
            size: 0,
            ..SearchQuery::new()
        })
        .unwrap();
    assert_eq!(answer.count, 25);
}
