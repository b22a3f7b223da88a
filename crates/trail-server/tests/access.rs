//! Who may do what: 401 for missing, unknown and revoked keys (both header forms accepted),
//! 403 naming the permission, and the data owner's scoped view of `GET /audit`.

use serde_json::{json, Value};

use crate::support::*;

#[test]
fn missing_unknown_and_revoked_keys_get_401_json_saying_how_to_pass_a_key() {
    let s = start();
    let (_, key) = s.user_with_key("auditor@example.com", &["AUDIT"], &[]);
    let r = s.call("GET", "/audit", None, &[], None);
    assert_eq!(r.status, 401);
    let e = r.json();
    assert_eq!(e["error"], "unauthorized");
    assert!(e["message"].as_str().unwrap().contains("Authorization"));
    let r = s.get("/audit", "not-a-key-at-all");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");

    assert_eq!(s.get("/audit", &key).status, 200);
    let keys = s.admin_get("/v1/keys");
    let id = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "auditor@example.com key")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(
        "DELETE",
        &format!("/v1/keys/{id}"),
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json()["revokedMs"].is_i64());
    let r = s.get("/audit", &key);
    assert_eq!(r.status, 401, "a revoked key no longer works");
    assert_eq!(r.json()["error"], "unauthorized");
}

#[test]
fn raw_and_bearer_authorization_headers_are_both_accepted() {
    let s = start();
    let raw = s.call("GET", "/v1/me", Some(&s.admin_key), &[], None);
    assert_eq!(raw.status, 200);
    let bearer = format!("Bearer {}", s.admin_key);
    let r = s.call("GET", "/v1/me", Some(&bearer), &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["user"]["userId"], "admin");
    let r = s.call("GET", "/v1/me", Some("Bearer "), &[], None);
    assert_eq!(r.status, 401);
}

#[test]
fn missing_permissions_get_403_naming_the_permission() {
    let s = start();
    let (_, nobody) = s.user_with_key("nobody@example.com", &[], &[]);
    let r = s.get("/audit", &nobody);
    assert_eq!(r.status, 403);
    let e = r.json();
    assert_eq!(
        (e["error"].clone(), e["permission"].clone()),
        (json!("forbidden"), json!("AUDIT"))
    );
    assert!(e["message"].as_str().unwrap().contains("AUDIT"));

    let r = s.call("POST", "/v1/events", Some(&nobody), &[], Some(b"{}"));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["permission"], "INGEST");

    for (method, path) in [("GET", "/v1/users"), ("GET", "/v1/users/1")] {
        let r = s.call(method, path, Some(&nobody), &[], None);
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(r.json()["permission"], "ADMIN");
    }
    let r = s.send_json("POST", "/v1/users", &nobody, &json!({"userId": "x"}));
    assert_eq!(
        (r.status, r.json()["permission"].clone()),
        (403, json!("ADMIN"))
    );
    let r = s.get("/audit/ev-1", &nobody);
    assert_eq!(r.status, 403);
    // What every authenticated user may do.
    assert_eq!(s.get("/v1/me", &nobody).status, 200);
    assert_eq!(s.get("/audit/apikey/activity", &nobody).status, 200);
}

#[test]
fn a_data_owner_sees_only_its_data_sources_in_hits_count_dates_and_every_facet() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let (_, owner) = s.user_with_key("owner@example.com", &[], &[1]);
    let r = s.get(&format!("/audit?size=100&{BEFORE_NOW}"), &owner);
    assert_eq!(r.status, 200, "{}", r.text);
    let a = r.json();
    let mine: Vec<&Spec> = specs.iter().filter(|x| x.ds.0 == 1).collect();
    assert_eq!(hit_ids(&a), expected_desc(&specs, |x| x.ds.0 == 1));
    assert_eq!(a["count"], mine.len() as u64);
    for hit in a["hits"].as_array().unwrap() {
        assert_eq!(hit["dataSourceName"], "Claims");
    }
    let f = &a["facets"];
    assert_eq!(
        f["datasources"],
        json!([{"name": "Claims", "id": 1, "count": mine.len().to_string()}])
    );
    // Users, record types, outcomes and projects: counted over the owner's records only.
    let count_of = |facet: &str, matches: &dyn Fn(&Value) -> bool| -> u64 {
        f[facet]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| matches(e))
            .map(|e| e["count"].as_str().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(count_of("users", &|_| true), mine.len() as u64);
    assert_eq!(count_of("recordTypes", &|_| true), mine.len() as u64);
    assert_eq!(count_of("outcomes", &|_| true), mine.len() as u64);
    for rt in f["recordTypes"].as_array().unwrap() {
        let name = rt["name"].as_str().unwrap();
        let n = mine.iter().filter(|x| x.record_type == name).count();
        assert_eq!(rt["count"], n.to_string().as_str(), "record type {name}");
    }
    let project_total = mine.iter().filter(|x| x.project.is_some()).count() as u64;
    assert_eq!(count_of("projects", &|_| true), project_total);
    let newest = mine.iter().map(|x| x.time).max().unwrap();
    let oldest = mine.iter().map(|x| x.time).min().unwrap();
    assert_eq!(a["maxDate"], trail_model::timefmt::format_iso_ms(newest));
    assert_eq!(a["minDate"], trail_model::timefmt::format_iso_ms(oldest));

    // Asking for another source explicitly yields nothing rather than leaking it.
    let other = s
        .get(&format!("/audit?dataSourceId=2&{BEFORE_NOW}"), &owner)
        .json();
    assert_eq!(other["count"], 0);
    assert_eq!(other["facets"]["datasources"], json!([]));

    // One record: visible inside the scope, 404 outside it.
    assert_eq!(
        s.get("/audit/ev-0", &owner).status,
        200,
        "ev-0 is in data source 1"
    );
    let r = s.get("/audit/ev-1", &owner);
    assert_eq!(r.status, 404, "ev-1 is in data source 2");
    assert_eq!(r.json()["error"], "not_found");
}
