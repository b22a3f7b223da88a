//! Trail audits itself: searches (`auditQuery`), key changes (`apiKey`), user and permission
//! changes (`accessUser`), and failed authentications (`authenticate` failures, rate-limited).

use serde_json::{json, Value};
use trail_server::ServerConfig;

use crate::support::*;

fn records_of(s: &TestServer, record_type: &str) -> Value {
    s.admin_get(&format!("/audit?recordType={record_type}&size=1000"))
}

#[test]
fn a_search_is_recorded_as_audit_query_after_its_answer_so_it_never_contains_itself() {
    let s = start();
    load_fixture(&s, 5);
    let first = s.admin_get("/audit?size=100");
    assert_eq!(
        first["count"], 5,
        "the first answer has no record of itself"
    );
    let queries = records_of(&s, "auditQuery");
    // The first search is recorded; the second (this one) is not in its own answer.
    assert_eq!(queries["count"], 1, "{queries}");
    let hit = &queries["hits"][0];
    assert_eq!(hit["recordType"], "auditQuery");
    assert_eq!(hit["userId"], "admin");
    assert_eq!(hit["profileId"], s.admin_profile_id);
    assert_eq!(hit["success"], true);
    let now = trail_server_now();
    let t: i64 = hit["dateTime"].as_str().unwrap().parse().unwrap();
    assert!(
        (now - t).abs() < 60_000,
        "recorded at the time of the search"
    );
    // Now both earlier searches are recorded, and again not this one.
    assert_eq!(records_of(&s, "auditQuery")["count"], 2);
}

#[test]
fn a_refused_search_is_recorded_as_an_unsuccessful_audit_query() {
    let s = start();
    let (profile, nobody) = s.user_with_key("nobody@example.com", &[], &[]);
    assert_eq!(s.get("/audit", &nobody).status, 403);
    let q = s.admin_get(&format!("/audit?recordType=auditQuery&profileId={profile}"));
    assert_eq!(q["count"], 1);
    assert_eq!(q["hits"][0]["success"], false);
    assert_eq!(
        q["facets"]["outcomes"][0]["name"],
        "insufficientAuthorizations"
    );
}

#[test]
fn creating_and_revoking_a_key_writes_api_key_records() {
    let s = start();
    let r = s.send_json("POST", "/v1/keys", &s.admin_key, &json!({"name": "ci"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert_eq!(
        keys(&created),
        ["id", "name", "profileId", "createdMs", "key"]
    );
    assert_eq!(created["profileId"], s.admin_profile_id);
    let key = created["key"].as_str().unwrap();
    assert!(key.len() >= 32);
    assert_eq!(s.get("/v1/me", key).status, 200, "the new key works");
    let id = created["id"].as_str().unwrap();
    let r = s.call(
        "DELETE",
        &format!("/v1/keys/{id}"),
        Some(&s.admin_key),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    let a = records_of(&s, "apiKey");
    assert_eq!(
        a["count"], 2,
        "one for the creation, one for the revocation: {a}"
    );
    for hit in a["hits"].as_array().unwrap() {
        assert_eq!(hit["userId"], "admin");
        assert_eq!(hit["success"], true);
    }
    // The secret is not listed anywhere afterwards.
    let listed = s.admin_get("/v1/keys").to_string();
    assert!(!listed.contains(key));
}

#[test]
fn user_creation_and_permission_changes_are_recorded_as_access_user() {
    let s = start();
    let (profile, _) = s.user_with_key("dana@example.com", &["AUDIT"], &[]);
    let r = s.send_json(
        "PUT",
        &format!("/v1/users/{profile}"),
        &s.admin_key,
        &json!({"userId": "dana@example.com", "name": "Dana", "permissions": ["INGEST"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["permissions"], json!(["INGEST"]));
    // UserCreated + PermissionApplied(INGEST) + PermissionRemoved(AUDIT) are accessUser records.
    let a = records_of(&s, "accessUser");
    assert_eq!(a["count"], 3, "{a}");
    // UserUpdated is listed under the catalogue's legacy type for it.
    assert_eq!(records_of(&s, "externalUserIdChanged")["count"], 1);
}

#[test]
fn failed_authentications_are_recorded_as_authenticate_failures_up_to_the_per_ip_rate() {
    let s = start_with(ServerConfig {
        failed_auth_audit_per_minute: 3,
        ..ServerConfig::default()
    });
    let minute_before = trail_server_now() / 60_000;
    for i in 0..8 {
        let r = s.get("/audit", &format!("wrong-key-{i}"));
        assert_eq!(r.status, 401);
    }
    let r = s.call("GET", "/audit", None, &[], None);
    assert_eq!(r.status, 401);
    let minute_after = trail_server_now() / 60_000;
    let a = records_of(&s, "authenticate");
    let n = a["count"].as_u64().unwrap();
    if minute_before == minute_after {
        assert_eq!(
            n, 3,
            "9 failures from one client in one minute, 3 recorded: {a}"
        );
    } else {
        assert!((3..=6).contains(&n), "a minute boundary passed: {n}");
    }
    for hit in a["hits"].as_array().unwrap() {
        assert_eq!(hit["success"], false);
        assert_eq!(hit["recordType"], "authenticate");
        assert_eq!(hit["userId"], "anonymous");
    }
    assert_eq!(
        a["facets"]["outcomes"],
        json!([{"name": "failure", "count": n.to_string()}])
    );
}

#[test]
fn key_activity_lists_the_callers_own_records_newest_first() {
    let s = start();
    load_fixture(&s, 3);
    let (profile, key) = s.user_with_key("eve@example.com", &["AUDIT"], &[]);
    assert_eq!(s.get("/audit", &key).status, 200);
    assert_eq!(s.get("/audit?size=1", &key).status, 200);
    let r = s.send_json("POST", "/v1/keys", &key, &json!({"name": "second"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.get("/audit/apikey/activity", &key);
    assert_eq!(r.status, 200, "{}", r.text);
    let a = r.json();
    assert_eq!(keys(&a), ["hits", "facets", "minDate", "maxDate", "count"]);
    let types: Vec<&str> = a["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["recordType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["apiKey", "auditQuery", "auditQuery"],
        "newest first"
    );
    for h in a["hits"].as_array().unwrap() {
        assert_eq!(h["profileId"], profile);
    }
    let r = s.get("/audit/apikey/activity?size=1", &key).json();
    assert_eq!(hit_ids(&r).len(), 1);
    assert_eq!(
        r["hits"][0]["recordType"], "auditQuery",
        "the previous activity call"
    );
    let r = s.get("/audit/apikey/activity?recordType=x", &key);
    assert_eq!(
        (r.status, r.json()["parameter"].clone()),
        (400, json!("recordType"))
    );
}

fn trail_server_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
