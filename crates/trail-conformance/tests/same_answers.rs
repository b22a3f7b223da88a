//! One generated data set, loaded over HTTP into the embedded store and into PostgreSQL in the
//! same batches: every query of a list must get byte-for-byte equal JSON bodies from both.

use serde_json::{json, Value};

use crate::support::{start_backend, Backend, TestServer};

/// A tiny deterministic generator (no dependency, same data on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// 2022-01-01T00:00:00Z; the data spans about 14 months (so many monthly partitions).
const START: i64 = 1_640_995_200_000;
const OUTCOMES: [&str; 6] = [
    "success",
    "userError",
    "systemError",
    "insufficientAuthorizations",
    "failure",
    "insufficientPermissions",
];
const RECORD_TYPES: [&str; 5] = [
    "sqlQuery",
    "dataSourceSubscription",
    "policyHandlerUpdate",
    "queryDebugRequest",
    "globalPolicyApplied",
];
const STATUSES: [&str; 3] = ["SUCCESS", "FAILURE", "UNAUTHORIZED"];
const PAYLOADS: [&str; 4] = [
    "QueryAuditPayload",
    "SubscriptionCreatedAuditPayload",
    "ProjectUpdatedAuditPayload",
    "ApiKeyCreatedAuditPayload",
];

fn iso(ms: i64) -> String {
    trail_model::timefmt::format_iso_ms(ms)
}

/// `n` events: legacy and UAM, 0-3 data sources each (UAM), names that change over time,
/// coarse times so that many events tie on time (the tie order by sequence is exercised).
fn generate(n: usize) -> Vec<Value> {
    let mut r = Lcg(42);
    (0..n)
        .map(|i| {
            // Times on a 10-minute grid: ties are frequent.
            let t = START + r.next(60_000) as i64 * 600_000;
            let era = if i < n / 2 { "old" } else { "new" };
            let ds = 1 + r.next(40) as i64;
            let profile = 100 + r.next(30) as i64;
            let project = r.next(12) as i64;
            if i % 3 == 0 {
                let k = r.next(4);
                let targets: Vec<Value> = (0..k)
                    .map(|j| {
                        let id = 1 + (ds + j as i64 * 7) % 40;
                        json!({"type": "DATASOURCE", "id": id.to_string(), "name": format!("ds-{id}-{era}")})
                    })
                    .chain((project > 0).then(|| {
                        json!({"type": "PROJECT", "id": project.to_string(), "name": format!("proj-{project}-{era}")})
                    }))
                    .collect();
                json!({
                    "id": format!("uam-{i}"),
                    "eventTimestamp": iso(t),
                    "tenantId": "t1",
                    "action": "QUERY",
                    "targetType": "DATASOURCE",
                    "actionStatus": STATUSES[r.next(3) as usize],
                    "actor": {"type": "USER", "id": format!("user{profile}@example.com"), "profileId": profile},
                    "targets": targets,
                    "auditPayload": {
                        "type": PAYLOADS[r.next(4) as usize],
                        "version": 1,
                        "purposeIds": if r.next(3) == 0 { json!([r.next(5), 9]) } else { Value::Null },
                    },
                })
            } else {
                let record_type = RECORD_TYPES[r.next(5) as usize];
                let name = (r.next(4) != 0).then(|| format!("ds-{ds}-{era}"));
                json!({
                    "dateTime": t.to_string(),
                    "dataSourceId": if r.next(10) == 0 { Value::Null } else { json!(ds) },
                    "dataSourceName": name,
                    "projectId": if project > 0 { json!(project) } else { Value::Null },
                    "projectName": if project > 0 { json!(format!("proj-{project}-{era}")) } else { Value::Null },
                    "recordType": record_type,
                    "blobId": if r.next(6) == 0 { json!(format!("blob-{}", r.next(5))) } else { Value::Null },
                    "userId": format!("user{profile}@example.com"),
                    "profileId": profile,
                    "purposeIds": if r.next(4) == 0 { json!([r.next(5)]) } else { Value::Null },
                    "outcome": OUTCOMES[r.next(6) as usize],
                    "success": true,
                    "failureReason": null,
                    "warning": null,
                    "id": format!("leg-{i}"),
                    "fingerprintVersionName": null,
                    "email": format!("user{profile}@example.com"),
                })
            }
        })
        .collect()
}

fn load(s: &TestServer, docs: &[Value]) {
    for chunk in docs.chunks(500) {
        s.ingest(chunk);
    }
    // Some duplicates, reported and not stored.
    let r = s.ingest(&docs[..50]);
    assert_eq!(
        (r["stored"].as_u64(), r["duplicates"].as_u64()),
        (Some(0), Some(50))
    );
}

/// Queries bounded to before today (Trail's own self-audit records differ between the two
/// servers: random ids and times).
const QUERIES: &[&str] = &[
    "",
    "sortOrder=asc",
    "size=200&offset=100",
    "size=1000&sortOrder=asc&offset=2500",
    "dataSourceId=3",
    "dataSourceId=3,7,11&sortOrder=asc&size=100",
    "projectId=4&projectId=5",
    "profileId=101,102,103",
    "recordType=sqlQuery",
    "recordType=dataSourceSubscription&recordType=globalPolicyApplied&size=100",
    "outcome=failure",
    "outcome=userError,insufficientAuthorizations&sortOrder=asc",
    "minDate=2022-06-01&size=100",
    "minDate=2022-06-01T00:00:00Z&maxDate=2022-06-30&size=300",
    "blobId=blob-2",
    "purpose=9",
    "purpose=0&outcome=success",
    "dataSourceId=5&outcome=failure&profileId=110",
    "size=0",
    "dataSourceId=999999",
    "minDate=2024-06-01",
];

fn answers(s: &TestServer, key: &str) -> Vec<Value> {
    QUERIES
        .iter()
        .map(|q| {
            let bound = if q.contains("maxDate") {
                ""
            } else {
                "maxDate=2024-12-31&"
            };
            let r = s.get(&format!("/audit?{bound}{q}"), key);
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()
        })
        .collect()
}

#[test]
fn both_backends_give_identical_answers_on_the_same_generated_data() {
    let docs = generate(3_000);
    let emb = start_backend(Backend::Embedded, Default::default());
    let pg = start_backend(Backend::Postgres, Default::default());
    load(&emb, &docs);
    load(&pg, &docs);
    let a = answers(&emb, &emb.admin_key);
    let b = answers(&pg, &pg.admin_key);
    let mut nonempty = 0;
    for ((q, x), y) in QUERIES.iter().zip(&a).zip(&b) {
        assert_eq!(x, y, "query `{q}` differs between embedded and PostgreSQL");
        if x["count"].as_u64().unwrap_or(0) > 0 {
            nonempty += 1;
        }
    }
    assert!(
        nonempty >= QUERIES.len() - 3,
        "the queries select something"
    );
    assert_eq!(a[0]["count"], 3_000);
    // Several data sources per event were counted once each in the facets.
    let ds_total: u64 = a[0]["facets"]["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["count"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(ds_total > 2_000, "{ds_total}");

    // A data owner's scoped view is the same on both.
    let (_, ke) = emb.user_with_key("owner@example.com", &[], &[3, 7]);
    let (_, kp) = pg.user_with_key("owner@example.com", &[], &[3, 7]);
    let se = answers(&emb, &ke);
    let sp = answers(&pg, &kp);
    for ((q, x), y) in QUERIES.iter().zip(&se).zip(&sp) {
        assert_eq!(
            x, y,
            "scoped query `{q}` differs between embedded and PostgreSQL"
        );
    }
    assert!(se[0]["count"].as_u64().unwrap() > 0);
}
