//! The export service: configuration CRUD, runs (their planning, execution, retry and commit)
//! and the scheduler. The server and the CLI both drive exports through [`ExportService`].
//!
//! A run's contract (what makes a retried run leave no gap and no duplicate):
//! 1. A new run fixes its bounds once: `afterSeq` = the config's `exportedThroughSeq`,
//!    `upToSeq` = the store's `last_seq` at the run's start, and its received-time window
//!    `[previous windowEnd, now]`. Events committed after the start (late arrivals included,
//!    whatever their event time) belong to the next run.
//! 2. Tasks scan `scan_matching(filter, cursor, upToSeq, maxEventsPerObject)`: the same cursor
//!    always yields the same events, so a task's object name
//!    `<prefix>/<window>/events-<firstSeq:020>-<lastSeq:020>.ndjson.gz` and bytes are
//!    deterministic. The cursor moves (in `exports.redb`) only after the object is written.
//! 3. The manifest is written last; then the run's success and the config's new
//!    `exportedThroughSeq = upToSeq` are committed in one transaction.
//! 4. A failed or interrupted run is resumed, not replaced: the next execution keeps its bounds
//!    and window and continues from its cursor; an object written but not yet committed is
//!    written again under the same name with the same bytes.
//!
//! Shutdown ([`ExportService::shutdown`]): no new run starts, and a run in progress finishes
//! the object it is writing, commits its cursor and stops there (recorded as failed,
//! "interrupted", and resumed by rule 4 at the next start), within a grace period
//! ([`SHUTDOWN_GRACE`] for `trail serve`). A run still busy after it is cut by the process
//! exit; rule 4 covers that case too, at the cost of rewriting one object.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};
use trail_store::AuditStore;

use crate::config::{ConfigInput, ExportConfig};
use crate::db::ExportDb;
use crate::error::ExportError;
use crate::runs::{ExportState, RunRecord, Status, TaskRecord, Trigger};
use crate::target::Sink;

/// The time source: epoch milliseconds. Tests pass a clock they move by hand.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    })
}

/// Tunables of the service.
#[derive(Clone)]
pub struct ExportOptions {
    pub clock: Clock,
    /// How often the scheduler checks for due configurations. Default 5 s.
    pub tick: Duration,
    /// Attempts per task within one execution before the run is marked failed. Default 3.
    pub attempts_per_task: u32,
    /// Pause between attempts of a task (doubled each time). Default 1 s.
    pub retry_backoff: Duration,
    /// After a failed run, the scheduler resumes it this much later (or at the next interval,
    /// whichever is sooner). Default 5 min.
    pub retry_failed_after: Duration,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            clock: system_clock(),
            tick: Duration::from_secs(5),
            attempts_per_task: 3,
            retry_backoff: Duration::from_secs(1),
            retry_failed_after: Duration::from_secs(300),
        }
    }
}

/// How long `trail serve` waits at shutdown for runs in progress to reach an object boundary
/// before it closes the store anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Name of the export database in a data directory.
pub const DB_FILE: &str = "exports.redb";

/// Scheduled exports of one store.
pub struct ExportService {
    db: ExportDb,
    store: Arc<dyn AuditStore>,
    opts: ExportOptions,
    running: Mutex<HashSet<String>>,
    /// Set once by [`ExportService::begin_shutdown`]; read at every object boundary.
    stopping: AtomicBool,
    /// Notified whenever a run ends (its config leaves `running`).
    idle: tokio::sync::Notify,
}

/// Releases a config's "running" mark when a run ends, however it ends.
struct RunningGuard<'a> {
    svc: &'a ExportService,
    id: String,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.svc
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.svc.idle.notify_waiters();
    }
}

/// `20240612T100000.123Z`: sortable, no `:` (safe in S3 keys and on every filesystem).
pub fn window_stamp(ms: i64) -> String {
    let iso = trail_model::timefmt::format_iso_ms(ms); // 2024-06-12T10:00:00.123Z
    iso.replace(['-', ':'], "")
}

impl ExportService {
    /// Opens (or creates) `<data_dir>/exports.redb`. Runs left `RUNNING` by a stopped process
    /// are marked failed (interrupted); the scheduler resumes them.
    pub fn open(
        data_dir: &Path,
        store: Arc<dyn AuditStore>,
        opts: ExportOptions,
    ) -> Result<ExportService, ExportError> {
        let db = ExportDb::open(&data_dir.join(DB_FILE))?;
        let now = (opts.clock)();
        for mut r in db.running_runs()? {
            r.status = Status::Failed;
            r.failure_reason = Some("interrupted: Trail stopped during the run".into());
            r.finished_ms = Some(now);
            for t in r.tasks.iter_mut().filter(|t| t.status == Status::Running) {
                t.status = Status::Failed;
                t.failure_reason = r.failure_reason.clone();
            }
            db.put_run(&r)?;
        }
        Ok(ExportService {
            db,
            store,
            opts,
            running: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            idle: tokio::sync::Notify::new(),
        })
    }

    fn now(&self) -> i64 {
        (self.opts.clock)()
    }

    pub fn list(&self) -> Result<Vec<ExportConfig>, ExportError> {
        self.db.configs()
    }

    pub fn get(&self, id: &str) -> Result<ExportConfig, ExportError> {
        self.db
            .config(id)?
            .ok_or_else(|| ExportError::NotFound(id.to_string()))
    }

    pub fn state(&self, id: &str) -> Result<ExportState, ExportError> {
        self.get(id)?;
        self.db.state(id)
    }

    /// Validates and stores a new configuration. Its first scheduled run is one interval away.
    pub fn create(&self, input: ConfigInput, by: Option<i64>) -> Result<ExportConfig, ExportError> {
        input.validate()?;
        check_tls(&input)?;
        let now = self.now();
        let c = ExportConfig {
            id: format!("{:016x}", rand::random::<u64>()),
            created_ms: now,
            updated_ms: now,
            created_by: by,
            updated_by: by,
            input,
        };
        let state = ExportState {
            next_due_ms: now + c.input.period().as_millis() as i64,
            ..Default::default()
        };
        self.db.put_config(&c, Some(&state))?;
        Ok(c)
    }

    /// Replaces a configuration's fields. What was exported stays exported: the next run
    /// continues after `exportedThroughSeq` with the new filter and target.
    pub fn update(
        &self,
        id: &str,
        input: ConfigInput,
        by: Option<i64>,
    ) -> Result<ExportConfig, ExportError> {
        input.validate()?;
        check_tls(&input)?;
        let old = self.get(id)?;
        let c = ExportConfig {
            input,
            updated_ms: self.now(),
            updated_by: by,
            ..old
        };
        self.db.put_config(&c, None)?;
        Ok(c)
    }

    pub fn delete(&self, id: &str) -> Result<(), ExportError> {
        if self.db.delete_config(id)? {
            Ok(())
        } else {
            Err(ExportError::NotFound(id.to_string()))
        }
    }

    pub fn runs(&self, id: &str, limit: usize) -> Result<Vec<RunRecord>, ExportError> {
        self.get(id)?;
        self.db.runs(id, limit)
    }

    /// True once shutdown has begun: no run starts, runs in progress stop at the next object.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Starts shutting down without waiting: new runs are refused with
    /// [`ExportError::ShuttingDown`] and runs in progress stop after the object they are
    /// writing. Call it as soon as the process is asked to stop.
    pub fn begin_shutdown(&self) {
        // Under the `running` lock, so that no claim slips in after `shutdown` saw no runs.
        let _running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// [`Self::begin_shutdown`], then waits (at most `grace`) until no run is in progress.
    /// Returns true when every run stopped at an object boundary (its record says
    /// "interrupted" and its cursor is committed), false when one was still busy at the end of
    /// the grace period (the next `open` marks it interrupted; its resumption rewrites the
    /// object it was writing under the same name).
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.begin_shutdown();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running_count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let left = self.running_count();
                if left > 0 {
                    tracing::warn!(
                        runs = left,
                        "export runs still busy after the shutdown grace period; they resume at the next start"
                    );
                }
                return left == 0;
            }
        }
    }

    fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn claim(&self, id: &str) -> Result<RunningGuard<'_>, ExportError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_stopping() {
            return Err(ExportError::ShuttingDown);
        }
        if !running.insert(id.to_string()) {
            return Err(ExportError::Conflict(format!(
                "export configuration {id} is already running; see GET /v1/export-configs/{id}/runs"
            )));
        }
        Ok(RunningGuard {
            svc: self,
            id: id.to_string(),
        })
    }

    /// Starts (or resumes) a run in the background and returns its record as started.
    pub async fn start_run(
        self: &Arc<Self>,
        id: &str,
        trigger: Trigger,
    ) -> Result<RunRecord, ExportError> {
        let guard = self.claim(id)?;
        let run = self.prepare(id, trigger).await?;
        std::mem::forget(guard); // handed over to the task below
        let svc = self.clone();
        let first = run.clone();
        tokio::spawn(async move {
            let guard = RunningGuard {
                svc: &svc,
                id: run.config_id.clone(),
            };
            let _ = svc.execute(run).await;
            drop(guard);
        });
        Ok(first)
    }

    /// Runs (or resumes) a configuration now and returns the finished run record, failed or
    /// succeeded. Fails only when the run cannot start (unknown config, already running).
    pub async fn run_now(&self, id: &str, trigger: Trigger) -> Result<RunRecord, ExportError> {
        let _guard = self.claim(id)?;
        let run = self.prepare(id, trigger).await?;
        Ok(self.execute(run).await)
    }

    /// The run to execute: the latest run when it failed (resumed with its bounds), else a new
    /// run from the config's state to the store's current last sequence number.
    async fn prepare(&self, id: &str, trigger: Trigger) -> Result<RunRecord, ExportError> {
        let config = self.get(id)?;
        let state = self.db.state(id)?;
        if let Some(mut last) = self.db.runs(id, 1)?.into_iter().next() {
            if last.status != Status::Succeeded {
                last.status = Status::Running;
                last.executions += 1;
                last.failure_reason = None;
                last.finished_ms = None;
                self.db.put_run(&last)?;
                return Ok(last);
            }
        }
        let up_to_seq = self.store.stats().await?.last_seq;
        let now = self.now();
        let after_seq = state.exported_through_seq;
        let window_start = match state.window_end_ms {
            Some(end) => end,
            // First run: the window opens at the first event it covers.
            None => self
                .store
                .scan(after_seq, 1)
                .await?
                .first()
                .map(|e| e.received_ms.min(now))
                .unwrap_or(config.created_ms.min(now)),
        };
        let window = format!("{}_{}", window_stamp(window_start), window_stamp(now));
        let run = RunRecord {
            config_id: id.to_string(),
            run_id: state.last_run_id + 1,
            trigger,
            status: Status::Running,
            after_seq,
            up_to_seq: up_to_seq.max(after_seq),
            window_start_ms: window_start,
            window_end_ms: now,
            window,
            cursor_seq: after_seq,
            events: 0,
            executions: 1,
            tasks: Vec::new(),
            started_ms: now,
            finished_ms: None,
            failure_reason: None,
            manifest: None,
        };
        let state = ExportState {
            last_run_id: run.run_id,
            ..state
        };
        self.db.put_run_and_state(&run, Some(&state))?;
        Ok(run)
    }

    /// Executes a prepared run to its end and records the outcome; returns the final record.
    async fn execute(&self, mut run: RunRecord) -> RunRecord {
        let result = self.execute_inner(&mut run).await;
        let now = self.now();
        run.finished_ms = Some(now);
        match result {
            Ok(()) => {
                run.status = Status::Succeeded;
                let mut state = self.db.state(&run.config_id).unwrap_or_default();
                let period = self
                    .db
                    .config(&run.config_id)
                    .ok()
                    .flatten()
                    .map(|c| c.input.period().as_millis() as i64)
                    .unwrap_or(0);
                state.exported_through_seq = run.up_to_seq;
                state.window_end_ms = Some(run.window_end_ms);
                state.last_run_id = state.last_run_id.max(run.run_id);
                state.next_due_ms = (run.window_end_ms + period).max(state.next_due_ms);
                if let Err(e) = self.db.put_run_and_state(&run, Some(&state)) {
                    tracing::warn!(config = %run.config_id, error = %e, "cannot commit the export run");
                }
                tracing::info!(config = %run.config_id, run = run.run_id, events = run.events, window = %run.window, "export run succeeded");
            }
            Err(e) => {
                run.status = Status::Failed;
                run.failure_reason = Some(e.to_string());
                if let Ok(mut state) = self.db.state(&run.config_id) {
                    let retry = self.opts.retry_failed_after.as_millis() as i64;
                    state.next_due_ms = now + retry;
                    let _ = self.db.put_state(&run.config_id, &state);
                }
                if let Err(e) = self.db.put_run(&run) {
                    tracing::warn!(config = %run.config_id, error = %e, "cannot record the failed export run");
                }
                tracing::warn!(config = %run.config_id, run = run.run_id, error = %e, "export run failed; it will be resumed");
            }
        }
        run
    }

    async fn execute_inner(&self, run: &mut RunRecord) -> Result<(), ExportError> {
        let config = self.get(&run.config_id)?;
        let query = config.input.filter.to_query()?;
        let per_object = config.input.events_per_object();
        let sink = Arc::new(Sink::new(&config.input.target).map_err(ExportError::Target)?);
        let base = match config.input.target.prefix() {
            "" => run.window.clone(),
            p => format!("{p}/{}", run.window),
        };
        loop {
            // An object boundary: everything before the cursor is written and committed.
            if self.is_stopping() {
                return Err(ExportError::Interrupted);
            }
            let events = self
                .store
                .scan_matching(
                    query.clone(),
                    run.cursor_seq,
                    run.up_to_seq,
                    per_object as usize,
                )
                .await?;
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                break;
            };
            let (first_seq, last_seq, n) = (first.seq, last.seq, events.len() as u64);
            let name = format!("{base}/events-{first_seq:020}-{last_seq:020}.ndjson.gz");
            let bytes = tokio::task::spawn_blocking(move || gzip_ndjson(&events))
                .await
                .map_err(|e| ExportError::Target(format!("compression failed: {e}")))?
                .map_err(|e| ExportError::Target(format!("compression failed: {e}")))?;
            let idx = self.task_index(run, run.cursor_seq, false);
            {
                let t = &mut run.tasks[idx];
                t.object = Some(name.clone());
                t.first_seq = Some(first_seq);
                t.last_seq = Some(last_seq);
                t.events = n;
                t.bytes = bytes.len() as u64;
                t.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
            }
            self.write_task(run, idx, &sink, name, bytes, "application/gzip")
                .await?;
            run.cursor_seq = last_seq;
            run.events += n;
            self.db.put_run(run)?;
            if n < per_object {
                break;
            }
        }
        // The manifest, last: it lists every object of the window.
        let objects: Vec<_> = run
            .tasks
            .iter()
            .filter(|t| !t.manifest && t.status == Status::Succeeded)
            .map(|t| {
                json!({"name": t.object, "events": t.events, "firstSeq": t.first_seq,
                       "lastSeq": t.last_seq, "bytes": t.bytes, "sha256": t.sha256})
            })
            .collect();
        let manifest = json!({
            "configId": run.config_id,
            "runId": run.run_id,
            "window": run.window,
            "windowStart": trail_model::timefmt::format_iso_ms(run.window_start_ms),
            "windowEnd": trail_model::timefmt::format_iso_ms(run.window_end_ms),
            "afterSeq": run.after_seq,
            "upToSeq": run.up_to_seq,
            "filter": config.input.filter,
            "events": run.events,
            "objects": objects,
        });
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| ExportError::Target(format!("cannot encode the manifest: {e}")))?;
        let name = format!("{base}/manifest.json");
        let idx = self.task_index(run, run.up_to_seq, true);
        {
            let t = &mut run.tasks[idx];
            t.object = Some(name.clone());
            t.bytes = bytes.len() as u64;
            t.sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        }
        self.write_task(run, idx, &sink, name.clone(), bytes, "application/json")
            .await?;
        run.manifest = Some(name);
        Ok(())
    }

    /// The task starting after `after_seq` (a retry reuses it), or a new one.
    fn task_index(&self, run: &mut RunRecord, after_seq: u64, manifest: bool) -> usize {
        if let Some(i) = run
            .tasks
            .iter()
            .position(|t| t.after_seq == after_seq && t.manifest == manifest)
        {
            return i;
        }
        run.tasks.push(TaskRecord {
            index: run.tasks.len() as u32,
            after_seq,
            object: None,
            first_seq: None,
            last_seq: None,
            events: 0,
            bytes: 0,
            sha256: None,
            attempts: 0,
            status: Status::Running,
            failure_reason: None,
            manifest,
        });
        run.tasks.len() - 1
    }

    /// Writes one object with up to `attempts_per_task` attempts, recording each.
    async fn write_task(
        &self,
        run: &mut RunRecord,
        idx: usize,
        sink: &Arc<Sink>,
        name: String,
        bytes: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), ExportError> {
        let bytes = Arc::new(bytes);
        let mut backoff = self.opts.retry_backoff;
        for attempt in 1..=self.opts.attempts_per_task.max(1) {
            run.tasks[idx].attempts += 1;
            run.tasks[idx].status = Status::Running;
            let (s, n, b) = (sink.clone(), name.clone(), bytes.clone());
            let result = tokio::task::spawn_blocking(move || s.put(&n, &b, content_type))
                .await
                .unwrap_or_else(|e| Err(format!("the writer panicked: {e}")));
            match result {
                Ok(()) => {
                    run.tasks[idx].status = Status::Succeeded;
                    run.tasks[idx].failure_reason = None;
                    return Ok(());
                }
                Err(reason) => {
                    tracing::warn!(config = %run.config_id, object = %name, attempt, error = %reason, "export write failed");
                    run.tasks[idx].status = Status::Failed;
                    run.tasks[idx].failure_reason = Some(reason.clone());
                    self.db.put_run(run)?;
                    if attempt == self.opts.attempts_per_task.max(1) || self.is_stopping() {
                        return Err(ExportError::Target(reason));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        Err(ExportError::Target("no attempt was made".into()))
    }

    /// Runs every enabled configuration that is due; returns the finished runs.
    pub async fn run_due(&self) -> Vec<RunRecord> {
        let now = self.now();
        let mut done = Vec::new();
        let configs = match self.db.configs() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read export configurations");
                return done;
            }
        };
        for c in configs.into_iter().filter(|c| c.input.enabled) {
            if self.is_stopping() {
                break;
            }
            let due = self
                .db
                .state(&c.id)
                .map(|s| s.next_due_ms <= now)
                .unwrap_or(false);
            if !due {
                continue;
            }
            match self.run_now(&c.id, Trigger::Schedule).await {
                Ok(r) => done.push(r),
                Err(ExportError::Conflict(_)) => {}
                Err(e) => {
                    tracing::warn!(config = %c.id, error = %e, "scheduled export could not start")
                }
            }
        }
        done
    }

    /// The scheduler: checks every `tick` for due configurations and runs them, until
    /// `stop` turns true. Spawn it on the server's runtime.
    pub async fn schedule(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.opts.tick) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            self.run_due().await;
        }
    }
}

/// `https` endpoints need TLS compiled in (feature `tls`).
fn check_tls(input: &ConfigInput) -> Result<(), ExportError> {
    if let crate::config::TargetSpec::S3 { endpoint, .. } = &input.target {
        if endpoint.starts_with("https:") && !cfg!(feature = "tls") {
            return Err(ExportError::invalid(
                "target.endpoint",
                "this Trail build has no TLS support for exports (build trail-export with the `tls` feature) ; use an http:// endpoint or rebuild",
            ));
        }
    }
    Ok(())
}

/// One object's bytes: the documents exactly as stored, one per line, gzip-compressed.
fn gzip_ndjson(events: &[trail_model::StoredEvent]) -> std::io::Result<Vec<u8>> {
    let size: usize = events.iter().map(|e| e.document.len() + 1).sum();
    let mut gz = GzEncoder::new(Vec::with_capacity(size / 6), flate2::Compression::fast());
    for e in events {
        gz.write_all(e.document.as_bytes())?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}
