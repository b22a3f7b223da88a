//! `trail import`: offline bulk load into a data directory, with a progress bar and a summary.
//!
//! Accepted files: NDJSON (one object per line), a JSON array of objects, one JSON object, or the
//! `{"hits": [...]}` document that Immuta's audit download writes. Objects that fail validation
//! are counted and listed with file, line or index, field and reason; everything else is stored.
//! Re-running an import is safe: events already stored are reported as duplicates. UAM events
//! are checked against the catalogue as on `POST /v1/events` (`trail_model::validate`); unknown
//! event types are rejected unless `--accept-unknown-event-types` is given.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::value::RawValue;
use trail_store::embedded::EmbeddedStore;
use trail_store::NewEvent;

#[derive(Default)]
struct Summary {
    stored: u64,
    duplicates: u64,
    rejected: u64,
    reasons: Vec<String>,
}

const SHOWN_REASONS: usize = 20;

impl Summary {
    fn reject(&mut self, file: &Path, place: Place, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < SHOWN_REASONS {
            self.reasons
                .push(format!("{}: {place}: {reason}", file.display()));
        }
    }
}

/// Where an object sits in its file, for rejection reasons.
#[derive(Clone, Copy)]
enum Place {
    Line(usize),
    Index(usize),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// One batch of objects as read from a file, numbered so the appender can restore file order.
struct RawChunk {
    no: u64,
    file: usize,
    bytes: u64,
    items: Vec<(Place, String)>,
}

/// A chunk after parsing and validation: the events to append and the objects rejected.
struct ParsedChunk {
    no: u64,
    file: usize,
    bytes: u64,
    events: Vec<NewEvent>,
    rejects: Vec<(Place, String)>,
}

fn parse_chunk(chunk: RawChunk, accept_unknown: bool) -> ParsedChunk {
    let mut events = Vec::with_capacity(chunk.items.len());
    let mut rejects = Vec::new();
    for (place, doc) in chunk.items {
        let checked = NewEvent::parse(doc).and_then(|ev| {
            if ev.dims.form == trail_model::EventForm::Uam {
                trail_model::validate_event(&ev.document, accept_unknown)?;
            }
            Ok(ev)
        });
        match checked {
            Ok(ev) => events.push(ev),
            Err(e) => rejects.push((place, e.to_string())),
        }
    }
    ParsedChunk {
        no: chunk.no,
        file: chunk.file,
        bytes: chunk.bytes,
        events,
        rejects,
    }
}

/// Cuts the objects of the files into chunks of `batch_size` and sends each to the parsers;
/// reading stops once they have stopped.
struct Reader<'a> {
    batch_size: usize,
    next_no: u64,
    parsers: &'a mpsc::SyncSender<RawChunk>,
}

impl Reader<'_> {
    fn emit(&mut self, file: usize, bytes: u64, items: Vec<(Place, String)>) -> bool {
        let chunk = RawChunk {
            no: self.next_no,
            file,
            bytes,
            items,
        };
        self.next_no += 1;
        self.parsers.send(chunk).is_ok()
    }

    fn read_file(&mut self, file: usize, path: &Path) -> Result<()> {
        let (first, ndjson) = sniff(path)?;
        if first.is_none() {
            return Ok(());
        }
        let mut items = Vec::with_capacity(self.batch_size);
        let mut bytes = 0u64;
        if ndjson {
            let reader = BufReader::with_capacity(1 << 20, File::open(path)?);
            for (i, line) in reader.lines().enumerate() {
                let line =
                    line.with_context(|| format!("cannot read {} line {}", path.display(), i + 1))?;
                bytes += line.len() as u64 + 1;
                if line.trim().is_empty() {
                    continue;
                }
                items.push((Place::Line(i + 1), line));
                if items.len() >= self.batch_size {
                    let full = std::mem::replace(&mut items, Vec::with_capacity(self.batch_size));
                    if !self.emit(file, std::mem::take(&mut bytes), full) {
                        return Ok(());
                    }
                }
            }
            self.emit(file, bytes, items);
            return Ok(());
        }
        let mut text = String::new();
        File::open(path)?
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
        let objects: Vec<&RawValue> = match first {
            Some(b'[') => serde_json::from_str(&text).with_context(|| format!("{} is not a valid JSON array", path.display()))?,
            _ => match serde_json::from_str::<Hits>(&text) {
                Ok(h) => h.hits,
                Err(_) => vec![serde_json::from_str(&text).with_context(|| format!("{} is neither NDJSON, a JSON array, a JSON object nor a {{\"hits\": [...]}} document", path.display()))?],
            },
        };
        // The bar advances by each chunk's share of the file.
        let per_object = text.len() as u64 / objects.len().max(1) as u64;
        let count = objects.len();
        for (i, object) in objects.into_iter().enumerate() {
            items.push((Place::Index(i), object.get().to_string()));
            if items.len() >= self.batch_size || i + 1 == count {
                let full = std::mem::replace(&mut items, Vec::with_capacity(self.batch_size));
                let share = if i + 1 == count {
                    text.len() as u64 - per_object * (i + 1 - full.len()) as u64
                } else {
                    per_object * full.len() as u64
                };
                if !self.emit(file, share, full) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// First non-whitespace byte and whether the first line alone is a complete JSON object.
fn sniff(path: &Path) -> Result<(Option<u8>, bool)> {
    let mut reader = BufReader::new(
        File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
    );
    let mut first_line = String::new();
    loop {
        first_line.clear();
        if reader.read_line(&mut first_line)? == 0 {
            return Ok((None, false));
        }
        if !first_line.trim().is_empty() {
            break;
        }
    }
    let first = first_line.trim_start().bytes().next();
    let line_is_object = serde_json::from_str::<&RawValue>(first_line.trim()).is_ok();
    let more = {
        let mut rest = String::new();
        loop {
            rest.clear();
            if reader.read_line(&mut rest)? == 0 {
                break false;
            }
            if !rest.trim().is_empty() {
                break true;
            }
        }
    };
    Ok((first, line_is_object && more))
}

#[derive(serde::Deserialize)]
struct Hits<'a> {
    #[serde(borrow)]
    hits: Vec<&'a RawValue>,
}

/// Appends parsed chunks strictly in chunk order, so sequence numbers follow the files' order
/// and the first occurrence of a repeated id is the one stored.
fn append_in_order(
    store: &EmbeddedStore,
    files: &[PathBuf],
    parsed: mpsc::Receiver<ParsedChunk>,
    bar: &ProgressBar,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut waiting: BTreeMap<u64, ParsedChunk> = BTreeMap::new();
    let mut next_no = 0u64;
    for chunk in parsed {
        waiting.insert(chunk.no, chunk);
        while let Some(chunk) = waiting.remove(&next_no) {
            next_no += 1;
            for (place, reason) in chunk.rejects {
                summary.reject(&files[chunk.file], place, reason);
            }
            if !chunk.events.is_empty() {
                let report = store.append_blocking(chunk.events)?;
                summary.stored += report.stored;
                summary.duplicates += report.duplicates;
            }
            bar.inc(chunk.bytes);
            bar.set_message(format!(
                "{} stored, {} duplicates, {} rejected",
                summary.stored, summary.duplicates, summary.rejected
            ));
        }
    }
    Ok(summary)
}

pub fn run(
    data_dir: &Path,
    files: &[PathBuf],
    batch_size: usize,
    accept_unknown: bool,
) -> Result<()> {
    let store = EmbeddedStore::open(data_dir)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = import_files(&store, files, batch_size.max(1), accept_unknown, &bar)?;
    bar.finish_and_clear();
    let s = &summary;
    println!(
        "Imported into {}: {} stored, {} duplicates, {} rejected.",
        data_dir.display(),
        s.stored,
        s.duplicates,
        s.rejected
    );
    for r in &s.reasons {
        println!("  rejected {r}");
    }
    if s.rejected as usize > s.reasons.len() {
        println!(
            "  ... and {} more rejected",
            s.rejected as usize - s.reasons.len()
        );
    }
    Ok(())
}

/// The import pipeline: this thread reads and cuts chunks, parser threads (one per core) parse
/// and validate them, and one appender stores them in file order. Parsing, which is about a
/// third of the cost of an event, so runs beside the appends instead of between them.
fn import_files(
    store: &EmbeddedStore,
    files: &[PathBuf],
    batch_size: usize,
    accept_unknown: bool,
    bar: &ProgressBar,
) -> Result<Summary> {
    let parsers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    let (raw_tx, raw_rx) = mpsc::sync_channel::<RawChunk>(parsers * 2);
    let (parsed_tx, parsed_rx) = mpsc::sync_channel::<ParsedChunk>(parsers * 2);
    // Each parser holds the receiver, so when they all stop (the appender failed) the reader's
    // next send fails instead of blocking.
    let raw_rx = Arc::new(Mutex::new(raw_rx));
    std::thread::scope(|scope| {
        let appender = scope.spawn(|| append_in_order(store, files, parsed_rx, bar));
        for _ in 0..parsers {
            let parsed_tx = parsed_tx.clone();
            let raw_rx = Arc::clone(&raw_rx);
            scope.spawn(move || loop {
                let next = raw_rx
                    .lock()
                    .map_err(drop)
                    .and_then(|rx| rx.recv().map_err(drop));
                let Ok(chunk) = next else { return };
                if parsed_tx.send(parse_chunk(chunk, accept_unknown)).is_err() {
                    return;
                }
            });
        }
        drop(parsed_tx);
        drop(raw_rx);
        let mut reader = Reader {
            batch_size,
            next_no: 0,
            parsers: &raw_tx,
        };
        let read = files
            .iter()
            .enumerate()
            .try_for_each(|(i, path)| reader.read_file(i, path));
        drop(raw_tx);
        let appended = appender
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the import's appender thread panicked")));
        // An append error explains a stopped read; otherwise a read error is the one to report.
        let summary = appended?;
        read?;
        Ok(summary)
    })
}
