//! Keys and users: `/v1/keys`, `/v1/users`, `/v1/me`, and the bootstrap administrator.

use std::sync::Arc;

use serde_json::json;
use trail_server::ensure_bootstrap_admin;
use trail_store::embedded::EmbeddedStore;
use trail_store::MetadataStore;

use crate::support::*;

#[test]
fn users_are_created_read_listed_and_replaced_by_an_admin() {
    let s = start();
    let r = s.send_json(
        "POST",
        "/v1/users",
        &s.admin_key,
        &json!({"userId": "kim@example.com", "email": "kim@example.com", "name": "Kim",
                "permissions": ["AUDIT"], "ownedDataSources": [4, 2]}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let kim = r.json();
    assert_eq!(
        keys(&kim),
        [
            "profileId",
            "userId",
            "email",
            "name",
            "permissions",
            "ownedDataSources",
            "createdMs"
        ]
    );
    assert_eq!(kim["permissions"], json!(["AUDIT"]));
    assert_eq!(kim["ownedDataSources"], json!([2, 4]));
    let id = kim["profileId"].as_i64().unwrap();
    assert_eq!(s.admin_get(&format!("/v1/users/{id}")), kim);
    let all = s.admin_get("/v1/users");
    assert_eq!(all.as_array().unwrap().len(), 2, "admin and kim");

    let r = s.send_json(
        "PUT",
        &format!("/v1/users/{id}"),
        &s.admin_key,
        &json!({"userId": "kim@example.com", "name": "Kim Lee", "permissions": ["AUDIT", "INGEST"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let kim2 = r.json();
    assert_eq!(kim2["name"], "Kim Lee");
    assert_eq!(
        kim2["ownedDataSources"],
        json!([]),
        "PUT replaces the whole user"
    );
    assert_eq!(kim2["createdMs"], kim["createdMs"]);

    let r = s.send_json(
        "POST",
        "/v1/users",
        &s.admin_key,
        &json!({"userId": "kim@example.com"}),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (409, json!("conflict"))
    );
    let r = s.send_json(
        "POST",
        "/v1/users",
        &s.admin_key,
        &json!({"userId": "x", "permissions": ["ROOT"]}),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("bad_request"))
    );
    let r = s.send_json(
        "POST",
        "/v1/users",
        &s.admin_key,
        &json!({"userId": "x", "colour": 1}),
    );
    assert_eq!(r.status, 400, "unknown members are refused");
    assert_eq!(s.get("/v1/users/999", &s.admin_key).status, 404);
    let r = s.get("/v1/users/abc", &s.admin_key);
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (400, json!("bad_request"))
    );
}

#[test]
fn removing_the_last_admin_is_refused() {
    let s = start();
    let r = s.send_json(
        "PUT",
        &format!("/v1/users/{}", s.admin_profile_id),
        &s.admin_key,
        &json!({"userId": "admin", "permissions": ["AUDIT"]}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        s.get("/v1/users", &s.admin_key).status,
        200,
        "still an admin"
    );
}

#[test]
fn non_admins_create_list_and_revoke_only_their_own_keys() {
    let s = start();
    let (me, key) = s.user_with_key("pat@example.com", &["AUDIT"], &[]);
    let r = s.send_json("POST", "/v1/keys", &key, &json!({"name": "laptop"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["profileId"], me);
    let r = s.send_json(
        "POST",
        "/v1/keys",
        &key,
        &json!({"name": "theirs", "profileId": s.admin_profile_id}),
    );
    assert_eq!(
        (r.status, r.json()["permission"].clone()),
        (403, json!("ADMIN"))
    );

    let mine = s.get("/v1/keys", &key).json();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 2, "the key made for pat and pat's own");
    assert!(mine.iter().all(|k| k["profileId"] == me));
    assert!(
        mine.iter().all(|k| k.get("key").is_none()),
        "secrets are never listed"
    );
    let all = s.admin_get("/v1/keys");
    assert_eq!(all.as_array().unwrap().len(), 3, "the admin sees every key");

    let admin_key_id = all.as_array().unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(
        "DELETE",
        &format!("/v1/keys/{admin_key_id}"),
        Some(&key),
        &[],
        None,
    );
    assert_eq!(r.status, 404, "another user's key is not found for pat");
    assert_eq!(
        s.get("/v1/me", &s.admin_key).status,
        200,
        "and is still live"
    );
    let own_id = mine[1]["id"].as_str().unwrap();
    let r = s.call(
        "DELETE",
        &format!("/v1/keys/{own_id}"),
        Some(&key),
        &[],
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["revokedMs"].is_i64());
    let r = s.send_json("POST", "/v1/keys", &key, &json!({"name": ""}));
    assert_eq!(r.status, 400);
}

#[test]
fn me_returns_the_caller_and_the_key_it_used() {
    let s = start();
    let me = s.admin_get("/v1/me");
    assert_eq!(keys(&me), ["user", "key"]);
    assert_eq!(me["user"]["userId"], "admin");
    assert_eq!(
        me["user"]["permissions"],
        json!(["AUDIT", "INGEST", "ADMIN"])
    );
    assert_eq!(me["key"]["profileId"], s.admin_profile_id);
    assert_eq!(me["key"]["name"], "bootstrap");
    assert!(me["key"]["revokedMs"].is_null());
}

#[test]
fn the_bootstrap_admin_is_created_once_and_can_use_an_operator_chosen_key() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let meta: Arc<dyn MetadataStore> = Arc::new(store.metadata());
    let chosen = "0123456789abcdef0123456789abcdef-chosen";
    let first = rt
        .block_on(ensure_bootstrap_admin(meta.as_ref(), "acme", Some(chosen)))
        .unwrap()
        .expect("created on an empty store");
    assert_eq!(first.secret, chosen);
    let (user, key) = rt.block_on(meta.authenticate(chosen)).unwrap().unwrap();
    assert_eq!(user.user_id, "admin");
    assert_eq!(key.id, first.key_id);
    assert_eq!(user.profile_id, first.profile_id);
    assert!(
        rt.block_on(ensure_bootstrap_admin(meta.as_ref(), "acme", None))
            .unwrap()
            .is_none(),
        "not again once users exist"
    );
    // The creation comes with its self-audit events, by the server as the actor.
    let logged: Vec<serde_json::Value> = first
        .self_audit
        .iter()
        .map(|e| serde_json::from_str(&e.document).unwrap())
        .collect();
    let kinds: Vec<&str> = logged
        .iter()
        .map(|e| e["auditPayload"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["UserCreatedAuditPayload", "ApiKeyCreatedAuditPayload"],
        "{logged:?}"
    );
    assert_eq!(logged[1]["auditPayload"]["apiKeyId"], first.key_id.as_str());
    for e in &logged {
        assert_eq!(e["tenantId"], "acme");
        assert_eq!(e["actor"]["type"], "SYSTEM_ACTOR");
        assert!(e["actor"]["id"]
            .as_str()
            .is_some_and(|a| a.starts_with("trail-serve:")));
    }
    let too_short = tempfile::tempdir().unwrap();
    let store2 = EmbeddedStore::open(too_short.path()).unwrap();
    let meta2: Arc<dyn MetadataStore> = Arc::new(store2.metadata());
    assert!(rt
        .block_on(ensure_bootstrap_admin(
            meta2.as_ref(),
            "acme",
            Some("short")
        ))
        .is_err());
    assert!(
        rt.block_on(meta2.list_users()).unwrap().is_empty(),
        "a refused key leaves no half-made admin behind"
    );
    drop((store, store2));
}
