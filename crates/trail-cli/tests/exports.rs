//! `trail export-configs` on a data directory: create, list (masked), run into a directory,
//! runs, delete.

use crate::run;

#[test]
fn export_configs_are_created_run_and_deleted_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let events = dir.path().join("e.ndjson");
    let lines: Vec<String> = (0..7)
        .map(|i| format!(r#"{{"id":"x{i}","dateTime":"{i}","recordType":"sqlQuery","profileId":2,"userId":"k@e.com","success":true}}"#))
        .collect();
    std::fs::write(&events, lines.join("\n")).unwrap();
    let d = data.to_str().unwrap();
    let (ok, text) = run(&["import", "--data-dir", d, events.to_str().unwrap()]);
    assert!(ok, "{text}");
    let cfg = format!(
        r#"{{"name":"disk","interval":"EVERY_12_HOURS","maxEventsPerObject":3,"target":{{"type":"directory","path":"{}"}}}}"#,
        out.display()
    );
    let (ok, text) = run(&["export-configs", "create", "--data-dir", d, &cfg]);
    assert!(ok, "{text}");
    let created: serde_json::Value = serde_json::from_str(&text).unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    let (ok, text) = run(&["export-configs", "run", "--data-dir", d, &id]);
    assert!(ok, "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (r["status"].as_str(), r["events"].as_u64()),
        (Some("SUCCEEDED"), Some(7))
    );
    assert_eq!(
        r["tasks"].as_array().unwrap().len(),
        4,
        "3 + 3 + 1 events, then the manifest"
    );
    assert!(out.join(r["manifest"].as_str().unwrap()).is_file());

    let (ok, text) = run(&["export-configs", "list", "--data-dir", d]);
    assert!(ok && text.contains("\"exportedThroughSeq\": 7"), "{text}");
    let (ok, text) = run(&["export-configs", "runs", "--data-dir", d, &id]);
    assert!(ok && text.contains("SUCCEEDED"), "{text}");
    let (ok, text) = run(&[
        "export-configs",
        "create",
        "--data-dir",
        d,
        r#"{"name":"x","interval":"CUSTOM","target":{"type":"directory","path":"/tmp"}}"#,
    ]);
    assert!(!ok && text.contains("customIntervalSeconds"), "{text}");
    let (ok, text) = run(&["export-configs", "delete", "--data-dir", d, &id]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["export-configs", "run", "--data-dir", d, &id]);
    assert!(!ok && text.contains("no export configuration"), "{text}");
}
