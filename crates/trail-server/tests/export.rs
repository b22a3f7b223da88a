//! `GET /v1/export` over real HTTP: each format and form, gzip (file and transfer), resume from
//! the middle ending with the uninterrupted trailer, the framing `trail download` reads, data-owner
//! scope, authentication and bad parameters.

use std::io::{Read, Write};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::*;

/// The trailer's `sha256`: SHA-256 over the concatenated SHA-256 of each stored document.
fn chain_of<'a>(docs: impl IntoIterator<Item = &'a str>) -> [u8; 32] {
    let mut all = Sha256::new();
    for d in docs {
        let h: [u8; 32] = Sha256::digest(d.as_bytes()).into();
        all.update(h);
    }
    all.finalize().into()
}

/// The checkpoint token after `docs`, as a framed export's `C` line carries it.
fn token_after(docs: &[String]) -> String {
    let hashes: Vec<[u8; 32]> = docs
        .iter()
        .map(|d| Sha256::digest(d.as_bytes()).into())
        .collect();
    let mut chain = trail_server::export_chain::ExportChain::new();
    chain.extend(&hashes);
    chain.token()
}

fn export(s: &TestServer, query: &str) -> Resp {
    s.get(&format!("/v1/export?{query}"), &s.admin_key)
}

fn ok(r: Resp) -> Resp {
    assert_eq!(r.status, 200, "{}", r.text);
    r
}

/// Fixture documents as ingested (compact JSON, the stored bytes), in sequence order.
fn docs(specs: &[Spec]) -> Vec<String> {
    specs.iter().map(|s| s.doc().to_string()).collect()
}

fn trailer_of(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    v["trailExport"].clone()
}

#[test]
fn ndjson_original_is_the_stored_documents_byte_for_byte_then_a_trailer_with_count_and_chain() {
    let s = start();
    let specs = load_fixture(&s, 40);
    let r = ok(export(&s, BEFORE_NOW));
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let up_to: u64 = r.header("trail-export-up-to").unwrap().parse().unwrap();
    assert_eq!(
        up_to, 40,
        "the fixture is the whole log when the export starts"
    );
    assert_eq!(r.header("trail-export-matching"), Some("40"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 41);
    let docs = docs(&specs);
    assert_eq!(
        lines[..40],
        docs.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    let t = trailer_of(lines[40]);
    assert_eq!(t["events"], 40);
    assert_eq!(t["lastSeq"], 40);
    assert_eq!(t["upTo"], 40);
    assert_eq!(
        t["sha256"],
        hex::encode(chain_of(docs.iter().map(String::as_str)))
    );
    assert!(r.text.ends_with("}}\n"));

    // The export's own audit record is after its snapshot: a second export sees the first's.
    let r = ok(export(&s, "recordType=auditQuery"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.text);
    assert!(lines[0].contains("/v1/export"), "{}", lines[0]);
}

#[test]
fn json_legacy_is_the_seed_hits_shape_equal_to_get_audit_in_ascending_order_plus_trailer() {
    let s = start();
    load_fixture(&s, 30);
    let r = ok(export(&s, &format!("format=json&form=legacy&{BEFORE_NOW}")));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(keys(&v), ["hits", "trailExport"]);
    let audit = s.admin_get(&format!("/audit?sortOrder=asc&size=100&{BEFORE_NOW}"));
    assert_eq!(v["hits"], audit["hits"]);
    assert_eq!(v["trailExport"]["events"], 30);

    let r = ok(export(&s, "format=json&maxDate=2000-01-01"));
    let v = r.json();
    assert_eq!(v["hits"], serde_json::json!([]));
    assert_eq!(v["trailExport"]["events"], 0);
    assert_eq!(v["trailExport"]["lastSeq"], 0);
    assert_eq!(
        v["trailExport"]["sha256"],
        hex::encode(chain_of(std::iter::empty())),
        "no events: the SHA-256 of nothing"
    );
}

#[test]
fn csv_has_a_header_one_row_per_event_and_a_hash_trailer_line() {
    let s = start();
    let specs = load_fixture(&s, 12);
    let r = ok(export(&s, &format!("format=csv&form=legacy&{BEFORE_NOW}")));
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 14);
    assert!(lines[0].starts_with("dateTime,dataSourceName,projectName,recordType,"));
    assert_eq!(lines[0].split(',').count(), 14);
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], specs[0].time.to_string());
    assert_eq!(first[1], "Claims");
    assert_eq!(first[11], "ev-0");
    let chain = hex::encode(chain_of(docs(&specs).iter().map(String::as_str)));
    assert_eq!(
        lines[13],
        format!("# trailExport events=12 lastSeq=12 upTo=12 sha256={chain}")
    );

    let r = ok(export(&s, "format=csv&maxDate=2022-03-01"));
    let mut lines = r.text.lines();
    assert_eq!(lines.next(), Some("seq,eventTime,document"));
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("1,2022-03-01T00:00:00.000Z,\"{\"\"dateTime\"\":"),
        "{row}"
    );
}

#[test]
fn form_uam_exports_uam_events_as_stored_and_converts_legacy_records() {
    let s = start();
    load_fixture(&s, 5);
    // Trail's own records (the fixture's ingest is not audited, searches are) are UAM.
    for _ in 0..3 {
        ok(s.get("/audit?size=1", &s.admin_key));
    }
    let r = ok(export(&s, "form=uam&recordType=auditQuery"));
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 4);
    for l in &lines[..3] {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(v["auditPayload"].is_object(), "{l}");
    }
    assert_eq!(trailer_of(lines[3])["events"], 3);

    // Unfiltered, the fixture's legacy records come out converted, none skipped.
    // Each export is audited too, so the second one is pinned to the first one's snapshot.
    let original = ok(export(&s, ""));
    let up_to = trailer_of(original.text.lines().last().unwrap())["upTo"].clone();
    let uam = ok(export(&s, &format!("form=uam&upTo={up_to}")));
    let (orig_lines, uam_lines): (Vec<&str>, Vec<&str>) =
        (original.text.lines().collect(), uam.text.lines().collect());
    assert_eq!(orig_lines.len(), uam_lines.len());
    let mut converted = 0;
    for (o, u) in orig_lines.iter().zip(&uam_lines).take(orig_lines.len() - 1) {
        let (o, u): (Value, Value) = (
            serde_json::from_str(o).unwrap(),
            serde_json::from_str(u).unwrap(),
        );
        assert_eq!(o["id"], u["id"], "same event, same order");
        assert!(
            u["eventTimestamp"].is_string() && u["auditPayload"].is_object(),
            "{u}"
        );
        if let Some(record_type) = o.get("recordType") {
            assert_eq!(&u["auditPayload"]["legacyRecordType"], record_type, "{u}");
            converted += 1;
        }
    }
    assert!(converted >= 5, "the legacy fixture records were converted");
    assert_eq!(
        trailer_of(uam_lines[uam_lines.len() - 1])["events"],
        trailer_of(orig_lines[orig_lines.len() - 1])["events"]
    );
}

/// A raw HTTP/1.0 GET: the body exactly as sent (no client-side decoding).
fn raw_get(base: &str, path_and_query: &str, headers: &[(&str, &str)]) -> (String, Vec<u8>) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path_and_query} HTTP/1.0\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    (head, all[split + 4..].to_vec())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[test]
fn gzip_true_gives_a_gzip_file_and_accept_encoding_gzip_compresses_the_transfer() {
    let s = start();
    load_fixture(&s, 25);
    let plain = ok(export(&s, &format!("{BEFORE_NOW}&upTo=25"))).text;
    let auth = [("Authorization", s.admin_key.as_str())];
    let (head, body) = raw_get(
        &s.base,
        &format!("/v1/export?gzip=true&upTo=25&{BEFORE_NOW}"),
        &auth,
    );
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(head.contains("content-type: application/gzip"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip file");
    assert_eq!(gunzip(&body), plain);

    let (head, body) = raw_get(
        &s.base,
        &format!("/v1/export?upTo=25&{BEFORE_NOW}"),
        &[auth[0], ("Accept-Encoding", "br, gzip")],
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-type: application/x-ndjson"),
        "{head}"
    );
    assert_eq!(gunzip(&body), plain);
    let (head, body) = raw_get(
        &s.base,
        &format!("/v1/export?upTo=25&{BEFORE_NOW}"),
        &[auth[0], ("Accept-Encoding", "gzip;q=0")],
    );
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(String::from_utf8(body).unwrap(), plain);
}

#[test]
fn resuming_from_the_middle_gives_the_rest_and_the_uninterrupted_trailer_in_every_format() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let docs = docs(&specs);
    // Each export appends its own audit record: fix the bound so all three see the same log.
    let full = ok(export(&s, &format!("upTo=30&{BEFORE_NOW}"))).text;
    let full_json = ok(export(&s, &format!("format=json&upTo=30&{BEFORE_NOW}"))).text;
    let full_csv = ok(export(
        &s,
        &format!("format=csv&form=legacy&upTo=30&{BEFORE_NOW}"),
    ))
    .text;
    // Events appended after the snapshot bound are not part of the resumed export.
    load_fixture_from(&s, 30, 10);
    let k = 17;
    let chain = token_after(&docs[..k]);
    let resume = format!("after={k}&upTo=30&count={k}&chain={chain}&{BEFORE_NOW}");

    let rest = ok(export(&s, &resume));
    assert_eq!(rest.header("trail-export-after"), Some("17"));
    let head: String = full.lines().take(k).map(|l| format!("{l}\n")).collect();
    assert_eq!(format!("{head}{}", rest.text), full);

    let rest = ok(export(&s, &format!("format=json&{resume}")));
    let head = format!("{{\"hits\":[{}", docs[..k].join(","));
    assert_eq!(format!("{head}{}", rest.text), full_json);

    let rest = ok(export(&s, &format!("format=csv&form=legacy&{resume}")));
    let head: String = full_csv
        .lines()
        .take(k + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(format!("{head}{}", rest.text), full_csv);

    // Resuming after the last event sends only the trailer.
    let chain = token_after(&docs);
    let rest = ok(export(
        &s,
        &format!("after=30&upTo=30&count=30&chain={chain}&{BEFORE_NOW}"),
    ));
    assert_eq!(rest.text, format!("{}\n", full.lines().last().unwrap()));
}

/// Ingests `n` more fixture-like events with ids `late-{i}`, after the first `start`.
fn load_fixture_from(s: &TestServer, start: usize, n: usize) {
    let docs: Vec<Value> = fixture(start + n)[start..]
        .iter()
        .map(|sp| {
            let mut d = sp.doc();
            d["id"] = Value::from(format!("late-{}", sp.id));
            d
        })
        .collect();
    s.ingest(&docs);
}

/// The frames of a framed export: (kind, header fields, payload).
fn frames(body: &[u8]) -> Vec<(char, Vec<String>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let nl = at + body[at..].iter().position(|b| *b == b'\n').unwrap();
        let head = std::str::from_utf8(&body[at..nl]).unwrap();
        let fields: Vec<String> = head.split(' ').map(str::to_string).collect();
        let kind = fields[0].chars().next().unwrap();
        at = nl + 1;
        let payload = if kind == 'C' {
            Vec::new()
        } else {
            let len: usize = fields.last().unwrap().parse().unwrap();
            at += len;
            body[at - len..at].to_vec()
        };
        out.push((kind, fields[1..].to_vec(), payload));
    }
    out
}

#[test]
fn framed_export_carries_the_plain_bytes_with_a_checkpoint_after_each_8192_event_chunk() {
    let s = start();
    let n = 2 * 8192 + 5;
    let all = fixture(n);
    for part in all.chunks(5000) {
        s.ingest(&part.iter().map(Spec::doc).collect::<Vec<_>>());
    }
    let plain = ok(export(&s, &format!("format=json&upTo={n}&{BEFORE_NOW}"))).text;
    let framed = ok(export(
        &s,
        &format!("format=json&frame=true&upTo={n}&{BEFORE_NOW}"),
    ));
    assert_eq!(
        framed.header("content-type"),
        Some("application/x-trail-export-frames")
    );
    let frames = frames(framed.text.as_bytes());
    let payload: Vec<u8> = frames.iter().flat_map(|f| f.2.clone()).collect();
    assert_eq!(String::from_utf8(payload).unwrap(), plain);
    let kinds: String = frames.iter().map(|f| f.0).filter(|k| *k != 'E').collect();
    assert_eq!(kinds, "HCCCT");
    assert_eq!(frames.iter().filter(|f| f.0 == 'E').count(), n);
    let docs = docs(&all);
    let checkpoints: Vec<&Vec<String>> =
        frames.iter().filter(|f| f.0 == 'C').map(|f| &f.1).collect();
    for (cp, events) in checkpoints.iter().zip([8192usize, 16384, n]) {
        assert_eq!(cp[0], events.to_string(), "seq");
        assert_eq!(cp[1], events.to_string(), "count");
        assert_eq!(cp[2], token_after(&docs[..events]));
        let restored =
            trail_server::export_chain::ExportChain::from_token(&cp[2], events as u64).unwrap();
        assert_eq!(
            restored.digest(),
            chain_of(docs[..events].iter().map(String::as_str)),
            "a checkpoint token finishes to the SHA-256 of the hashes so far"
        );
    }
    // The first event frame names its sequence number.
    let first = frames.iter().find(|f| f.0 == 'E').unwrap();
    assert_eq!(first.1[0], "1");
}

#[test]
fn data_owners_export_their_sources_only_and_others_get_401_or_403() {
    let s = start();
    let specs = load_fixture(&s, 30);
    let (_, owner) = s.user_with_key("owner@example.com", &[], &[2]);
    let r = s.get(&format!("/v1/export?{BEFORE_NOW}&form=legacy"), &owner);
    assert_eq!(r.status, 200, "{}", r.text);
    let ids: Vec<String> = r
        .text
        .lines()
        .filter(|l| !l.contains("trailExport"))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected: Vec<String> = specs
        .iter()
        .filter(|sp| sp.ds.0 == 2)
        .map(|sp| sp.id.clone())
        .collect();
    assert_eq!(ids, expected);

    let (_, nobody) = s.user_with_key("ingest@example.com", &["INGEST"], &[]);
    let r = s.get("/v1/export", &nobody);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["permission"], "AUDIT");
    let r = s.call("GET", "/v1/export", None, &[], None);
    assert_eq!(r.status, 401);
    let r = s.get("/v1/export", "wrong-key");
    assert_eq!(r.status, 401);
}

#[test]
fn bad_parameters_are_400_naming_the_parameter() {
    let s = start();
    load_fixture(&s, 3);
    let zeros = "0".repeat(64);
    for (qs, p) in [
        ("size=10".to_string(), "size"),
        ("offset=5".to_string(), "offset"),
        ("sortOrder=asc".to_string(), "sortOrder"),
        ("format=xml".to_string(), "format"),
        ("form=pretty".to_string(), "form"),
        ("gzip=yes".to_string(), "gzip"),
        ("after=-1".to_string(), "after"),
        ("after=1&after=2".to_string(), "after"),
        ("upTo=999".to_string(), "upTo"),
        ("after=3&upTo=2".to_string(), "after"),
        ("chain=zz&count=1&after=1&upTo=2".to_string(), "chain"),
        ("count=1&after=1&upTo=2".to_string(), "chain"),
        (format!("chain={zeros}&after=1&upTo=2"), "count"),
        (format!("chain={zeros}&count=1&after=1&upTo=2"), "chain"),
        (format!("chain={zeros}&count=1&upTo=2"), "after"),
        ("frame=true&gzip=true".to_string(), "gzip"),
        ("dataSourceId=x".to_string(), "dataSourceId"),
        (
            "maxDate=2000-01-01&maxDate=2001-01-01".to_string(),
            "maxDate",
        ),
        ("bogus=1".to_string(), "bogus"),
    ] {
        let r = export(&s, &qs);
        assert_eq!(r.status, 400, "{qs}: {}", r.text);
        let e = r.json();
        assert_eq!(e["parameter"], p, "{qs}: {e}");
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let r = export(&s, "size=10");
    assert!(r.json()["message"].as_str().unwrap().contains("after"));
}

#[test]
fn the_export_is_in_the_openapi_document() {
    let s = start();
    let doc = s.admin_get("/openapi.json");
    let params: Vec<&str> = doc["paths"]["/v1/export"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "dataSourceId",
        "format",
        "form",
        "gzip",
        "after",
        "upTo",
        "chain",
        "frame",
    ] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
}
