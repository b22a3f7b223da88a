//! The ingest lane: the CPU work of `POST /v1/events` (parsing, hashing, appending) runs on a
//! small runtime of its own whose threads the kernel schedules at a lower priority.
//!
//! Why: ingest is throughput work and searches are latency work, and on a busy machine they
//! share the cores. At equal priority a search got half a core while producers pushed batches;
//! with the lane's threads at nice 10 the scheduler gives searches the CPU first, and ingest
//! still takes every cycle searches leave idle. Measured with `http_load` on 10M events (2
//! ingest + 2 search clients, 2 cores): search p99 83–85 ms → 66–70 ms, ingest about 10% lower.
//!
//! The priority is Linux's per-thread nice value (`setpriority` on the thread id); elsewhere the
//! lane still runs but at the service's own priority. A process may always lower its threads'
//! priority, so no privilege is needed.

use std::future::Future;

use crate::ApiError;

/// Name of the lane's threads (visible in `top -H` and `/proc/<pid>/task/*/comm`).
const THREAD_NAME: &str = "trail-ingest";

/// A runtime for ingest work; `None` runs that work on the caller's runtime.
pub(crate) struct IngestLane {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IngestLane {
    /// A lane whose threads' nice value is `nice` (0 to 19) above the service's (at most 19);
    /// with 0, no lane: ingest runs where the request arrived.
    pub(crate) fn new(nice: u8) -> IngestLane {
        if nice == 0 {
            return IngestLane { runtime: None };
        }
        // Absolute, computed once: threads the lane spawns inherit its lowered priority, so
        // adding `nice` on each thread's start would lower it again.
        let nice = (current_nice() + i32::from(nice)).min(19);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(THREAD_NAME)
            .on_thread_start(move || lower_this_threads_priority(nice))
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
fn lower_this_threads_priority(nice: i32) {
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

#[cfg(not(target_os = "linux"))]
fn current_nice() -> i32 {
    0
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority(_nice: i32) {}
