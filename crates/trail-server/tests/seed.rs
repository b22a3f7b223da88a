//! The seed test: the sample hits of Immuta's "Download Audit Logs" page, ingested as Immuta's
//! own download format, come back from `GET /audit` identical, field for field, type for type,
//! member order and hit order included.

use serde_json::{json, Value};

use crate::support::*;

/// The text of the `"hits": [ ... ]` array of the seed's Response Example.
fn seed_hits_text() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/seeds/000_8ed409cd5a0c4f24.txt"
    );
    let seed = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let start = seed.find("\"hits\": [").expect("the seed has a hits array") + "\"hits\": ".len();
    let facets = seed[start..]
        .find("\"facets\"")
        .expect("facets follow the hits")
        + start;
    let end = seed[start..facets]
        .rfind(']')
        .expect("the hits array closes")
        + start;
    seed[start..=end].to_string()
}

#[test]
fn seed_sample_hits_round_trip_through_ingest_and_search_unchanged() {
    let text = seed_hits_text();
    let seed_hits: Vec<Value> = serde_json::from_str(&text).expect("the seed's hits parse");
    assert_eq!(seed_hits.len(), 50);

    let s = start();
    let body = format!("{{\"hits\": {text}}}");
    let r = s.call(
        "POST",
        "/v1/events",
        Some(&s.admin_key),
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["stored"], 50);

    let a = s.admin_get("/audit?size=100&maxDate=2021-12-31");
    assert_eq!(a["count"], 50);
    let got = a["hits"].as_array().unwrap();
    assert_eq!(got.len(), seed_hits.len());
    for (i, (got, want)) in got.iter().zip(&seed_hits).enumerate() {
        assert_eq!(
            serde_json::to_string(got).unwrap(),
            serde_json::to_string(want).unwrap(),
            "hit {i} differs (values, types or member order)"
        );
    }
    assert_eq!(
        a["minDate"], "2021-10-12T19:04:41.461Z",
        "the oldest sample hit"
    );
    assert_eq!(
        a["maxDate"], "2021-10-13T17:06:13.832Z",
        "the seed's own maxDate"
    );

    let katie = seed_hits.iter().filter(|h| h["profileId"] == 2).count();
    let system = seed_hits.iter().filter(|h| h["profileId"] == -1).count();
    let users = &a["facets"]["users"];
    assert_eq!(
        users,
        &json!([
            {"name": "katie@example.com", "id": 2, "count": katie.to_string()},
            {"name": "postgres_system", "id": -1, "count": system.to_string()},
        ])
    );
    let failures = seed_hits.iter().filter(|h| h["success"] == false).count();
    assert_eq!(
        a["facets"]["outcomes"],
        json!([
            {"name": "success", "count": (50 - failures).to_string()},
            {"name": "failure", "count": failures.to_string()},
        ])
    );

    // Ascending order is the exact reverse.
    let asc = s.admin_get("/audit?size=100&maxDate=2021-12-31&sortOrder=asc");
    let mut ids = hit_ids(&a);
    ids.reverse();
    assert_eq!(hit_ids(&asc), ids);
}
