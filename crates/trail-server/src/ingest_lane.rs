//! The ingest lane: the CPU work of `POST /v1/events` (parsing, hashing, appending) runs on a
//! small runtime of its own whose threads the kernel schedules after the searches'.
//!
//! Why: ingest is throughput work and searches are latency work, and on a busy machine they
//! share the cores. At equal priority a search got half a core while producers pushed batches.
//! With the lane's threads at nice 10 the scheduler gives searches the CPU first, and ingest
//! still takes every cycle searches leave idle: measured with `http_load` on 10M events (2
//! ingest + 2 search clients, 2 cores), search p99 83–85 ms → 66–70 ms, ingest about 10% lower.
//!
//! The default goes further: Linux's `SCHED_IDLE` policy ([`IngestPriority::Idle`]). A nice
//! value only weighs the lane's share of a core (nice 10 still gets a tenth against a search)
//! and a woken search may wait for the lane's thread to finish its slice; under `SCHED_IDLE`
//! a woken search preempts the lane at once and the kernel counts a core running only the
//! lane as idle when it places the search. With 8 ingest clients and 2 dashboards searching
//! 10 times a second each (`http_load`, 10M events onto 10M, 2 cores), alternating runs:
//! nice 10 gave 349k–387k events/s with search p99 48–69 ms, `SCHED_IDLE` 386k–390k events/s
//! with p99 42–46 ms. The price: while other work keeps every core busy, ingest nearly stops
//! (producers wait; nothing acknowledged is lost). With two clients searching in a closed
//! loop it still ran at 236k events/s (261k at nice 10); many concurrent full exports would
//! starve it, and [`IngestPriority::Nice`] then bounds how much.
//!
//! No privilege is needed: a process may always lower its own threads' priority. Elsewhere than
//! Linux the lane still runs, at the service's priority.

use std::future::Future;
use std::str::FromStr;

use crate::ApiError;

/// Name of the lane's threads (visible in `top -H` and `/proc/<pid>/task/*/comm`).
const THREAD_NAME: &str = "trail-ingest";

/// How ingest work is scheduled against searches (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IngestPriority {
    /// On the threads that received the request, at the service's own priority.
    Same,
    /// On the ingest lane, this many nice steps (1 to 19) below the service.
    Nice(u8),
    /// On the ingest lane, under Linux's `SCHED_IDLE` policy: the machine's other work first.
    #[default]
    Idle,
}

impl FromStr for IngestPriority {
    type Err = String;

    /// `idle`, or a nice value from 0 (the service's priority) to 19.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("idle") {
            return Ok(IngestPriority::Idle);
        }
        match s.trim().parse::<u8>() {
            Ok(0) => Ok(IngestPriority::Same),
            Ok(n @ 1..=19) => Ok(IngestPriority::Nice(n)),
            _ => Err(format!(
                "`{s}` is not an ingest priority: use `idle` or a nice value from 0 to 19"
            )),
        }
    }
}

impl std::fmt::Display for IngestPriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestPriority::Same => f.write_str("0"),
            IngestPriority::Nice(n) => write!(f, "{n}"),
            IngestPriority::Idle => f.write_str("idle"),
        }
    }
}

/// A runtime for ingest work; `None` runs that work on the caller's runtime.
pub(crate) struct IngestLane {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IngestPriority {
    /// What a thread runs to take this priority; `None` for [`IngestPriority::Same`]. A nice
    /// value is made absolute now, from the calling thread's: threads started by an already
    /// lowered thread inherit its priority, and adding the steps again would lower them twice.
    ///
    /// The ingest lane's threads run it, and so do the embedded store's indexing threads
    /// (`trail serve` passes it as `EmbeddedOptions::indexing_thread_start`): indexing what was
    /// ingested is ingest work too. With those under `SCHED_IDLE` as well, three alternating
    /// pairs of `http_load` runs (10M events onto 10M, 8 ingest clients, 2 dashboards) gave
    /// search p99 37–41 ms against 47–66 ms, and 430k–446k events/s against 406k–454k.
    pub fn thread_lowering(self) -> Option<std::sync::Arc<dyn Fn() + Send + Sync>> {
        match self {
            IngestPriority::Same => None,
            IngestPriority::Nice(steps) => {
                let nice = (current_nice() + i32::from(steps)).min(19);
                Some(std::sync::Arc::new(move || lower_this_threads_nice(nice)))
            }
            IngestPriority::Idle => Some(std::sync::Arc::new(make_this_thread_idle)),
        }
    }
}

impl IngestLane {
    pub(crate) fn new(priority: IngestPriority) -> IngestLane {
        let Some(lower) = priority.thread_lowering() else {
            return IngestLane { runtime: None };
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(THREAD_NAME)
            .on_thread_start(move || lower())
            .enable_all()
            .build();
        match runtime {
            Ok(runtime) => IngestLane {
                runtime: Some(runtime),
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the ingest lane; ingest runs at the service's priority");
                IngestLane { runtime: None }
            }
        }
    }

    /// Runs `work` (and the blocking tasks it spawns) on the lane and waits for its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
    ) -> Result<T, ApiError> {
        match &self.runtime {
            Some(rt) => rt
                .spawn(work)
                .await
                .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))?,
            None => work.await,
        }
    }
}

impl Drop for IngestLane {
    fn drop(&mut self) {
        // Dropping a runtime waits for its blocking threads, which async code may not do; by
        // the time the service drops its state, graceful shutdown has finished every request.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn current_nice() -> i32 {
    // SAFETY: a plain system call on the calling thread's own id, no memory is shared.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

#[cfg(target_os = "linux")]
fn lower_this_threads_nice(nice: i32) {
    // SAFETY: a plain system call on the calling thread's own id, no memory is shared.
    let status =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if status != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot lower the priority of an ingest thread"
        );
    }
}

/// Puts the calling thread under `SCHED_IDLE`; at nice 19 if the kernel refuses.
#[cfg(target_os = "linux")]
fn make_this_thread_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` outlives the call, which only reads it; pid 0 is the calling thread.
    let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if status != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot put an ingest thread under SCHED_IDLE; it runs at nice 19 instead"
        );
        lower_this_threads_nice(19);
    }
}

#[cfg(not(target_os = "linux"))]
fn current_nice() -> i32 {
    0
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_nice(_nice: i32) {}

#[cfg(not(target_os = "linux"))]
fn make_this_thread_idle() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_parse_from_idle_or_a_nice_value_and_print_back() {
        for (text, priority) in [
            ("idle", IngestPriority::Idle),
            ("IDLE", IngestPriority::Idle),
            ("0", IngestPriority::Same),
            ("10", IngestPriority::Nice(10)),
            ("19", IngestPriority::Nice(19)),
        ] {
            assert_eq!(text.parse::<IngestPriority>(), Ok(priority), "{text}");
        }
        assert_eq!(IngestPriority::Nice(10).to_string(), "10");
        assert_eq!(IngestPriority::Idle.to_string(), "idle");
        for bad in ["20", "-1", "low", ""] {
            let err = bad.parse::<IngestPriority>().unwrap_err();
            assert!(err.contains("use `idle` or a nice value"), "{err}");
        }
    }

    /// The policy field of a thread's `/proc/.../stat` (field 41).
    #[cfg(target_os = "linux")]
    fn this_threads_policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name
            .split_whitespace()
            .nth(38)
            .unwrap()
            .parse()
            .unwrap()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_idle_lane_runs_its_work_under_sched_idle() {
        let lane = IngestLane::new(IngestPriority::Idle);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (on_task, on_blocking) = runtime
            .block_on(lane.run(async {
                let blocking = tokio::task::spawn_blocking(this_threads_policy)
                    .await
                    .unwrap();
                Ok((this_threads_policy(), blocking))
            }))
            .unwrap();
        let sched_idle = libc::SCHED_IDLE as u32;
        assert_eq!((on_task, on_blocking), (sched_idle, sched_idle));
        assert_ne!(
            this_threads_policy(),
            sched_idle,
            "the caller's thread is untouched"
        );
    }
}
