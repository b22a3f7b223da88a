//! `trail import`: offline bulk load into a data directory, with a progress bar and a summary.
//!
//! Accepted files: NDJSON (one object per line), a JSON array of objects, one JSON object, or the
//! `{"hits": [...]}` document that Immuta's audit download writes. Objects that fail validation
//! are counted and listed with file, line or index, field and reason; everything else is stored.
//! Re-running an import is safe: events already stored are reported as duplicates. UAM events
//! are checked against the catalogue as on `POST /v1/events` (`trail_model::validate`); unknown
//! event types are rejected unless `--accept-unknown-event-types` is given.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

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
    fn reject(&mut self, file: &Path, place: String, reason: String) {
        self.rejected += 1;
        if self.reasons.len() < SHOWN_REASONS {
            self.reasons
                .push(format!("{}: {place}: {reason}", file.display()));
        }
    }
}

struct Loader<'a> {
    store: &'a EmbeddedStore,
    batch: Vec<NewEvent>,
    batch_size: usize,
    summary: Summary,
    bar: ProgressBar,
    accept_unknown: bool,
}

impl Loader<'_> {
    fn add(&mut self, file: &Path, place: impl FnOnce() -> String, doc: String) -> Result<()> {
        let checked = NewEvent::parse(doc).and_then(|ev| {
            if ev.dims.form == trail_model::EventForm::Uam {
                trail_model::validate_event(&ev.document, self.accept_unknown)?;
            }
            Ok(ev)
        });
        match checked {
            Ok(ev) => {
                self.batch.push(ev);
                if self.batch.len() >= self.batch_size {
                    self.flush()?;
                }
            }
            Err(e) => self.summary.reject(file, place(), e.to_string()),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let report = self
            .store
            .append_blocking(std::mem::take(&mut self.batch))?;
        self.summary.stored += report.stored;
        self.summary.duplicates += report.duplicates;
        self.bar.set_message(format!(
            "{} stored, {} duplicates, {} rejected",
            self.summary.stored, self.summary.duplicates, self.summary.rejected
        ));
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

fn load_file(loader: &mut Loader, path: &Path) -> Result<()> {
    let (first, ndjson) = sniff(path)?;
    if first.is_none() {
        return Ok(());
    }
    if ndjson {
        let reader = BufReader::with_capacity(1 << 20, File::open(path)?);
        for (i, line) in reader.lines().enumerate() {
            let line =
                line.with_context(|| format!("cannot read {} line {}", path.display(), i + 1))?;
            loader.bar.inc(line.len() as u64 + 1);
            if line.trim().is_empty() {
                continue;
            }
            loader.add(path, || format!("line {}", i + 1), line)?;
        }
        return Ok(());
    }
    let mut text = String::new();
    File::open(path)?
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    loader.bar.inc(text.len() as u64);
    let items: Vec<&RawValue> = match first {
        Some(b'[') => serde_json::from_str(&text).with_context(|| format!("{} is not a valid JSON array", path.display()))?,
        _ => match serde_json::from_str::<Hits>(&text) {
            Ok(h) => h.hits,
            Err(_) => vec![serde_json::from_str(&text).with_context(|| format!("{} is neither NDJSON, a JSON array, a JSON object nor a {{\"hits\": [...]}} document", path.display()))?],
        },
    };
    for (i, item) in items.into_iter().enumerate() {
        loader.add(path, || format!("index {i}"), item.get().to_string())?;
    }
    Ok(())
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
    let mut loader = Loader {
        store: &store,
        batch: Vec::new(),
        batch_size: batch_size.max(1),
        summary: Summary::default(),
        bar,
        accept_unknown,
    };
    for f in files {
        load_file(&mut loader, f)?;
    }
    loader.flush()?;
    loader.bar.finish_and_clear();
    let s = &loader.summary;
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
