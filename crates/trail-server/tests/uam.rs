//! The Universal Audit Model end to end: validation on ingest (each error class with its exact
//! body), unknown event types on request, the catalogue endpoint, one event in either form,
//! query events indexed by every data source they touched, and the native search with its
//! cursor (including a property test with concurrent appends).

use proptest::prelude::*;
use serde_json::{json, Value};
use trail_server::ServerConfig;

use crate::support::*;

/// A valid UAM event of tenant `t1`.
fn uam(id: &str, name: &str, status: &str) -> Value {
    json!({"id": id, "tenantId": "t1", "eventTimestamp": "2022-03-01T10:00:00.000Z",
        "receivedTimestamp": "2022-03-01T10:00:01.000Z", "action": "CREATE", "actionStatus": status,
        "actor": {"type": "USER_ACTOR", "id": "ana@example.com", "name": "Ana", "identityProvider": "bim", "profileId": "7"},
        "sessionId": "s-1", "requestId": format!("r-{id}"), "targetType": "APIKEY", "targets": [], "relatedResources": [],
        "auditPayload": {"type": format!("{name}AuditPayload"), "version": 1}})
}

fn query_event(id: &str, tables: &[(i64, &str)], text: &str, status: &str) -> Value {
    let targets: Vec<Value> = tables
        .iter()
        .map(|(i, n)| json!({"type": "DATASOURCE", "id": i.to_string(), "name": n}))
        .collect();
    json!({"id": id, "tenantId": "t1", "eventTimestamp": "2022-03-02T10:00:00.000Z",
        "receivedTimestamp": "2022-03-02T12:00:00.000Z", "action": "QUERY", "actionStatus": status,
        "actionStatusReason": if status == "SUCCESS" { Value::Null } else { json!("Access denied: masked column SSN") },
        "actor": {"type": "USER_ACTOR", "id": "bo@example.com", "profileId": 8},
        "targetType": "DATASOURCE", "targets": targets, "relatedResources": [],
        "auditPayload": {"type": "QueryAuditPayload", "version": 1, "queryId": format!("q-{id}"),
            "queryText": text, "technologyContext": {"type": "DatabricksContext", "clusterId": "c1",
            "account": {"username": "bo"}}, "objectsAccessed": [], "columnsAccessed": [],
            "policySet": {"masked": ["ssn"]}, "entitlements": {"groups": ["analysts"]},
            "durationMs": 40, "rowsProduced": 0}})
}

fn post(s: &TestServer, body: &Value) -> (u16, Value) {
    let r = s.send_json("POST", "/v1/events", &s.admin_key, body);
    (r.status, r.json())
}

#[test]
fn each_validation_error_class_is_refused_with_its_exact_body_and_nothing_is_stored() {
    let s = start();
    let set = |path: &str, v: Value| {
        let mut e = uam("e1", "ApiKeyCreated", "SUCCESS");
        *e.pointer_mut(path).unwrap() = v;
        e
    };
    let remove = |field: &str| {
        let mut e = uam("e1", "ApiKeyCreated", "SUCCESS");
        e.as_object_mut().unwrap().remove(field);
        e
    };
    let mut logout = uam("e1", "UserLogout", "SUCCESS");
    logout["auditPayload"]["logoutReason"] = json!("TIMEOUT");
    let mut domain = uam("e1", "DomainPermissionsUpdated", "SUCCESS");
    domain["auditPayload"]["updateType"] = json!("ADDED");
    let mut query = query_event("e1", &[(1, "Claims")], "SELECT 1", "SUCCESS");
    query["auditPayload"]["queryText"] = json!(7);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("missing envelope member", remove("action"), "action",
            "required in every UAM event (a string, e.g. CREATE)"),
        ("envelope member of the wrong type", set("/tenantId", json!(7)), "tenantId",
            "must be a string, got a number"),
        ("action not upper case", set("/action", json!("create")), "action",
            "`create` must be upper case (letters, digits, _), e.g. CREATE"),
        ("actor without id", set("/actor/id", Value::Null), "actor.id",
            "required (the user id or email of who acted, a string)"),
        ("profileId neither integer nor digits", set("/actor/profileId", json!("seven")), "actor.profileId",
            "`seven` is not an integer id"),
        ("timestamp not ISO-8601", set("/eventTimestamp", json!("2022-02-30T10:00:00Z")), "eventTimestamp",
            "`2022-02-30T10:00:00Z` is not an ISO-8601 timestamp with a time zone"),
        ("received timestamp without zone", set("/receivedTimestamp", json!("2022-03-01 10:00")), "receivedTimestamp",
            "`2022-03-01 10:00` is not an ISO-8601 timestamp with a time zone"),
        ("unknown action status", set("/actionStatus", json!("DONE")), "actionStatus",
            "`DONE` is not one of SUCCESS, FAILURE, UNAUTHORIZED"),
        ("unknown event type", set("/auditPayload/type", json!("FancyNewThingAuditPayload")), "auditPayload.type",
            "unknown event type `FancyNewThingAuditPayload`; GET /v1/event-types lists the known ones (a server started with --accept-unknown-event-types stores unknown types and flags them)"),
        ("missing payload version", set("/auditPayload/version", Value::Null), "auditPayload.version",
            "required (a positive integer, e.g. 1)"),
        ("unknown payload version", set("/auditPayload/version", json!(2)), "auditPayload.version",
            "version 2 of ApiKeyCreatedAuditPayload is not known; known: 1"),
        ("enum value not allowed (logoutReason)", logout, "auditPayload.logoutReason",
            "\"TIMEOUT\" is not allowed for UserLogout; allowed: EXPIRATION, IDP_INITIATED, USER_LOGOUT_TRIGGERED"),
        ("enum value not allowed (updateType)", domain, "auditPayload.updateType",
            "\"ADDED\" is not allowed for DomainPermissionsUpdated; allowed: GRANTED, REVOKED"),
        ("query payload of the wrong shape", query, "auditPayload",
            "not a valid QueryAuditPayload: invalid type: integer `7`, expected a string"),
    ];
    for (class, event, field, message) in cases {
        let good = uam("ok-1", "ApiKeyDeleted", "SUCCESS");
        let (status, body) = post(&s, &json!([good, event]));
        assert_eq!(status, 400, "{class}: {body}");
        assert_eq!(
            body,
            json!({"error": "invalid_event", "index": 1, "field": field,
                "message": format!("{message}; nothing of this request was stored")}),
            "{class}"
        );
    }
    let r = s.call("GET", "/readyz", None, &[], None);
    assert_eq!(
        r.json()["events"],
        0,
        "no batch was stored, not even its valid event"
    );
}

#[test]
fn profile_id_is_accepted_as_string_or_integer_and_rendered_as_integer_in_legacy() {
    let s = start();
    let mut a = uam("p-str", "ApiKeyCreated", "SUCCESS");
    a["actor"]["profileId"] = json!("12");
    let mut b = uam("p-int", "ApiKeyCreated", "SUCCESS");
    b["actor"]["profileId"] = json!(12);
    let body = s.ingest(&[a, b]);
    assert_eq!(body["stored"], 2);
    let hits = s.admin_get(&format!("/audit?profileId=12&{BEFORE_NOW}"));
    assert_eq!(hits["count"], 2);
    assert_eq!(hits["hits"][0]["profileId"], 12);
}

#[test]
fn unknown_event_types_are_stored_and_flagged_only_when_the_server_accepts_them() {
    let s = start_with(ServerConfig {
        accept_unknown_event_types: true,
        ..ServerConfig::default()
    });
    let (status, body) = post(
        &s,
        &json!([
            uam("u-1", "FancyNewThing", "SUCCESS"),
            uam("k-1", "ApiKeyCreated", "SUCCESS")
        ]),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"stored": 2, "duplicates": 0, "firstSeq": 1, "lastSeq": 2, "unknownEventTypes": 1})
    );
    let r = s.get("/v1/events/u-1", &s.admin_key);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-trail-unknown-event-type"),
        Some("FancyNewThingAuditPayload")
    );
    let r = s.get("/v1/events/k-1", &s.admin_key);
    assert_eq!(r.header("x-trail-unknown-event-type"), None);
    // GET /audit lists it under its name
    assert_eq!(s.admin_get("/audit/u-1")["recordType"], "FancyNewThing");
    // Still checked otherwise: a bad envelope is refused even with an unknown type.
    let mut bad = uam("u-2", "FancyNewThing", "SUCCESS");
    bad["action"] = Value::Null;
    let (status, body) = post(&s, &bad);
    assert_eq!((status, body["field"].clone()), (400, json!("action")));
}

#[test]
fn the_catalogue_endpoint_serves_every_event_with_members_and_resolutions() {
    let s = start();
    let r = s.get("/v1/event-types", &s.admin_key);
    assert_eq!(r.status, 200);
    let v = r.json();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), trail_model::catalog::CATALOG.len());
    let auth = events
        .iter()
        .find(|e| e["name"] == "UserAuthenticated")
        .unwrap();
    assert_eq!(auth["legacyRecordTypes"], json!(["authenticate"]));
    assert_eq!(
        auth["members"][0]["allowed"],
        json!(["OAuth", "OpenId", "SAML", "apiKey", "password"])
    );
    assert!(v["legacyOnlyRecordTypes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["recordType"] == "switchCurrentProject"));
    assert!(v["resolutions"].as_array().unwrap().len() >= 2);
    assert_eq!(
        s.call("GET", "/v1/event-types", None, &[], None).status,
        401
    );
}

#[test]
fn one_event_comes_back_byte_for_byte_as_uam_or_as_a_legacy_hit() {
    let s = start();
    let doc = concat!(
        r#"{"id":"b-1",  "tenantId":"t1","eventTimestamp":"2022-03-01T10:00:00.000Z","action":"REQUEST", "#,
        r#""actionStatus":"SUCCESS","actor":{"id":"ana@example.com","profileId":"7"},"targetType":"PROJECT", "#,
        r#""targets":[{"type":"PROJECT","id":"4","name":"Fraud","model":{"type":"PROJECT"}}], "#,
        r#""auditPayload":{"type":"SubscriptionRequestedAuditPayload","version":1,"modelType":"PROJECT"}}"#
    );
    let legacy = r#"{"id":"l-1","dateTime":"1646128800000","dataSourceId":3,"dataSourceName":"Census","recordType":"dataSourceSave","userId":"bo@example.com","profileId":8,"success":false,"failureReason":"nope"}"#;
    let r = s.call(
        "POST",
        "/v1/events",
        Some(&s.admin_key),
        &[("Content-Type", "application/x-ndjson")],
        Some(format!("{doc}\n{legacy}\n").as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    let r = s.get("/v1/events/b-1", &s.admin_key);
    assert_eq!(
        (r.status, r.text.as_str()),
        (200, doc),
        "the stored bytes, unchanged"
    );
    assert_eq!(s.get("/v1/events/b-1?format=uam", &s.admin_key).text, doc);
    let hit = s.admin_get("/v1/events/b-1?format=legacy");
    assert_eq!(hit["recordType"], "projectSubscription");
    assert_eq!(hit["projectName"], "Fraud");
    assert_eq!(hit["profileId"], 7);
    assert_eq!(hit["dateTime"], "1646128800000");

    let converted = s.admin_get("/v1/events/l-1");
    assert_eq!(
        converted["auditPayload"]["type"],
        "DatasourceUpdatedAuditPayload"
    );
    assert_eq!(
        converted["auditPayload"]["legacyRecordType"],
        "dataSourceSave"
    );
    assert_eq!(converted["actionStatus"], "FAILURE");
    assert_eq!(converted["actionStatusReason"], "nope");
    assert_eq!(converted["eventTimestamp"], "2022-03-01T10:00:00.000Z");
    assert_eq!(
        converted["targets"],
        json!([{"type": "DATASOURCE", "id": "3", "name": "Census"}])
    );
    assert_eq!(
        s.admin_get("/v1/events/l-1?format=legacy")["recordType"],
        "dataSourceSave"
    );

    let r = s.get("/v1/events/b-1?format=xml", &s.admin_key);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["parameter"], "format");
    assert_eq!(s.get("/v1/events/nope", &s.admin_key).status, 404);
}

#[test]
fn one_query_touching_several_tables_matches_each_of_its_data_sources() {
    let s = start();
    s.ingest(&[
        query_event(
            "join",
            &[(11, "Claims"), (12, "Members"), (13, "Providers")],
            "SELECT * FROM claims JOIN members JOIN providers",
            "SUCCESS",
        ),
        query_event(
            "solo",
            &[(12, "Members")],
            "SELECT * FROM members",
            "SUCCESS",
        ),
    ]);
    for (ds, expected) in [
        (11, vec!["join"]),
        (12, vec!["join", "solo"]),
        (13, vec!["join"]),
    ] {
        let a = s.admin_get(&format!(
            "/audit?dataSourceId={ds}&sortOrder=asc&{BEFORE_NOW}"
        ));
        assert_eq!(hit_ids(&a), expected, "GET /audit?dataSourceId={ds}");
        let page = s.admin_get(&format!("/v1/events?dataSourceId={ds}"));
        assert_eq!(ids(&page), expected, "GET /v1/events?dataSourceId={ds}");
    }
    let a = s.admin_get(&format!("/audit?dataSourceId=11&{BEFORE_NOW}"));
    assert_eq!(a["hits"][0]["recordType"], "DatabricksQuery");
    assert_eq!(a["hits"][0]["dataSourceName"], "Claims");
    let ds_facet: Vec<i64> = a["facets"]["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ds_facet,
        vec![11, 12, 13],
        "the one event counts for each of its data sources"
    );
}

fn ids(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn native_search_filters_on_uam_members_and_free_text() {
    let s = start();
    let mut other_tenant = uam("k-2", "ApiKeyDeleted", "SUCCESS");
    other_tenant["tenantId"] = json!("t2");
    other_tenant["sessionId"] = json!("s-2");
    s.ingest(&[
        uam("k-1", "ApiKeyCreated", "SUCCESS"),
        other_tenant,
        query_event("q-1", &[(1, "Claims")], "SELECT ssn FROM claims", "UNAUTHORIZED"),
        query_event("q-2", &[(2, "Credit")], "SELECT 1", "SUCCESS"),
        json!({"id": "l-1", "dateTime": "1646128800000", "recordType": "apiKey", "userId": "cy@example.com", "profileId": 9}),
    ]);
    let get = |qs: &str| ids(&s.admin_get(&format!("/v1/events?{qs}")));
    assert_eq!(get("eventType=DatabricksQuery"), ["q-1", "q-2"]);
    assert_eq!(
        get("eventType=ApiKeyCreated"),
        ["k-1", "l-1"],
        "the legacy apiKey record converts to ApiKeyCreated"
    );
    assert_eq!(get("actionStatus=UNAUTHORIZED"), ["q-1"]);
    assert_eq!(
        get("action=QUERY&actionStatus=SUCCESS&tenantId=t1"),
        ["q-2"]
    );
    assert_eq!(get("targetType=APIKEY&tenantId=t1"), ["k-1"]);
    assert_eq!(get("tenantId=t2"), ["k-2"]);
    assert_eq!(get("sessionId=s-2"), ["k-2"]);
    assert_eq!(get("requestId=r-k-1"), ["k-1"]);
    assert_eq!(get("actorId=bo@example.com"), ["q-1", "q-2"]);
    assert_eq!(get("q=SSN"), ["q-1"], "query text, case-insensitive");
    assert_eq!(get("q=masked%20column"), ["q-1"], "failure reason");
    assert_eq!(
        get("receivedFrom=2022-03-02T11:00:00Z&receivedTo=2022-03-02"),
        ["q-1", "q-2"]
    );
    assert_eq!(
        get("recordType=apiKey&tenantId=t1"),
        ["k-1"],
        "index filter and document filter together"
    );
    assert_eq!(get("profileId=8&eventType=DatabricksQuery&size=1").len(), 1);
    let r = s.get("/v1/events?offset=3", &s.admin_key);
    assert_eq!(
        (r.status, r.json()["parameter"].clone()),
        (400, json!("offset"))
    );
    let r = s.get("/v1/events?after=not-a-cursor", &s.admin_key);
    assert_eq!(
        (r.status, r.json()["parameter"].clone()),
        (400, json!("after"))
    );
    // Facets over UAM dimensions, over the whole matching set (not just the page).
    let page = s.admin_get("/v1/events?tenantId=t1&size=1&facets=true");
    assert_eq!(ids(&page).len(), 1);
    let mut facets = page["facets"].clone();
    let scanned = facets.as_object_mut().unwrap().remove("scanned");
    assert_eq!(
        scanned,
        Some(page["snapshotSeq"].clone()),
        "no index filter: every event of the snapshot is looked at"
    );
    assert_eq!(
        facets,
        json!({
            "eventTypes": [{"name": "DatabricksQuery", "count": 2}, {"name": "ApiKeyCreated", "count": 1}],
            "actionStatuses": [{"name": "SUCCESS", "count": 2}, {"name": "UNAUTHORIZED", "count": 1}],
            "actions": [{"name": "QUERY", "count": 2}, {"name": "CREATE", "count": 1}],
            "targetTypes": [{"name": "DATASOURCE", "count": 2}, {"name": "APIKEY", "count": 1}],
            "tenantIds": [{"name": "t1", "count": 3}],
            "actorIds": [{"name": "bo@example.com", "count": 2}, {"name": "ana@example.com", "count": 1}],
            "complete": true,
        })
    );
    assert!(s.admin_get("/v1/events?size=1").get("facets").is_none());
    // Documents come back exactly as stored.
    let page = s.admin_get("/v1/events?requestId=r-k-1");
    assert_eq!(page["events"][0], uam("k-1", "ApiKeyCreated", "SUCCESS"));
}

/// Reads every page of `qs`, appending `per_page` new matching events while each page is read
/// (from another thread, concurrently). Returns the ids read, the snapshot, and the appended
/// events with their sequence numbers.
fn read_all_pages(
    s: &TestServer,
    qs: &str,
    per_page: usize,
) -> (Vec<String>, u64, Vec<(u64, String)>) {
    let mut out = Vec::new();
    let mut appended = Vec::new();
    let mut after: Option<String> = None;
    let mut snapshot = None;
    loop {
        let extra: Vec<Value> = (0..per_page)
            .map(|_| {
                let id = format!("late-{}", rand_suffix());
                uam(&id, "ApiKeyCreated", "FAILURE")
            })
            .collect();
        let url = match &after {
            Some(c) => format!("/v1/events?{qs}&after={c}"),
            None => format!("/v1/events?{qs}"),
        };
        let (page, written) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| (!extra.is_empty()).then(|| s.ingest(&extra)));
            let page = s.admin_get(&url);
            (page, writer.join().unwrap())
        });
        if let Some(body) = written {
            let first = body["firstSeq"].as_u64().unwrap();
            for (k, e) in extra.iter().enumerate() {
                appended.push((first + k as u64, e["id"].as_str().unwrap().to_string()));
            }
        }
        let snap = page["snapshotSeq"].as_u64().unwrap();
        assert_eq!(
            *snapshot.get_or_insert(snap),
            snap,
            "the snapshot stays fixed"
        );
        out.extend(ids(&page));
        match page["next"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => break,
        }
    }
    (out, snapshot.unwrap_or(0), appended)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn cursor_pages_concatenate_to_exactly_the_matching_set_of_the_first_snapshot(
        statuses in proptest::collection::vec(0..3usize, 0..40),
        size in 1..7usize,
        filter in 0..3usize,
        per_page in 0..4usize,
    ) {
        let s = start();
        const STATUS: [&str; 3] = ["SUCCESS", "FAILURE", "UNAUTHORIZED"];
        let events: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, st)| uam(&format!("e-{i}"), if i % 2 == 0 { "ApiKeyCreated" } else { "ApiKeyDeleted" }, STATUS[*st]))
            .collect();
        if !events.is_empty() {
            prop_assert_eq!(s.ingest(&events)["firstSeq"].as_u64(), Some(1));
        }
        let (qs, keep): (&str, fn(usize, usize) -> bool) = match filter {
            0 => ("tenantId=t1", |_, _| true),
            1 => ("tenantId=t1&actionStatus=FAILURE", |_, st| st == 1),
            _ => ("eventType=ApiKeyCreated&tenantId=t1", |i, _| i % 2 == 0),
        };
        let (got, snapshot, appended) = read_all_pages(&s, &format!("{qs}&size={size}"), per_page);
        // The matching set at the snapshot: the initial events (seq 1..=n) and whatever
        // appended events committed before the first page fixed it (they match every filter).
        prop_assert!(snapshot >= statuses.len() as u64);
        let mut expected: Vec<String> = statuses
            .iter()
            .enumerate()
            .filter(|(i, st)| keep(*i, **st))
            .map(|(i, _)| format!("e-{i}"))
            .collect();
        expected.extend(appended.iter().filter(|(seq, _)| *seq <= snapshot).map(|(_, id)| id.clone()));
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn a_data_owner_sees_only_events_touching_their_data_sources() {
    let s = start();
    s.ingest(&[
        query_event("mine", &[(5, "Owned"), (6, "Other")], "SELECT 1", "SUCCESS"),
        query_event("theirs", &[(6, "Other")], "SELECT 2", "SUCCESS"),
        uam("key", "ApiKeyCreated", "SUCCESS"),
    ]);
    let (_, key) = s.user_with_key("owner@example.com", &[], &[5]);
    let r = s.get("/v1/events?tenantId=t1", &key);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&r.json()), ["mine"]);
    assert_eq!(s.get("/v1/events/mine", &key).status, 200);
    assert_eq!(s.get("/v1/events/theirs", &key).status, 404);
    let (_, nobody) = s.user_with_key("nobody@example.com", &[], &[]);
    let r = s.get("/v1/events", &nobody);
    assert_eq!(
        (r.status, r.json()["permission"].clone()),
        (403, json!("AUDIT"))
    );
}

#[test]
fn my_queries_groups_the_callers_own_query_runs_on_one_data_source() {
    let s = start();
    let (me, key) = s.user_with_key("bo@example.com", &[], &[]);
    let other = me + 1000;
    let run =
        |id: &str, profile: i64, tables: &[(i64, &str)], text: &str, status: &str, at: &str| {
            let mut e = query_event(id, tables, text, status);
            e["actor"]["profileId"] = json!(profile);
            e["eventTimestamp"] = json!(format!("2022-03-02T{at}:00.000Z"));
            e
        };
    let legacy = |id: &str, record_type: &str, ms: i64| {
        json!({"dateTime": ms.to_string(), "dataSourceId": 1, "dataSourceName": "Claims",
            "recordType": record_type, "userId": "bo@example.com", "profileId": me,
            "success": true, "id": id})
    };
    let at = |hh: i64| T0 + 86_400_000 + hh * 3_600_000;
    s.ingest(&[
        run(
            "q1",
            me,
            &[(1, "Claims"), (2, "Trades")],
            "SELECT 1",
            "SUCCESS",
            "10:00",
        ),
        run("q2", me, &[(1, "Claims")], "SELECT 1", "FAILURE", "11:00"),
        run("q3", me, &[(1, "Claims")], "SELECT 2", "SUCCESS", "09:00"),
        run(
            "q4",
            other,
            &[(1, "Claims")],
            "SELECT 3",
            "SUCCESS",
            "13:00",
        ),
        run("q5", me, &[(2, "Trades")], "SELECT 4", "SUCCESS", "14:00"),
        legacy("l1", "sqlQuery", at(12)),
        legacy("l2", "sqlQuery", at(8)),
        legacy("l3", "dataSourceSubscription", at(15)),
    ]);

    let r = s.get("/audit/queries/dataSource/1/mine", &key);
    assert_eq!(r.status, 200, "{}", r.text);
    let a = r.json();
    assert_eq!(keys(&a), ["dataSourceId", "queries", "count", "runs"]);
    assert_eq!(
        (&a["dataSourceId"], &a["count"], &a["runs"]),
        (&json!(1), &json!(3), &json!(5))
    );
    assert_eq!(
        a["queries"],
        json!([
            {"query": null, "recordType": "sqlQuery", "runs": 2,
             "firstRun": "2022-03-02T08:00:00.000Z", "lastRun": "2022-03-02T12:00:00.000Z",
             "lastRecordId": "l1", "lastOutcome": "success"},
            {"query": "SELECT 1", "recordType": "DatabricksQuery", "runs": 2,
             "firstRun": "2022-03-02T10:00:00.000Z", "lastRun": "2022-03-02T11:00:00.000Z",
             "lastRecordId": "q2", "lastOutcome": "failure"},
            {"query": "SELECT 2", "recordType": "DatabricksQuery", "runs": 1,
             "firstRun": "2022-03-02T09:00:00.000Z", "lastRun": "2022-03-02T09:00:00.000Z",
             "lastRecordId": "q3", "lastOutcome": "success"},
        ]),
        "newest run first; another user's query, other data sources and non-query records left out"
    );
    let page = s
        .get("/audit/queries/dataSource/1/mine?offset=1&size=1", &key)
        .json();
    assert_eq!(
        (
            page["count"].clone(),
            page["queries"].as_array().unwrap().len()
        ),
        (json!(3), 1)
    );
    assert_eq!(page["queries"][0]["query"], "SELECT 1");
    let two = s.get("/audit/queries/dataSource/2/mine", &key).json();
    let texts: Vec<&str> = two["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["query"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["SELECT 4", "SELECT 1"],
        "the query on two tables counts for both"
    );
    let none = s.get("/audit/queries/dataSource/99/mine", &key).json();
    assert_eq!(
        (none["count"].clone(), none["queries"].clone()),
        (json!(0), json!([]))
    );

    let activity = s.get("/audit/apikey/activity?size=1", &key).json();
    assert_eq!(
        activity["hits"][0]["recordType"], "auditQuery",
        "the call is audited"
    );

    for (path, parameter) in [
        ("/audit/queries/dataSource/abc/mine", "dataSourceId"),
        ("/audit/queries/dataSource/1/mine?size=10001", "size"),
        (
            "/audit/queries/dataSource/1/mine?sortOrder=asc",
            "sortOrder",
        ),
    ] {
        let r = s.get(path, &key);
        assert_eq!(
            (r.status, r.json()["parameter"].clone()),
            (400, json!(parameter)),
            "{path}"
        );
    }
    assert_eq!(
        s.call("GET", "/audit/queries/dataSource/1/mine", None, &[], None)
            .status,
        401
    );
}
