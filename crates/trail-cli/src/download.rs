//! `trail download`: gets a whole audit trail out of a Trail server into a file, resumably and
//! verifiably, through `GET /v1/export`; against a server that only speaks Immuta's `GET /audit`
//! it pages with offset/size instead (and says that such paging is not stable).
//!
//! Resume design: the client asks for the export's framing (`frame=true`, documented in
//! `trail-server`'s `export` module): the same bytes as the plain export, plus a checkpoint
//! `(seq, count, chain)` after each chunk of events. The client holds the bytes since the last
//! checkpoint in memory, and at each checkpoint writes them (with `--gzip` as one complete gzip
//! member), flushes and syncs the file, and only then replaces the sidecar `FILE.trail-resume`
//! (JSON: the request, `upTo`, the checkpoint, and the file length it covers). A download killed
//! at any moment leaves a file whose first `bytes` bytes are whole checkpoints; `--resume`
//! truncates to that length and asks for the rest with `after`/`upTo`/`count`/`chain`, so the
//! finished file is byte-identical to an uninterrupted download and ends with the same trailer.
//! The sidecar is removed when the trailer has arrived and matches the last checkpoint.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use flate2::write::GzEncoder;
use flate2::Compression;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trail_server::export_chain::ExportChain;

/// Exit codes of `trail download` (also listed in its `--help`).
pub mod exit {
    /// The export is complete and its trailer checked.
    pub const OK: i32 = 0;
    /// A local problem: the output file, the resume state, or bad arguments.
    pub const LOCAL: i32 = 1;
    /// The server refused the request (400 bad parameter, 401 bad key, 403 missing permission).
    pub const REFUSED: i32 = 3;
    /// Network errors or 5xx persisted through every retry; the partial file and its resume
    /// state are kept: run again with `--resume`.
    pub const GAVE_UP: i32 = 4;
    /// The server stopped the export with an error, or the trailer did not match the data.
    pub const BROKEN: i32 = 5;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  complete: every event written and the trailer (count and hash chain) checked
  1  local problem: output file exists (use --resume or --force), unreadable resume state, I/O error
  2  invalid command line
  3  the server refused the request (400 bad parameter, 401 bad API key, 403 missing permission)
  4  network errors or 5xx persisted through all retries; FILE and FILE.trail-resume are kept:
     run the same command with --resume to continue
  5  the server stopped the export with an error, or the trailer did not match what was received

Against a server without /v1/export (404), trail download pages through GET /audit with
offset/size instead. Such paging is not stable under concurrent writes (events can be missed or
repeated), has no trailer and cannot be resumed; a warning says so.";

/// Arguments of `trail download`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct DownloadArgs {
    /// Base URL of the Trail (or Immuta) server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// API key (sent as `Authorization: <key>`).
    #[arg(long, env = "TRAIL_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    format: Format,
    /// Form of each event: as stored, the 14-field legacy hit, or UAM.
    #[arg(long, value_enum, default_value_t = Form::Original)]
    form: Form,
    /// Write a gzip file (one gzip member per checkpoint; `gzip -d` and zcat read it whole).
    #[arg(long)]
    gzip: bool,
    /// Continue a partial download of FILE from its resume state FILE.trail-resume.
    #[arg(long)]
    resume: bool,
    /// Overwrite FILE if it exists (and forget its resume state).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Snapshot bound: export events up to this sequence number [default: the server's last
    /// one when the download starts].
    #[arg(long)]
    up_to: Option<u64>,
    /// Ask the server to gzip the transfer (worth it over slow links).
    #[arg(long)]
    compress_transfer: bool,
    /// Attempts per failure (network errors, 5xx) before giving up; backoff doubles from 0.5 s
    /// to 30 s. Reset whenever a checkpoint arrives.
    #[arg(long, default_value_t = 8)]
    retries: u32,
    /// Data source ids (repeat or comma list).
    #[arg(long, value_delimiter = ',')]
    data_source_id: Vec<i64>,
    /// Project ids.
    #[arg(long, value_delimiter = ',')]
    project_id: Vec<i64>,
    /// Profile ids (users).
    #[arg(long, value_delimiter = ',')]
    profile_id: Vec<i64>,
    /// Legacy record types.
    #[arg(long, value_delimiter = ',')]
    record_type: Vec<String>,
    /// Outcomes (success, failure, ...).
    #[arg(long, value_delimiter = ',')]
    outcome: Vec<String>,
    /// Oldest event time, inclusive (date, ISO-8601 or epoch ms).
    #[arg(long)]
    min_date: Option<String>,
    /// Newest event time, inclusive (a date means the end of that day).
    #[arg(long)]
    max_date: Option<String>,
    /// Blob id.
    #[arg(long)]
    blob_id: Option<String>,
    /// Purpose id.
    #[arg(long)]
    purpose: Option<i64>,
    /// Path of the export endpoint (for servers that mount it elsewhere).
    #[arg(long, default_value = "/v1/export", hide = true)]
    export_path: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Format {
    Ndjson,
    Json,
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Form {
    Original,
    Legacy,
    Uam,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Original => "original",
            Form::Legacy => "legacy",
            Form::Uam => "uam",
        }
    }
}

/// The resume state kept next to the output file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeState {
    /// The request it belongs to (URL, filters, format, form); a resume must repeat it.
    request: String,
    gzip: bool,
    up_to: u64,
    /// Sequence number of the last event in the file.
    after: u64,
    /// Events in the file.
    count: u64,
    /// Hash chain after those events (hex).
    chain: String,
    /// Length of the file that these cover.
    bytes: u64,
}

/// How one attempt ended.
enum Attempt {
    /// The trailer arrived: done.
    Complete,
    /// The server has no export endpoint.
    NoExport,
    /// Worth retrying (network error, 5xx, stream cut); progress made or not.
    Retry(String),
    /// Give up with this exit code and message.
    Fail(i32, String),
}

/// Runs `trail download` and exits the process with the documented code.
pub fn main(args: DownloadArgs) -> ! {
    let code = match run(&args) {
        Ok(()) => exit::OK,
        Err((code, e)) => {
            eprintln!("trail download: {e:#}");
            code
        }
    };
    std::process::exit(code)
}

type Outcome<T> = std::result::Result<T, (i32, anyhow::Error)>;

fn local<T>(r: Result<T>) -> Outcome<T> {
    r.map_err(|e| (exit::LOCAL, e))
}

fn sidecar_of(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".trail-resume");
    PathBuf::from(s)
}

fn filters(args: &DownloadArgs) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    let join = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    if !args.data_source_id.is_empty() {
        q.push(("dataSourceId", join(&args.data_source_id)));
    }
    if !args.project_id.is_empty() {
        q.push(("projectId", join(&args.project_id)));
    }
    if !args.profile_id.is_empty() {
        q.push(("profileId", join(&args.profile_id)));
    }
    if !args.record_type.is_empty() {
        q.push(("recordType", args.record_type.join(",")));
    }
    if !args.outcome.is_empty() {
        q.push(("outcome", args.outcome.join(",")));
    }
    for (name, v) in [
        ("minDate", &args.min_date),
        ("maxDate", &args.max_date),
        ("blobId", &args.blob_id),
    ] {
        if let Some(v) = v {
            q.push((name, v.clone()));
        }
    }
    if let Some(p) = args.purpose {
        q.push(("purpose", p.to_string()));
    }
    q
}

fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn run(args: &DownloadArgs) -> Outcome<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let mut query = filters(args);
    query.push(("format", args.format.name().to_string()));
    query.push(("form", args.form.name().to_string()));
    let request = format!("{base}{}?{}", args.export_path, encode(&query));
    let sidecar = sidecar_of(&args.output);

    let mut state: Option<ResumeState> = None;
    if args.resume && sidecar.exists() {
        let text = local(
            std::fs::read_to_string(&sidecar)
                .with_context(|| format!("cannot read the resume state {}", sidecar.display())),
        )?;
        let s: ResumeState = local(
            serde_json::from_str(&text)
                .with_context(|| format!("the resume state {} is damaged", sidecar.display())),
        )?;
        if s.request != request || s.gzip != args.gzip {
            return Err((
                exit::LOCAL,
                anyhow!(
                    "{} belongs to a different download ({}{}); repeat its options or use --force to start over",
                    sidecar.display(),
                    s.request,
                    if s.gzip { " --gzip" } else { "" }
                ),
            ));
        }
        if let Some(u) = args.up_to {
            if u != s.up_to {
                return Err((exit::LOCAL, anyhow!("--up-to {u} differs from the interrupted download's bound {}; leave it out", s.up_to)));
            }
        }
        state = Some(s);
    } else if args.output.exists() && !args.force {
        let hint = if args.resume {
            "it has no resume state (FILE.trail-resume), so it cannot be continued; use --force to start over"
        } else {
            "use --resume to continue it or --force to overwrite it"
        };
        return Err((
            exit::LOCAL,
            anyhow!("{} already exists; {hint}", args.output.display()),
        ));
    }

    let mut out = local(Output::open(&args.output, state.as_ref(), args.gzip))?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(120))
        .build();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {wide_bar} {human_pos}/{human_len} events  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut dl = Download {
        args,
        agent,
        request,
        sidecar,
        state,
        bar,
    };
    let mut failures = 0u32;
    let mut backoff = Duration::from_millis(500);
    loop {
        let before = dl.state.as_ref().map(|s| s.count);
        match dl.attempt(&mut out) {
            Attempt::Complete => {
                dl.bar.finish_and_clear();
                let _ = std::fs::remove_file(&dl.sidecar);
                eprintln!(
                    "{}: {} events, complete (trailer checked)",
                    args.output.display(),
                    out.events
                );
                return Ok(());
            }
            Attempt::NoExport => {
                dl.bar.finish_and_clear();
                return fallback(&dl, out);
            }
            Attempt::Fail(code, message) => {
                dl.bar.abandon();
                let kept = if dl.state.is_some() {
                    format!("; the partial file and {} are kept", dl.sidecar.display())
                } else {
                    drop(out);
                    let _ = std::fs::remove_file(&args.output);
                    String::new()
                };
                return Err((code, anyhow!("{message}{kept}")));
            }
            Attempt::Retry(why) => {
                if dl.state.as_ref().map(|s| s.count) != before {
                    failures = 0;
                    backoff = Duration::from_millis(500);
                }
                failures += 1;
                if failures > args.retries {
                    dl.bar.abandon();
                    let next = if dl.state.is_some() {
                        format!(
                            "{} and {} are kept: run the same command with --resume to continue",
                            args.output.display(),
                            dl.sidecar.display()
                        )
                    } else {
                        drop(out);
                        let _ = std::fs::remove_file(&args.output);
                        "nothing was written".to_string()
                    };
                    return Err((
                        exit::GAVE_UP,
                        anyhow!("gave up after {failures} attempts: {why}; {next}"),
                    ));
                }
                dl.bar
                    .println(format!("{why}; retrying in {:.1} s", backoff.as_secs_f32()));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                local(out.rewind(dl.state.as_ref()))?;
            }
        }
    }
}

struct Download<'a> {
    args: &'a DownloadArgs,
    agent: ureq::Agent,
    request: String,
    sidecar: PathBuf,
    state: Option<ResumeState>,
    bar: ProgressBar,
}

impl Download<'_> {
    fn attempt(&mut self, out: &mut Output) -> Attempt {
        let mut url = format!("{}&frame=true", self.request);
        match (&self.state, self.args.up_to) {
            (Some(s), _) => url.push_str(&format!(
                "&upTo={}&after={}&count={}&chain={}",
                s.up_to, s.after, s.count, s.chain
            )),
            (None, Some(u)) => url.push_str(&format!("&upTo={u}")),
            (None, None) => {}
        }
        let encoding = if self.args.compress_transfer {
            "gzip"
        } else {
            "identity"
        };
        let resp = match self
            .agent
            .get(&url)
            .set("Authorization", &self.args.api_key)
            .set("Accept-Encoding", encoding)
            .call()
        {
            Ok(r) => r,
            Err(ureq::Error::Status(status, r)) => return self.refused(status, r),
            Err(e) => return Attempt::Retry(format!("network error: {e}")),
        };
        let header_u64 = |name: &str| resp.header(name).and_then(|v| v.parse::<u64>().ok());
        let Some(up_to) = header_u64("trail-export-up-to") else {
            return Attempt::Fail(
                exit::BROKEN,
                "the server's answer is not a Trail export (no Trail-Export-Up-To header)"
                    .to_string(),
            );
        };
        let matching = header_u64("trail-export-matching").unwrap_or(0);
        let done = self.state.as_ref().map_or(0, |s| s.count);
        self.bar.set_length(matching.max(done));
        self.bar.set_position(done);
        out.events = done;
        let mut reader = BufReader::with_capacity(1 << 18, resp.into_reader());
        let mut line = Vec::with_capacity(128);
        let mut since_tick = 0u32;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    return Attempt::Retry("the server closed the export before its end".into())
                }
                Ok(_) => {}
                Err(e) => return Attempt::Retry(format!("reading the export failed: {e}")),
            }
            let text = String::from_utf8_lossy(&line);
            let fields: Vec<&str> = text.trim_end().split(' ').collect();
            let payload_len = || fields.last().and_then(|l| l.parse::<usize>().ok());
            match fields[0] {
                "H" | "E" | "T" | "X" => {
                    let Some(len) = payload_len() else {
                        return Attempt::Fail(
                            exit::BROKEN,
                            format!("malformed frame header '{}'", text.trim_end()),
                        );
                    };
                    let at = out.pending.len();
                    out.pending.resize(at + len, 0);
                    if let Err(e) = reader.read_exact(&mut out.pending[at..]) {
                        return Attempt::Retry(format!("reading the export failed: {e}"));
                    }
                    match fields[0] {
                        "E" => {
                            out.events += 1;
                            since_tick += 1;
                            if since_tick == 1024 {
                                self.bar.inc(1024);
                                since_tick = 0;
                            }
                        }
                        "X" => {
                            let message = String::from_utf8_lossy(&out.pending[at..]).into_owned();
                            out.pending.truncate(at);
                            return Attempt::Fail(
                                exit::BROKEN,
                                format!("the server stopped the export: {message}"),
                            );
                        }
                        "T" => return self.finish(out, at),
                        _ => {}
                    }
                }
                "C" if fields.len() == 4 => {
                    let (Ok(after), Ok(count)) =
                        (fields[1].parse::<u64>(), fields[2].parse::<u64>())
                    else {
                        return Attempt::Fail(
                            exit::BROKEN,
                            format!("malformed checkpoint '{}'", text.trim_end()),
                        );
                    };
                    if count != out.events {
                        return Attempt::Fail(
                            exit::BROKEN,
                            format!("checkpoint says {count} events, {} received", out.events),
                        );
                    }
                    let bytes = match out.commit() {
                        Ok(b) => b,
                        Err(e) => {
                            return Attempt::Fail(
                                exit::LOCAL,
                                format!("writing {} failed: {e:#}", self.args.output.display()),
                            )
                        }
                    };
                    let s = ResumeState {
                        request: self.request.clone(),
                        gzip: self.args.gzip,
                        up_to,
                        after,
                        count,
                        chain: fields[3].to_string(),
                        bytes,
                    };
                    if let Err(e) = write_state(&self.sidecar, &s) {
                        return Attempt::Fail(exit::LOCAL, format!("{e:#}"));
                    }
                    self.state = Some(s);
                    self.bar.set_position(count);
                    since_tick = 0;
                }
                _ => {
                    return Attempt::Fail(
                        exit::BROKEN,
                        format!(
                            "unexpected frame '{}'",
                            text.trim_end().chars().take(80).collect::<String>()
                        ),
                    )
                }
            }
        }
    }

    /// The trailer arrived (its bytes start at `at` in the pending buffer): check it, write it.
    fn finish(&mut self, out: &mut Output, at: usize) -> Attempt {
        let trailer = String::from_utf8_lossy(&out.pending[at..]).into_owned();
        let (events, chain) = match parse_trailer(&trailer) {
            Some(t) => t,
            None => return Attempt::Fail(exit::BROKEN, format!("unreadable trailer: {trailer}")),
        };
        let restored = match &self.state {
            None => Ok(ExportChain::new()),
            Some(s) => ExportChain::from_token(&s.chain, s.count),
        };
        let expected_chain = match restored {
            Ok(c) => hex::encode(c.digest()),
            Err(e) => {
                return Attempt::Fail(
                    exit::BROKEN,
                    format!("the last checkpoint is unusable: {e}"),
                )
            }
        };
        if events != out.events || chain != expected_chain {
            return Attempt::Fail(
                exit::BROKEN,
                format!(
                    "the trailer (events {events}, sha256 {chain}) does not match what was received (events {}, sha256 {expected_chain})",
                    out.events
                ),
            );
        }
        if let Err(e) = out.commit() {
            return Attempt::Fail(
                exit::LOCAL,
                format!("writing {} failed: {e:#}", self.args.output.display()),
            );
        }
        Attempt::Complete
    }

    fn refused(&self, status: u16, resp: ureq::Response) -> Attempt {
        let body: Value = resp.into_json().unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("").to_string();
        match status {
            404 if self.state.is_none() => Attempt::NoExport,
            400 | 401 | 403 | 404 => {
                let param = body["parameter"]
                    .as_str()
                    .map(|p| format!(" (parameter {p})"))
                    .unwrap_or_default();
                Attempt::Fail(
                    exit::REFUSED,
                    format!("the server refused the export: {status}{param}: {message}"),
                )
            }
            s if s >= 500 || s == 429 => Attempt::Retry(format!("server error {s}: {message}")),
            s => Attempt::Fail(exit::REFUSED, format!("unexpected answer {s}: {message}")),
        }
    }
}

/// `(events, sha256)` of a trailer in any format.
fn parse_trailer(t: &str) -> Option<(u64, String)> {
    let t = t.trim();
    if let Some(rest) = t.strip_prefix("# trailExport ") {
        let field = |name: &str| {
            rest.split(' ')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_string)
        };
        return Some((field("events")?.parse().ok()?, field("sha256")?));
    }
    // NDJSON: the whole line; JSON: `],"trailExport":{...}}`.
    let object = t
        .strip_prefix("],")
        .map(|r| format!("{{{r}"))
        .unwrap_or_else(|| t.to_string());
    let v: Value = serde_json::from_str(&object).ok()?;
    let te = &v["trailExport"];
    Some((te["events"].as_u64()?, te["sha256"].as_str()?.to_string()))
}

fn write_state(sidecar: &Path, s: &ResumeState) -> Result<()> {
    let tmp = sidecar.with_extension("trail-resume.tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(s)?.as_bytes())?;
    f.sync_data()?;
    std::fs::rename(&tmp, sidecar)
        .with_context(|| format!("cannot write the resume state {}", sidecar.display()))
}

/// The output file: bytes since the last checkpoint are held in `pending` and written whole at
/// the next checkpoint (as one gzip member with `--gzip`), then synced.
struct Output {
    file: File,
    gzip: bool,
    pending: Vec<u8>,
    events: u64,
}

impl Output {
    fn open(path: &Path, state: Option<&ResumeState>, gzip: bool) -> Result<Output> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(state.is_none())
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut out = Output {
            file,
            gzip,
            pending: Vec::new(),
            events: 0,
        };
        out.rewind(state)
            .with_context(|| format!("cannot prepare {}", path.display()))?;
        Ok(out)
    }

    /// Back to the last checkpoint: drop pending bytes, cut the file to the bytes it covers.
    fn rewind(&mut self, state: Option<&ResumeState>) -> Result<()> {
        let keep = state.map_or(0, |s| s.bytes);
        let len = self.file.metadata()?.len();
        if len < keep {
            bail!(
                "the file is shorter ({len} bytes) than its resume state says ({keep} bytes); it was changed after the download stopped: use --force to start over"
            );
        }
        self.file.set_len(keep)?;
        self.file.seek(SeekFrom::Start(keep))?;
        self.pending.clear();
        self.events = state.map_or(0, |s| s.count);
        Ok(())
    }

    /// Writes the pending bytes, syncs, and returns the file length they end at.
    fn commit(&mut self) -> Result<u64> {
        if !self.pending.is_empty() {
            if self.gzip {
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                gz.write_all(&self.pending)?;
                self.file.write_all(&gz.finish()?)?;
            } else {
                self.file.write_all(&self.pending)?;
            }
            self.pending.clear();
        }
        self.file.sync_data()?;
        Ok(self.file.stream_position()?)
    }
}

/// Pages through `GET /audit` (sorted ascending) for a server without `/v1/export`.
fn fallback(dl: &Download<'_>, mut out: Output) -> Outcome<()> {
    let args = dl.args;
    eprintln!(
        "warning: {} has no {} (not Trail, or an older version): paging through GET /audit with offset/size instead. Such paging is NOT stable under concurrent writes: events written meanwhile can be missed or repeated. There is no trailer and no resume; events are in the legacy form.",
        args.url, args.export_path
    );
    if args.form == Form::Uam {
        return Err((
            exit::LOCAL,
            anyhow!("--form uam needs /v1/export; GET /audit only gives legacy hits"),
        ));
    }
    const PAGE: u64 = 1000;
    let base = args.url.trim_end_matches('/');
    let filter = encode(&filters(args));
    let mut offset = 0u64;
    let mut total: Option<u64> = None;
    let header: &[u8] = match args.format {
        Format::Ndjson => b"",
        Format::Json => b"{\"hits\":[",
        Format::Csv => LEGACY_CSV_HEADER.as_bytes(),
    };
    out.pending.extend_from_slice(header);
    loop {
        let url = format!(
            "{base}/audit?{filter}{}sortField=dateTime&sortOrder=asc&offset={offset}&size={PAGE}",
            if filter.is_empty() { "" } else { "&" }
        );
        let page = get_page(dl, &url)?;
        let hits = page["hits"].as_array().cloned().unwrap_or_default();
        let count = page["count"].as_u64().unwrap_or(0);
        if total.is_none() {
            total = Some(count);
            dl.bar.set_length(count);
        }
        for hit in &hits {
            match args.format {
                Format::Ndjson => {
                    out.pending.extend_from_slice(hit.to_string().as_bytes());
                    out.pending.push(b'\n');
                }
                Format::Json => {
                    if out.events > 0 {
                        out.pending.push(b',');
                    }
                    out.pending.extend_from_slice(hit.to_string().as_bytes());
                }
                Format::Csv => csv_row(hit, &mut out.pending),
            }
            out.events += 1;
        }
        dl.bar.set_position(out.events);
        offset += hits.len() as u64;
        local(out.commit())?;
        if (hits.len() as u64) < PAGE || offset >= total.unwrap_or(0) {
            break;
        }
    }
    if args.format == Format::Json {
        out.pending.extend_from_slice(b"]}\n");
    }
    local(out.commit())?;
    dl.bar.finish_and_clear();
    eprintln!(
        "{}: {} events from GET /audit paging (no trailer: completeness cannot be checked)",
        args.output.display(),
        out.events
    );
    Ok(())
}

fn get_page(dl: &Download<'_>, url: &str) -> Outcome<Value> {
    let mut backoff = Duration::from_millis(500);
    let mut failures = 0;
    loop {
        let why = match dl
            .agent
            .get(url)
            .set("Authorization", &dl.args.api_key)
            .call()
        {
            Ok(r) => match r.into_json::<Value>() {
                Ok(v) => return Ok(v),
                Err(e) => format!("reading a page failed: {e}"),
            },
            Err(ureq::Error::Status(s, r)) if s < 500 && s != 429 => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                return Err((
                    exit::REFUSED,
                    anyhow!(
                        "the server refused GET /audit: {s}: {}",
                        body["message"].as_str().unwrap_or("")
                    ),
                ));
            }
            Err(e) => format!("{e}"),
        };
        failures += 1;
        if failures > dl.args.retries {
            return Err((
                exit::GAVE_UP,
                anyhow!("gave up after {failures} attempts: {why}"),
            ));
        }
        dl.bar
            .println(format!("{why}; retrying in {:.1} s", backoff.as_secs_f32()));
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

const LEGACY_CSV_HEADER: &str = "dateTime,dataSourceName,projectName,recordType,blobId,userId,profileId,purposeIds,success,failureReason,warning,id,fingerprintVersionName,email\n";

/// One legacy hit as a CSV row in the export's column order (same quoting as the server's).
fn csv_row(hit: &Value, out: &mut Vec<u8>) {
    for (i, column) in LEGACY_CSV_HEADER.trim_end().split(',').enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let text = match &hit[column] {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.starts_with('#')
            || text
                .bytes()
                .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            out.push(b'"');
            out.extend_from_slice(text.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_of_every_format_parse() {
        let h = "ab".repeat(32);
        let nd = format!(
            "{{\"trailExport\":{{\"events\":3,\"lastSeq\":9,\"upTo\":10,\"sha256\":\"{h}\"}}}}\n"
        );
        assert_eq!(parse_trailer(&nd), Some((3, h.clone())));
        let js = format!(
            "],\"trailExport\":{{\"events\":3,\"lastSeq\":9,\"upTo\":10,\"sha256\":\"{h}\"}}}}\n"
        );
        assert_eq!(parse_trailer(&js), Some((3, h.clone())));
        let csv = format!("# trailExport events=3 lastSeq=9 upTo=10 sha256={h}\n");
        assert_eq!(parse_trailer(&csv), Some((3, h)));
        assert_eq!(parse_trailer("garbage"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            percent("2024-06-12T10:00:00+02:00"),
            "2024-06-12T10:00:00%2B02:00"
        );
        assert_eq!(percent("a b&c"), "a%20b%26c");
    }
}
