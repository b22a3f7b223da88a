//! `trail download` end to end: real `trail serve` processes on loopback, real `trail download`
//! processes, SIGKILL in the middle, `--resume`, byte comparison; the `GET /audit` fallback; exit
//! codes.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Served, TRAIL};

const KEY: &str = "download-test-key-0123456789abcdef0123";

/// Writes `n` small legacy records with a counter and imports them into `dir/data`.
fn data_dir_with(dir: &Path, n: usize) -> PathBuf {
    let file = dir.join("events.ndjson");
    let mut w = BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..n {
        writeln!(
            w,
            r#"{{"id":"e{i}","dateTime":"{}","recordType":"sqlQuery","profileId":{},"userId":"u{}@example.com","dataSourceId":{},"dataSourceName":"ds{}","success":{}}}"#,
            1_646_092_800_000u64 + i as u64 * 1000,
            i % 50,
            i % 50,
            i % 7,
            i % 7,
            i % 3 != 0
        )
        .unwrap();
    }
    w.into_inner().unwrap().sync_all().unwrap();
    let data = dir.join("data");
    let out = Command::new(TRAIL)
        .args(["import", "--batch-size", "20000", "--data-dir"])
        .arg(&data)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&file).unwrap();
    data
}

fn serve(dir: &Path, data: &Path) -> Served {
    Served::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[("TRAIL_BOOTSTRAP_KEY", KEY)],
        dir,
    )
}

fn download(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(TRAIL);
    c.args(["download", "--url", url])
        .args(args)
        .env("TRAIL_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let Output { status, stderr, .. } = download(url, args).output().unwrap();
    (status.code(), String::from_utf8_lossy(&stderr).into_owned())
}

fn resume_state(file: &Path) -> Option<serde_json::Value> {
    let mut p = file.as_os_str().to_owned();
    p.push(".trail-resume");
    let text = std::fs::read_to_string(PathBuf::from(p)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Starts a download, SIGKILLs it once its resume state covers at least `min_events`, and
/// returns the events the resume state covers.
fn kill_midway(url: &str, args: &[&str], file: &Path, min_events: u64, total: u64) -> u64 {
    let mut child = download(url, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(count) = resume_state(file).and_then(|s| s["count"].as_u64()) {
            if count >= min_events {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the download ended before it could be interrupted"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status:?}");
    let count = resume_state(file).unwrap()["count"].as_u64().unwrap();
    assert!(
        count >= min_events && count < total,
        "interrupted in the middle: {count} of {total}"
    );
    count
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

fn last_line(path: &Path) -> String {
    let text = std::fs::read(path).unwrap();
    let tail = &text[text.len().saturating_sub(400)..];
    String::from_utf8_lossy(tail)
        .trim_end()
        .rsplit('\n')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_million_events_downloaded_killed_midway_and_resumed_are_byte_identical_to_one_uninterrupted_download(
) {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with(dir.path(), N as usize);
    let served = serve(dir.path(), &data);
    let url = served.url();
    let up_to = N.to_string();

    let full = dir.path().join("full.ndjson");
    let (code, err) = run(&url, &["-o", full.to_str().unwrap(), "--up-to", &up_to]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("1000000 events, complete"), "{err}");
    let trailer: serde_json::Value = serde_json::from_str(&last_line(&full)).unwrap();
    assert_eq!(trailer["trailExport"]["events"], N);
    assert_eq!(trailer["trailExport"]["lastSeq"], N);
    assert!(
        resume_state(&full).is_none(),
        "no resume state once complete"
    );

    let part = dir.path().join("part.ndjson");
    let args = ["-o", part.to_str().unwrap(), "--up-to", &up_to];
    kill_midway(&url, &args, &part, 300_000, N);
    let (code, err) = run(&url, &["-o", part.to_str().unwrap(), "--resume"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(resume_state(&part).is_none());
    assert!(
        same_bytes(&full, &part),
        "the resumed file differs from the uninterrupted one"
    );

    // The same for a gzip file in the JSON format: gzip members per checkpoint make even the
    // compressed bytes identical.
    let full_gz = dir.path().join("full.json.gz");
    let (code, err) = run(
        &url,
        &[
            "-o",
            full_gz.to_str().unwrap(),
            "--format",
            "json",
            "--gzip",
            "--up-to",
            &up_to,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let part_gz = dir.path().join("part.json.gz");
    let args = [
        "-o",
        part_gz.to_str().unwrap(),
        "--format",
        "json",
        "--gzip",
        "--up-to",
        &up_to,
    ];
    kill_midway(&url, &args, &part_gz, 100_000, N);
    let (code, err) = run(&url, &[&args[..5], &["--resume"][..]].concat());
    assert_eq!(code, Some(0), "{err}");
    assert!(same_bytes(&full_gz, &part_gz));
    served.stop();
}

#[test]
fn resume_refuses_other_options_and_exit_codes_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with(dir.path(), 3000);
    let served = serve(dir.path(), &data);
    let url = served.url();
    let f = dir.path().join("a.ndjson");
    let fs = f.to_str().unwrap();

    let (code, err) = run(
        &url,
        &[
            "-o",
            fs,
            "--data-source-id",
            "3",
            "--max-date",
            "2022-12-31",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let lines = std::fs::read_to_string(&f).unwrap();
    assert_eq!(
        lines.lines().count(),
        3000 / 7 + 1 + 1,
        "ds 3 events and the trailer"
    );

    let (code, err) = run(&url, &["-o", fs]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("already exists") && err.contains("--resume"),
        "{err}"
    );
    let (code, err) = run(&url, &["-o", fs, "--resume"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no resume state"), "{err}");

    // A resume state for other filters is refused, not mixed into the file.
    std::fs::write(
        dir.path().join("a.ndjson.trail-resume"),
        format!(
            r#"{{"request":"{url}/v1/export?format=csv&form=original","gzip":false,"upTo":5,"after":2,"count":2,"chain":"{}","bytes":0}}"#,
            "0".repeat(64)
        ),
    )
    .unwrap();
    let (code, err) = run(&url, &["-o", fs, "--resume"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("belongs to a different download"), "{err}");

    let g = dir.path().join("b.ndjson");
    let gs = g.to_str().unwrap();
    let bad_key = download(&url, &["-o", gs])
        .env("TRAIL_API_KEY", "not-a-key")
        .output()
        .unwrap();
    assert_eq!(
        bad_key.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&bad_key.stderr)
    );
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("401"));
    let (code, err) = run(&url, &["-o", gs, "--min-date", "soon"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("parameter minDate"), "{err}");
    // Legacy records under --form uam are converted by the server: a complete download.
    let (code, err) = run(&url, &["-o", gs, "--form", "uam"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("complete"), "{err}");
    std::fs::remove_file(&g).ok();
    std::fs::remove_file(dir.path().join("b.ndjson.trail-resume")).ok();
    let stopped = served.stop();
    assert!(stopped.success());
    let (code, err) = run(&url, &["-o", gs, "--retries", "1"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("gave up after 2 attempts"), "{err}");
}

#[test]
fn without_an_export_endpoint_it_pages_get_audit_and_warns_that_paging_is_unstable() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir_with(dir.path(), 2500);
    let served = serve(dir.path(), &data);
    let url = served.url();
    let f = dir.path().join("hits.json");
    let (code, err) = run(
        &url,
        &[
            "-o",
            f.to_str().unwrap(),
            "--format",
            "json",
            "--max-date",
            "2022-12-31",
            "--export-path",
            "/v1/no-such-export",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("NOT stable under concurrent writes"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2500);
    assert_eq!(hits[0]["id"], "e0", "oldest first");
    assert_eq!(hits[2499]["id"], "e2499");
    assert_eq!(hits[0]["dateTime"], "1646092800000", "legacy hits");

    let c = dir.path().join("hits.csv");
    let (code, err) = run(
        &url,
        &[
            "-o",
            c.to_str().unwrap(),
            "--format",
            "csv",
            "--form",
            "legacy",
            "--data-source-id",
            "1",
            "--max-date",
            "2022-12-31",
            "--export-path",
            "/v1/no-such-export",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    // The fallback's CSV is the export's legacy CSV without the trailer line.
    let exported = served_export_csv(&url);
    let fallback = std::fs::read_to_string(&c).unwrap();
    let without_trailer: String = exported
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(fallback, without_trailer);
    served.stop();
}

fn served_export_csv(url: &str) -> String {
    ureq::get(&format!(
        "{url}/v1/export?format=csv&form=legacy&dataSourceId=1&maxDate=2022-12-31"
    ))
    .set("Authorization", KEY)
    .call()
    .unwrap()
    .into_string()
    .unwrap()
}
