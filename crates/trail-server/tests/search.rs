//! `GET /audit`: every parameter, default and type of Immuta's search, over real HTTP.

use serde_json::Value;
use trail_model::timefmt::parse_iso_ms;

use crate::support::*;

const HIT_FIELDS: [&str; 14] = [
    "dateTime",
    "dataSourceName",
    "projectName",
    "recordType",
    "blobId",
    "userId",
    "profileId",
    "purposeIds",
    "success",
    "failureReason",
    "warning",
    "id",
    "fingerprintVersionName",
    "email",
];

#[test]
fn default_search_returns_50_newest_hits_in_the_seed_response_shape() {
    let s = start();
    let specs = load_fixture(&s, 60);
    let a = s.admin_get("/audit");
    assert_eq!(keys(&a), ["hits", "facets", "minDate", "maxDate", "count"]);
    assert_eq!(
        keys(&a["facets"]),
        [
            "datasources",
            "projects",
            "recordTypes",
            "users",
            "outcomes"
        ]
    );
    assert_eq!(a["count"], Value::from(60u64), "count is a JSON number");
    let ids = hit_ids(&a);
    assert_eq!(ids, expected_desc(&specs, |_| true)[..50].to_vec());
    for hit in a["hits"].as_array().unwrap() {
        assert_eq!(keys(hit), HIT_FIELDS, "hit fields in seed order");
        let dt = hit["dateTime"].as_str().expect("dateTime is a string");
        assert!(dt.bytes().all(|b| b.is_ascii_digit()));
        assert!(hit["profileId"].is_i64(), "profileId is an integer");
        assert!(hit["success"].is_boolean());
        assert!(hit["recordType"].is_string());
        assert!(hit["purposeIds"].is_null() || hit["purposeIds"].is_array());
    }
    let newest = &a["hits"][0];
    let spec = specs.iter().find(|x| x.id == newest["id"]).unwrap();
    assert_eq!(newest["dateTime"], spec.time.to_string());
    assert_eq!(newest["dataSourceName"], spec.ds.1);
    assert_eq!(newest["userId"], spec.user.1);
    assert_eq!(newest["email"], spec.user.1);
    assert_eq!(newest["profileId"], spec.user.0);
    assert_eq!(newest["recordType"], spec.record_type);
    assert_eq!(
        a["minDate"],
        trail_model::timefmt::format_iso_ms(T0),
        "minDate over all matches, not the page"
    );
    assert_eq!(
        a["maxDate"],
        trail_model::timefmt::format_iso_ms(T0 + 59 * 60_000)
    );
}

#[test]
fn facets_have_string_counts_and_name_id_count_members() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let a = s.admin_get("/audit?size=0");
    let f = &a["facets"];
    for facet in ["datasources", "projects", "users"] {
        for e in f[facet].as_array().unwrap() {
            assert_eq!(keys(e), ["name", "id", "count"], "{facet}");
            assert!(e["count"].is_string(), "{facet} count is a string");
            assert!(e["id"].is_i64());
        }
    }
    for facet in ["recordTypes", "outcomes"] {
        for e in f[facet].as_array().unwrap() {
            assert_eq!(keys(e), ["name", "count"], "{facet}");
            assert!(e["count"].is_string(), "{facet} count is a string");
        }
    }
    let ds1 = specs.iter().filter(|x| x.ds.0 == 1).count().to_string();
    let claims = f["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == 1)
        .unwrap();
    assert_eq!(claims["name"], "Claims");
    assert_eq!(claims["count"], ds1.as_str());
    let katie = f["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == 2)
        .unwrap();
    assert_eq!(katie["name"], "katie@example.com");
    assert_eq!(katie["count"], "15");
    let success = f["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "success")
        .unwrap();
    let n = specs.iter().filter(|x| x.outcome == "success").count();
    assert_eq!(success["count"], n.to_string().as_str());
    assert_eq!(f["outcomes"][0]["name"], "success", "largest count first");
}

#[test]
fn min_and_max_date_are_null_when_nothing_matches() {
    let s = start();
    load_fixture(&s, 5);
    let a = s.admin_get("/audit?recordType=nothingLikeThis");
    assert_eq!(a["count"], 0);
    assert!(a["minDate"].is_null());
    assert!(a["maxDate"].is_null());
    assert_eq!(a["hits"], Value::Array(vec![]));
    assert_eq!(a["facets"]["datasources"], Value::Array(vec![]));
}

#[test]
fn array_parameters_work_repeated_and_as_comma_lists() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let pairs = [
        ("dataSourceId=1&dataSourceId=3", "dataSourceId=1,3"),
        ("projectId=10&projectId=11", "projectId=10,11"),
        ("profileId=2&profileId=3", "profileId=2,3"),
        (
            "recordType=sqlQuery&recordType=queryDebugRequest",
            "recordType=sqlQuery,queryDebugRequest",
        ),
        (
            "outcome=failure&outcome=userError",
            "outcome=failure,userError",
        ),
    ];
    for (repeated, comma) in pairs {
        let a = s.admin_get(&format!("/audit?size=100&{BEFORE_NOW}&{repeated}"));
        let b = s.admin_get(&format!("/audit?size=100&{BEFORE_NOW}&{comma}"));
        assert_eq!(hit_ids(&a), hit_ids(&b), "{repeated} vs {comma}");
        assert_eq!(a["count"], b["count"]);
        assert!(
            a["count"].as_u64().unwrap() > 0,
            "{repeated} matches something"
        );
    }
    let a = s.admin_get(&format!("/audit?size=100&{BEFORE_NOW}&dataSourceId=1,3"));
    assert_eq!(
        hit_ids(&a),
        expected_desc(&specs, |x| x.ds.0 == 1 || x.ds.0 == 3)
    );
}

#[test]
fn every_filter_restricts_hits_and_count() {
    let s = start();
    let specs = load_fixture(&s, 30);
    type Keep = Box<dyn Fn(&Spec) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        ("dataSourceId=2", Box::new(|x| x.ds.0 == 2)),
        (
            "projectId=11",
            Box::new(|x| x.project.map(|p| p.0) == Some(11)),
        ),
        ("profileId=3", Box::new(|x| x.user.0 == 3)),
        (
            "recordType=policyHandlerUpdate",
            Box::new(|x| x.record_type == "policyHandlerUpdate"),
        ),
        (
            "outcome=systemError",
            Box::new(|x| x.outcome == "systemError"),
        ),
        (
            "outcome=insufficientPermissions",
            Box::new(|x| x.outcome == "insufficientPermissions"),
        ),
        ("blobId=blob-7", Box::new(|x| x.blob == Some("blob-7"))),
        (
            "purpose=17",
            Box::new(|x| x.purposes.as_ref().is_some_and(|p| p.contains(&17))),
        ),
        (
            "dataSourceId=1&profileId=2&outcome=success",
            Box::new(|x| x.ds.0 == 1 && x.user.0 == 2 && x.outcome == "success"),
        ),
    ];
    for (qs, keep) in cases {
        let a = s.admin_get(&format!("/audit?size=100&{BEFORE_NOW}&{qs}"));
        let want = expected_desc(&specs, keep);
        assert!(!want.is_empty(), "{qs} should match something");
        assert_eq!(hit_ids(&a), want, "{qs}");
        assert_eq!(a["count"], want.len() as u64, "{qs}");
    }
}

#[test]
fn min_date_accepts_date_iso_naive_and_epoch_forms_and_a_max_date_date_includes_that_whole_day() {
    let s = start();
    // Three records: one day before, during, and one day after 2022-03-02.
    let day = parse_iso_ms("2022-03-02T00:00:00Z").unwrap();
    let mut specs = fixture(3);
    specs[0].time = day - 1; // 2022-03-01T23:59:59.999Z
    specs[1].time = day + 10 * 3_600_000; // 2022-03-02T10:00:00Z
    specs[2].time = day + 86_400_000 - 1; // 2022-03-02T23:59:59.999Z
    let docs: Vec<Value> = specs.iter().map(Spec::doc).collect();
    s.ingest(&docs);
    let count = |qs: &str| {
        s.admin_get(&format!("/audit?{qs}"))["count"]
            .as_u64()
            .unwrap()
    };
    let upper = "maxDate=2022-03-02";
    assert_eq!(
        count(&format!("minDate=2022-03-02&{upper}")),
        2,
        "the whole day, both ends inclusive"
    );
    assert_eq!(count(&format!("minDate=2022-03-01&{upper}")), 3);
    assert_eq!(
        count(&format!("minDate=2022-03-02T10:00:00.000Z&{upper}")),
        2
    );
    assert_eq!(
        count(&format!("minDate=2022-03-02T10:00:00.001Z&{upper}")),
        1
    );
    assert_eq!(
        count(&format!("minDate=2022-03-02T12:00:00%2B02:00&{upper}")),
        2,
        "offset +02:00 is 10:00Z"
    );
    assert_eq!(
        count(&format!("minDate=2022-03-02T10:00:00&{upper}")),
        2,
        "no zone means UTC"
    );
    assert_eq!(
        count(&format!("minDate={}&{upper}", day + 10 * 3_600_000)),
        2,
        "epoch milliseconds"
    );
    assert_eq!(
        count(&format!("minDate={}&{upper}", day + 10 * 3_600_000 + 1)),
        1
    );
    assert_eq!(
        count(&format!("maxDate={}", day - 1)),
        1,
        "epoch maxDate is inclusive"
    );
    assert_eq!(count("maxDate=2022-03-02T10:00:00Z"), 2);
    assert_eq!(
        count("maxDate=2022-03-01"),
        1,
        "a maxDate date ends at 23:59:59.999 of that day"
    );
}

#[test]
fn size_is_bounded_to_0_through_10000_and_defaults_to_50() {
    let s = start();
    load_fixture(&s, 60);
    let a = s.admin_get(&format!("/audit?size=0&{BEFORE_NOW}"));
    assert_eq!(a["hits"], Value::Array(vec![]));
    assert_eq!(a["count"], 60, "size=0 still counts");
    assert_eq!(
        hit_ids(&s.admin_get(&format!("/audit?size=7&{BEFORE_NOW}"))).len(),
        7
    );
    assert_eq!(
        hit_ids(&s.admin_get(&format!("/audit?size=10000&{BEFORE_NOW}"))).len(),
        60
    );
    assert_eq!(
        hit_ids(&s.admin_get(&format!("/audit?{BEFORE_NOW}"))).len(),
        50
    );
    for bad in ["10001", "-1", "abc", "", "1.5"] {
        let r = s.get(&format!("/audit?size={bad}"), &s.admin_key);
        assert_eq!(r.status, 400, "size={bad}");
        let e = r.json();
        assert_eq!(e["error"], "bad_request");
        assert_eq!(e["parameter"], "size");
        assert_eq!(
            e["message"],
            format!("size must be an integer from 0 to 10000, got '{bad}'")
        );
    }
}

#[test]
fn offset_pages_through_results_and_deep_offsets_beyond_10000_are_accepted() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let all = expected_desc(&specs, |_| true);
    let page2 = s.admin_get(&format!("/audit?size=10&offset=10&{BEFORE_NOW}"));
    assert_eq!(hit_ids(&page2), all[10..20].to_vec());
    let page3 = s.admin_get(&format!("/audit?size=10&offset=20&{BEFORE_NOW}"));
    assert_eq!(hit_ids(&page3), all[20..30].to_vec());
    let deep = s.admin_get(&format!("/audit?size=10000&offset=20000&{BEFORE_NOW}"));
    assert_eq!(deep["hits"], Value::Array(vec![]));
    assert_eq!(deep["count"], 30, "count ignores paging");
    let r = s.get(
        &format!("/audit?offset={}&{BEFORE_NOW}", u64::MAX),
        &s.admin_key,
    );
    assert_eq!(
        r.status, 200,
        "the largest offset is answered, not refused: {}",
        r.text
    );
    assert_eq!(r.json()["count"], 30);
    let r = s.get("/audit?offset=-5", &s.admin_key);
    assert_eq!(
        (r.status, r.json()["parameter"].clone()),
        (400, Value::from("offset"))
    );
}

#[test]
fn sort_order_asc_and_desc_and_sort_field_only_date_time() {
    let s = start();
    let specs = load_fixture(&s, 12);
    let desc = expected_desc(&specs, |_| true);
    let mut asc = desc.clone();
    asc.reverse();
    assert_eq!(
        hit_ids(&s.admin_get(&format!("/audit?sortOrder=asc&{BEFORE_NOW}"))),
        asc
    );
    assert_eq!(
        hit_ids(&s.admin_get(&format!("/audit?sortOrder=desc&{BEFORE_NOW}"))),
        desc
    );
    assert_eq!(
        hit_ids(&s.admin_get(&format!(
            "/audit?sortField=dateTime&sortOrder=asc&{BEFORE_NOW}"
        ))),
        asc
    );
    let r = s.get("/audit?sortField=recordType", &s.admin_key);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["parameter"], "sortField");
    let r = s.get("/audit?sortOrder=sideways", &s.admin_key);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["parameter"], "sortOrder");
}

#[test]
fn unknown_parameters_and_bad_values_are_400_naming_the_parameter() {
    let s = start();
    let cases = [
        ("colour=red", "colour"),
        ("datasourceId=1", "datasourceId"),
        ("dataSourceId=one", "dataSourceId"),
        ("projectId=1,,2", "projectId"),
        ("profileId=1.5", "profileId"),
        ("outcome=ok", "outcome"),
        ("outcome=success,SUCCESS", "outcome"),
        ("minDate=last-tuesday", "minDate"),
        ("maxDate=2024-13-45", "maxDate"),
        ("purpose=abc", "purpose"),
        ("offset=x", "offset"),
        ("size=1&size=2", "size"),
        ("blobId=", "blobId"),
        ("minDate=2022-03-02&maxDate=2022-03-01", "minDate"),
    ];
    for (qs, param) in cases {
        let r = s.get(&format!("/audit?{qs}"), &s.admin_key);
        assert_eq!(r.status, 400, "{qs}: {}", r.text);
        let e = r.json();
        assert_eq!(e["error"], "bad_request", "{qs}");
        assert_eq!(e["parameter"], param, "{qs}");
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.contains(param),
            "{qs}: message names the parameter: {msg}"
        );
    }
    let e = s.get("/audit?colour=red", &s.admin_key).json();
    assert!(
        e["message"].as_str().unwrap().contains("dataSourceId"),
        "an unknown parameter's message lists the accepted ones"
    );
}

#[test]
fn one_record_is_returned_as_a_legacy_hit_and_unknown_ids_are_404() {
    let s = start();
    let specs = load_fixture(&s, 3);
    let hit = s.admin_get("/audit/ev-1");
    assert_eq!(keys(&hit), HIT_FIELDS);
    assert_eq!(hit["id"], "ev-1");
    assert_eq!(hit["dateTime"], specs[1].time.to_string());
    let r = s.get("/audit/no-such-record", &s.admin_key);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}
