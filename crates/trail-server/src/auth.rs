//! Who is calling: API-key authentication, permission checks, and the rate limit on auditing
//! failed authentications.
//!
//! A key is passed as `Authorization: <key>` (Immuta's form) or `Authorization: Bearer <key>`.
//! The metadata store compares key hashes in constant time. A failed authentication is audited
//! as a `UserAuthenticated` event with `actionStatus` `FAILURE`, but at most
//! [`crate::ServerConfig::failed_auth_audit_per_minute`] per client IP per minute (and at most
//! [`GLOBAL_FACTOR`] times that over all clients): the rest are counted, and the count is written
//! into the next event recorded for that client (`suppressedSinceLastEvent`), so a flood of bad
//! keys cannot fill the disk and is still visible.
//!
//! The client IP is the TCP peer address; Trail does not trust `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use trail_store::{ApiKeyInfo, Permission, User};

use crate::error::ApiError;
use crate::selfaudit::{now_ms, uuid_v4, Context, Draft};
use crate::{RequestId, SharedState};

/// The global cap on failed-authentication events per minute is this many times the per-client
/// cap, so that many clients (or many addresses of one) cannot fill the disk either.
pub const GLOBAL_FACTOR: u32 = 100;

/// At most this many client addresses are tracked; beyond it unknown clients are suppressed.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// An authenticated caller: the user, the key it used, and the request context.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub key: ApiKeyInfo,
    pub ctx: Context,
    /// How long finding the key took (the `auth` phase of `Server-Timing`).
    pub authenticated_in: std::time::Duration,
}

impl Caller {
    /// Fails with 403 naming `permission` unless the caller has it.
    pub fn require(&self, permission: Permission, what: &str) -> Result<(), ApiError> {
        if self.user.has(permission) {
            Ok(())
        } else {
            Err(ApiError::missing_permission(permission.name(), what))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.user.has(Permission::Admin)
    }
}

/// The client address and request id of a request.
pub(crate) fn request_context(parts: &Parts) -> (String, String) {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(uuid_v4);
    (ip, request_id)
}

/// The key in an `Authorization` header value: the value itself, or what follows `Bearer `.
fn key_from_header(value: &str) -> Option<&str> {
    let v = value.trim();
    let key = match v.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ if v.eq_ignore_ascii_case("bearer") => "",
        _ => v,
    };
    (!key.is_empty()).then_some(key)
}

const HOW_TO: &str = "pass an API key as `Authorization: <key>` or `Authorization: Bearer <key>`; an administrator creates keys with POST /v1/keys";

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &SharedState,
    ) -> Result<Caller, ApiError> {
        let started = std::time::Instant::now();
        let (ip, request_id) = request_context(parts);
        let header = parts.headers.get(AUTHORIZATION);
        let key = header
            .and_then(|h| h.to_str().ok())
            .and_then(key_from_header);
        let failure = match key {
            None if header.is_none() => "no API key was given",
            None => "the Authorization header holds no usable API key",
            Some(key) => match shared.app.meta.authenticate(key).await? {
                Some((user, key)) => {
                    return Ok(Caller {
                        ctx: Context {
                            actor: Some(user.clone()),
                            operator: None,
                            ip,
                            request_id,
                        },
                        user,
                        key,
                        authenticated_in: started.elapsed(),
                    })
                }
                None => "the API key is unknown or revoked",
            },
        };
        let ctx = Context {
            actor: None,
            operator: None,
            ip,
            request_id,
        };
        shared.audit_failed_auth(&ctx, failure).await;
        Err(ApiError::Unauthorized(format!("{failure}; {HOW_TO}")))
    }
}

impl crate::Shared {
    async fn audit_failed_auth(&self, ctx: &Context, reason: &str) {
        let ip: Option<IpAddr> = ctx.ip.parse().ok();
        let Some(suppressed) = self.failed_auth.admit(ip, now_ms() / 60_000) else {
            return;
        };
        let draft = Draft::new("UserAuthenticated", "LOGIN", "USER")
            .status("FAILURE", reason)
            .with("authenticationMethod", "apiKey")
            .with("suppressedSinceLastEvent", suppressed);
        self.record_after_the_fact(ctx, vec![draft]).await;
    }
}

#[derive(Default)]
struct ClientWindow {
    minute: i64,
    recorded: u32,
    suppressed: u64,
}

#[derive(Default)]
struct LimiterState {
    clients: HashMap<Option<IpAddr>, ClientWindow>,
    minute: i64,
    recorded_this_minute: u64,
    suppressed_globally: u64,
}

/// Fixed one-minute windows per client address, plus a global cap.
pub struct FailedAuthLimiter {
    per_minute: u32,
    state: Mutex<LimiterState>,
}

impl FailedAuthLimiter {
    pub fn new(per_minute: u32) -> FailedAuthLimiter {
        FailedAuthLimiter {
            per_minute,
            state: Mutex::new(LimiterState::default()),
        }
    }

    /// Decides whether a failed authentication from `ip` in `minute` is written. `Some(n)`:
    /// write it, `n` earlier ones from this client were suppressed since its last written one.
    /// `None`: suppressed (and counted).
    pub fn admit(&self, ip: Option<IpAddr>, minute: i64) -> Option<u64> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut *guard;
        if s.minute != minute {
            if s.suppressed_globally > 0 {
                tracing::warn!(
                    suppressed = s.suppressed_globally,
                    "failed authentications not audited last minute (over the global cap)"
                );
            }
            s.minute = minute;
            s.recorded_this_minute = 0;
            s.suppressed_globally = 0;
            if s.clients.len() >= MAX_TRACKED_CLIENTS / 2 {
                s.clients
                    .retain(|_, w| w.minute == minute || w.suppressed > 0);
            }
        }
        let global_cap = u64::from(self.per_minute) * u64::from(GLOBAL_FACTOR);
        let tracked = s.clients.len();
        let over_global = s.recorded_this_minute >= global_cap;
        let Some(w) = (if tracked < MAX_TRACKED_CLIENTS || s.clients.contains_key(&ip) {
            Some(s.clients.entry(ip).or_default())
        } else {
            None
        }) else {
            s.suppressed_globally += 1;
            return None;
        };
        if w.minute != minute {
            w.minute = minute;
            w.recorded = 0;
        }
        if w.recorded < self.per_minute && !over_global {
            w.recorded += 1;
            let suppressed = std::mem::take(&mut w.suppressed);
            s.recorded_this_minute += 1;
            Some(suppressed)
        } else {
            w.suppressed += 1;
            if over_global {
                s.suppressed_globally += 1;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms_yield_the_key() {
        assert_eq!(key_from_header("abc"), Some("abc"));
        assert_eq!(key_from_header("Bearer abc"), Some("abc"));
        assert_eq!(key_from_header("bearer   abc "), Some("abc"));
        assert_eq!(key_from_header("Bearer "), None);
        assert_eq!(key_from_header("  "), None);
    }

    #[test]
    fn limiter_admits_per_client_per_minute_and_reports_suppressed_counts() {
        let l = FailedAuthLimiter::new(2);
        let a: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let b: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        assert_eq!(l.admit(a, 1), Some(0));
        assert_eq!(l.admit(a, 1), Some(0));
        assert_eq!(l.admit(a, 1), None);
        assert_eq!(l.admit(a, 1), None);
        assert_eq!(l.admit(b, 1), Some(0), "another client has its own budget");
        assert_eq!(
            l.admit(a, 2),
            Some(2),
            "the next minute reports what was suppressed"
        );
        assert_eq!(l.admit(a, 2), Some(0));
    }

    #[test]
    fn limiter_caps_all_clients_together() {
        let l = FailedAuthLimiter::new(1);
        let mut admitted = 0;
        for i in 0..(GLOBAL_FACTOR + 50) {
            let ip: IpAddr = format!("10.1.{}.{}", i / 256, i % 256).parse().unwrap();
            if l.admit(Some(ip), 5).is_some() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, GLOBAL_FACTOR);
    }

    #[test]
    fn a_zero_budget_audits_nothing() {
        let l = FailedAuthLimiter::new(0);
        assert_eq!(l.admit(None, 1), None);
    }
}
