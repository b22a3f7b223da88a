//! `Server-Timing` response headers: where a request's time went inside Trail.
//!
//! Why: under load a search can wait in several places (its caller's earlier read records
//! becoming visible, the search itself, the durable record Trail writes about it), and only the
//! sum reaches the client. The W3C `Server-Timing` header names each phase with its duration in
//! milliseconds (`search;dur=8.412, audit;dur=3.107`), so a client, a browser's developer tools
//! or the load benchmark (`http_load`) can tell the phases apart without the server's logs.
//! Every response also gets `total`: the time from the request's arrival at the router to its
//! handler's answer (the body's serialisation excluded).

use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};

/// The header's name.
pub(crate) static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The phases of one request, each timed from the end of the one before.
pub(crate) struct Phases {
    last: Instant,
    laps: Vec<(&'static str, Duration)>,
}

impl Phases {
    /// Starts timing now.
    pub(crate) fn start() -> Phases {
        Phases {
            last: Instant::now(),
            laps: Vec::with_capacity(4),
        }
    }

    /// Records a phase that ended before this timing started (authentication, timed by the
    /// extractor that did it).
    pub(crate) fn before(&mut self, name: &'static str, took: Duration) {
        self.laps.push((name, took));
    }

    /// Ends the phase `name` now; the next one starts.
    pub(crate) fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }
}

/// One `Server-Timing` entry: `name;dur=<milliseconds>`.
pub(crate) fn entry(name: &str, took: Duration) -> String {
    format!("{name};dur={:.3}", took.as_secs_f64() * 1000.0)
}

impl IntoResponseParts for Phases {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let value = self
            .laps
            .iter()
            .map(|(name, took)| entry(name, *took))
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().append(SERVER_TIMING.clone(), value);
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gives_milliseconds_with_three_decimals() {
        assert_eq!(
            entry("search", Duration::from_micros(8_412)),
            "search;dur=8.412"
        );
    }
}
