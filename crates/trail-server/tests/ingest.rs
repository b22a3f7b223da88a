//! `POST /v1/events`: every body form, gzip, all-or-nothing validation, the size limit.

use std::io::Write;

use serde_json::{json, Value};
use trail_server::ServerConfig;

use crate::support::*;

fn events_stored(s: &TestServer) -> u64 {
    let r = s.call("GET", "/readyz", None, &[], None);
    assert_eq!(r.status, 200);
    r.json()["events"].as_u64().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn post(s: &TestServer, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let r = s.call(
        "POST",
        "/v1/events",
        Some(&s.admin_key),
        headers,
        Some(body),
    );
    (r.status, r.json())
}

const UAM: &str = r#"{"id": "d9dc3cee-98d0-47d6-ba81-e0b38f9f4014", "tenantId": "your-immuta-tenant.com",
 "eventTimestamp": "2022-01-25T18:04:58.368Z", "receivedTimestamp": "2022-01-25T18:04:58.505Z",
 "action": "CREATE", "actionStatus": "SUCCESS",
 "actor": {"type": "USER_ACTOR", "id": "taylor@immuta.com", "name": "Taylor Smith", "identityProvider": "bim", "profileId": "1"},
 "actorIp": "xxx.xx.xx.xx", "sessionId": "9c553d7ace0aa3ee735fd3c14f737bc6",
 "requestId": "60c68659-ac83-5299-bf3e-14856178a0de", "targetType": "APIKEY", "targets": [], "relatedResources": [],
 "auditPayload": {"type": "ApiKeyCreatedAuditPayload", "apiKeyId": "1112158", "name": "T1", "version": 1}}"#;

#[test]
fn a_single_uam_object_is_stored_and_answers_with_sequence_numbers() {
    let s = start();
    let (status, body) = post(&s, &[("Content-Type", "application/json")], UAM.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"stored": 1, "duplicates": 0, "firstSeq": 1, "lastSeq": 1})
    );
    assert_eq!(keys(&body), ["stored", "duplicates", "firstSeq", "lastSeq"]);
    // The same event again is a duplicate, not a second record.
    let (status, body) = post(&s, &[], UAM.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"stored": 0, "duplicates": 1, "firstSeq": null, "lastSeq": null})
    );
    assert_eq!(events_stored(&s), 1);
    let hit = s.admin_get("/audit/d9dc3cee-98d0-47d6-ba81-e0b38f9f4014");
    assert_eq!(hit["recordType"], "apiKey");
    assert_eq!(hit["profileId"], 1);
    assert_eq!(hit["userId"], "taylor@immuta.com");
    // The read's record is durable before the answer and visible to the reader's next read
    // (`/readyz` is no read of the caller's, so it may count it a moment later).
    assert_eq!(
        s.admin_get("/audit?size=0")["count"],
        2,
        "reading it was audited"
    );
}

#[test]
fn arrays_ndjson_hits_documents_and_gzip_are_all_accepted() {
    let s = start();
    let docs: Vec<String> = fixture(12).iter().map(|x| x.doc().to_string()).collect();
    let array = format!("[{}, {}, {}]", docs[0], docs[1], docs[2]);
    let (status, body) = post(&s, &[], array.as_bytes());
    assert_eq!(
        (
            status,
            body["stored"].clone(),
            body["firstSeq"].clone(),
            body["lastSeq"].clone()
        ),
        (200, json!(3), json!(1), json!(3))
    );

    let ndjson = format!("{}\n\n{}\r\n", docs[3], docs[4]);
    let (status, body) = post(
        &s,
        &[("Content-Type", "application/x-ndjson")],
        ndjson.as_bytes(),
    );
    assert_eq!((status, body["stored"].clone()), (200, json!(2)), "{body}");

    let sniffed = format!("{}\n{}\n", docs[5], docs[6]);
    let (status, body) = post(
        &s,
        &[("Content-Type", "application/json")],
        sniffed.as_bytes(),
    );
    assert_eq!(
        (status, body["stored"].clone()),
        (200, json!(2)),
        "objects on separate lines are NDJSON: {body}"
    );

    let hits = format!(
        "{{\"hits\": [{}, {}], \"facets\": {{}}, \"minDate\": null, \"maxDate\": null, \"count\": 2}}",
        docs[7], docs[8]
    );
    let (status, body) = post(&s, &[], hits.as_bytes());
    assert_eq!((status, body["stored"].clone()), (200, json!(2)), "{body}");

    let gz = gzip(format!("[{}, {}, {}]", docs[9], docs[10], docs[11]).as_bytes());
    let (status, body) = post(&s, &[("Content-Encoding", "gzip")], &gz);
    assert_eq!(
        (status, body["stored"].clone(), body["lastSeq"].clone()),
        (200, json!(3), json!(12)),
        "{body}"
    );

    assert_eq!(events_stored(&s), 12);
    let a = s.admin_get(&format!("/audit?size=100&{BEFORE_NOW}"));
    assert_eq!(a["count"], 12);
}

#[test]
fn an_invalid_event_fails_the_whole_batch_naming_its_index_line_and_field() {
    let s = start();
    let mut docs: Vec<Value> = fixture(4).iter().map(Spec::doc).collect();
    docs[2]["dateTime"] = json!("yesterday");
    let (status, e) = post(&s, &[], json!(docs).to_string().as_bytes());
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"], "invalid_event");
    assert_eq!(e["index"], 2);
    assert_eq!(e["field"], "dateTime");
    assert!(e.get("line").is_none(), "no line outside NDJSON");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("epoch milliseconds"));

    let good: Vec<String> = fixture(4).iter().map(|x| x.doc().to_string()).collect();
    let ndjson = format!(
        "{}\n{}\n\n{}\n",
        good[0], good[1], r#"{"id":"x","dateTime":"1","recordType":"sqlQuery","profileId":"two"}"#
    );
    let (status, e) = post(
        &s,
        &[("Content-Type", "application/x-ndjson")],
        ndjson.as_bytes(),
    );
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        (e["index"].clone(), e["line"].clone(), e["field"].clone()),
        (json!(2), json!(4), json!("profileId"))
    );

    let (status, e) = post(
        &s,
        &[],
        br#"[{"id": "a", "dateTime": "1", "recordType": "x"}, 7]"#,
    );
    assert_eq!(
        (status, e["index"].clone(), e["field"].clone()),
        (400, json!(1), json!("(document)"))
    );

    assert_eq!(events_stored(&s), 0, "nothing of a failed batch is stored");
}

#[test]
fn empty_and_non_json_bodies_are_400() {
    let s = start();
    for body in [&b""[..], b"   \n", b"[]", b"hello", b"{\"hits\": []}"] {
        let (status, e) = post(&s, &[], body);
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(e["error"], "bad_request");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let (status, e) = post(&s, &[], b"{\"id\": ");
    assert_eq!((status, e["error"].clone()), (400, json!("invalid_event")));
    let (status, e) = post(&s, &[("Content-Encoding", "br")], b"{}");
    assert_eq!(
        (status, e["error"].clone()),
        (415, json!("unsupported_media_type"))
    );
    let (status, e) = post(&s, &[("Content-Encoding", "gzip")], b"not gzip at all");
    assert_eq!((status, e["error"].clone()), (400, json!("bad_request")));
}

#[test]
fn requests_refused_before_their_body_is_read_close_the_connection_so_clients_do_not_reuse_it() {
    let s = start();
    let body = br#"{"id": "x"}"#;
    // Refused for its encoding, and refused for its key: neither reads the body first.
    let r = s.call(
        "POST",
        "/v1/events",
        Some(&s.admin_key),
        &[("Content-Encoding", "br")],
        Some(body),
    );
    assert_eq!(r.status, 415);
    assert_eq!(r.header("connection"), Some("close"));
    let r = s.call("POST", "/v1/events", Some("not-a-key"), &[], Some(body));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("connection"), Some("close"));
    // A refused request without a body keeps the connection.
    let r = s.call("GET", "/audit?size=nope", Some(&s.admin_key), &[], None);
    assert_eq!(r.status, 400);
    assert_ne!(r.header("connection"), Some("close"));
    // The pooled client keeps working across many refused-then-accepted requests.
    for _ in 0..50 {
        let (status, _) = post(&s, &[("Content-Encoding", "br")], b"{}");
        assert_eq!(status, 415);
        let (status, _) = post(&s, &[("Content-Encoding", "gzip")], b"not gzip");
        assert_eq!(status, 400);
    }
}

#[test]
fn bodies_over_the_limit_get_413_naming_it_also_after_gzip_decompression() {
    let limit = 4096;
    let s = start_with(ServerConfig {
        max_body_bytes: limit,
        ..ServerConfig::default()
    });
    let docs: Vec<Value> = fixture(40).iter().map(Spec::doc).collect();
    let big = json!(docs).to_string();
    assert!(big.len() > limit);
    let (status, e) = post(&s, &[], big.as_bytes());
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["error"], "payload_too_large");
    assert_eq!(e["limitBytes"], limit);
    assert!(e["message"].as_str().unwrap().contains("4096 bytes"));

    // A small gzip body that inflates past the limit (a gzip bomb) is stopped at the limit.
    let mut padded = docs[0].to_string();
    padded.push_str(&" ".repeat(1_000_000));
    let gz = gzip(padded.as_bytes());
    assert!(gz.len() < limit);
    let (status, e) = post(&s, &[("Content-Encoding", "gzip")], &gz);
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["limitBytes"], limit);

    // Under the limit, compressed or not, it works.
    let (status, _) = post(
        &s,
        &[("Content-Encoding", "gzip")],
        &gzip(docs[0].to_string().as_bytes()),
    );
    assert_eq!(status, 200);
    assert_eq!(events_stored(&s), 1);
}

/// A thread's name, nice value and CPU time (clock ticks) from its `/proc/.../stat` (fields 2,
/// 19, and 14 + 15); `None` when the thread has gone.
#[cfg(target_os = "linux")]
fn thread_stat(path: &std::path::Path) -> Option<(String, i64, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let nice: i64 = fields[16].parse().unwrap();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Some((stat[open + 1..close].to_string(), nice, ticks))
}

/// Threads named `trail-ingest` of this process at nice value `nice`, with the CPU time (clock
/// ticks) each has used.
#[cfg(target_os = "linux")]
fn ingest_threads_at(nice: i64) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Some((name, nice_of, ticks)) = thread_stat(&task.path().join("stat")) else {
            continue;
        };
        if name == "trail-ingest" && nice_of == nice {
            found.push((task.file_name().to_string_lossy().into_owned(), ticks));
        }
    }
    found
}

/// Parsing and appending posted events runs on the ingest lane: threads named `trail-ingest`
/// whose nice value is the configured `IngestPriority::Nice` above the service's, and whose CPU time
/// grows while events are posted.
#[cfg(target_os = "linux")]
#[test]
fn ingest_work_runs_on_lower_priority_threads() {
    // A value no other test server in this process uses, to tell this server's lane apart.
    let s = start_with(ServerConfig {
        ingest_priority: trail_server::IngestPriority::Nice(13),
        ..ServerConfig::default()
    });
    let (_, base_nice, _) = thread_stat("/proc/thread-self/stat".as_ref()).unwrap();
    let nice = (base_nice + 13).min(19);
    let before: u64 = ingest_threads_at(nice).iter().map(|t| t.1).sum();
    let mut posted = 0;
    for batch in fixture(20_000).chunks(2_000) {
        let body: String = batch.iter().map(|e| e.doc().to_string() + "\n").collect();
        let (status, answer) = post(
            &s,
            &[("Content-Type", "application/x-ndjson")],
            body.as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
        posted += answer["stored"].as_u64().unwrap();
    }
    assert_eq!(posted, 20_000);
    let after = ingest_threads_at(nice);
    assert!(!after.is_empty(), "the lane's threads run at nice {nice}");
    let used: u64 = after.iter().map(|t| t.1).sum();
    assert!(
        used > before,
        "parsing and appending 20,000 events used the lane's threads ({before} -> {used} ticks)"
    );
}
