//! What an export configuration is (Immuta's `exportConfig`): an interval, a target (a local
//! directory or an S3-compatible bucket), an optional filter with the `GET /audit` filters, and
//! an enabled flag; how it is validated; and how its credentials are masked in every answer.
//!
//! The wire shape (camelCase JSON) is defined here because the same document is stored in
//! `exports.redb`, printed by `trail export-configs` and answered by `/v1/export-configs`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use trail_model::{Outcome, SearchQuery};

use crate::error::ExportError;

/// Default and largest number of events per exported object (one task each).
pub const DEFAULT_EVENTS_PER_OBJECT: u64 = 100_000;
const MAX_EVENTS_PER_OBJECT: u64 = 1_000_000;
/// Shortest custom interval: a run more often than this would mostly export nothing.
pub const MIN_CUSTOM_INTERVAL_SECS: u64 = 1;

/// How often a configuration runs: Immuta's names, or a custom number of seconds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntervalName {
    #[serde(rename = "EVERY_2_HOURS")]
    Every2Hours,
    #[serde(rename = "EVERY_4_HOURS")]
    Every4Hours,
    #[serde(rename = "EVERY_6_HOURS")]
    Every6Hours,
    #[serde(rename = "EVERY_12_HOURS")]
    Every12Hours,
    #[serde(rename = "EVERY_24_HOURS")]
    Every24Hours,
    /// `customIntervalSeconds` gives the period.
    Custom,
}

/// A configuration as submitted by a client (create or replace).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigInput {
    pub name: String,
    pub interval: IntervalName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_interval_seconds: Option<u64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub target: TargetSpec,
    #[serde(default)]
    pub filter: Filter,
    /// Events per object (and per task); default 100,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events_per_object: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Where a configuration writes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TargetSpec {
    /// A directory on the machine running Trail.
    #[serde(rename_all = "camelCase")]
    Directory {
        path: String,
        #[serde(default)]
        prefix: String,
    },
    /// An S3-compatible bucket (AWS, MinIO, moto, Ceph...), addressed path-style.
    #[serde(rename_all = "camelCase")]
    S3 {
        /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`...
        endpoint: String,
        bucket: String,
        #[serde(default)]
        prefix: String,
        region: String,
        access_key_id: String,
        secret_access_key: String,
    },
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in logs.
        write!(
            f,
            "{}",
            serde_json::to_string(&self.masked()).unwrap_or_default()
        )
    }
}

/// Shows the first 4 characters of an access key id and nothing of a secret.
pub fn mask(secret: &str, keep: usize) -> String {
    let shown: String = secret.chars().take(keep).collect();
    format!("{shown}****")
}

impl TargetSpec {
    /// This target with its credentials masked: what every answer shows.
    pub fn masked(&self) -> TargetSpec {
        match self {
            TargetSpec::Directory { .. } => self.clone(),
            TargetSpec::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id,
                ..
            } => TargetSpec::S3 {
                endpoint: endpoint.clone(),
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                region: region.clone(),
                access_key_id: mask(access_key_id, 4),
                secret_access_key: mask("", 0),
            },
        }
    }

    /// The object-name prefix (no leading or trailing `/`), empty for none.
    pub fn prefix(&self) -> &str {
        match self {
            TargetSpec::Directory { prefix, .. } | TargetSpec::S3 { prefix, .. } => {
                prefix.trim_matches('/')
            }
        }
    }
}

/// The `GET /audit` filters of an export. Empty lists mean no restriction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_source_id: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_id: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile_id: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_type: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcome: Vec<String>,
    /// Event time lower bound, ISO-8601 (`2024-06-12T00:00:00Z`) or a date (`2024-06-12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_date: Option<String>,
    /// Event time upper bound (inclusive; a date means the end of that day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<i64>,
}

fn instant(field: &str, s: &str, end_of_day: bool) -> Result<i64, ExportError> {
    use trail_model::timefmt::{parse_date_ms, parse_iso_ms};
    if let Some(ms) = parse_iso_ms(s) {
        return Ok(ms);
    }
    if let Some(ms) = parse_date_ms(s) {
        return Ok(if end_of_day { ms + 86_400_000 - 1 } else { ms });
    }
    Err(ExportError::invalid(
        field,
        format!(
            "`{s}` is neither an ISO-8601 instant (2024-06-12T10:00:00Z) nor a date (2024-06-12)"
        ),
    ))
}

impl Filter {
    /// The store query this filter means (sort, offset and size are irrelevant to a scan).
    pub fn to_query(&self) -> Result<SearchQuery, ExportError> {
        let mut outcomes = Vec::new();
        for (i, o) in self.outcome.iter().enumerate() {
            outcomes.push(Outcome::parse(o).ok_or_else(|| {
                ExportError::invalid(
                    &format!("filter.outcome[{i}]"),
                    format!("unknown outcome `{o}`"),
                )
            })?);
        }
        let min = self
            .min_date
            .as_deref()
            .map(|s| instant("filter.minDate", s, false))
            .transpose()?;
        let max = self
            .max_date
            .as_deref()
            .map(|s| instant("filter.maxDate", s, true))
            .transpose()?;
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                return Err(ExportError::invalid(
                    "filter.minDate",
                    "minDate is after maxDate; swap them",
                ));
            }
        }
        Ok(SearchQuery {
            data_source_ids: self.data_source_id.clone(),
            project_ids: self.project_id.clone(),
            profile_ids: self.profile_id.clone(),
            record_types: self.record_type.clone(),
            outcomes,
            min_time_ms: min,
            max_time_ms: max,
            blob_id: self.blob_id.clone(),
            purpose: self.purpose,
            ..SearchQuery::new()
        })
    }
}

impl ConfigInput {
    /// Checks every field; the error names the first one at fault.
    pub fn validate(&self) -> Result<(), ExportError> {
        if self.name.trim().is_empty() {
            return Err(ExportError::invalid("name", "must not be empty"));
        }
        match (self.interval, self.custom_interval_seconds) {
            (IntervalName::Custom, None) => {
                return Err(ExportError::invalid(
                    "customIntervalSeconds",
                    "required when interval is CUSTOM",
                ))
            }
            (IntervalName::Custom, Some(s)) if s < MIN_CUSTOM_INTERVAL_SECS => {
                return Err(ExportError::invalid(
                    "customIntervalSeconds",
                    format!("must be at least {MIN_CUSTOM_INTERVAL_SECS}"),
                ))
            }
            (IntervalName::Custom, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ExportError::invalid(
                    "customIntervalSeconds",
                    "only allowed with interval CUSTOM",
                ))
            }
        }
        if let Some(n) = self.max_events_per_object {
            if n == 0 || n > MAX_EVENTS_PER_OBJECT {
                return Err(ExportError::invalid(
                    "maxEventsPerObject",
                    format!("must be between 1 and {MAX_EVENTS_PER_OBJECT}"),
                ));
            }
        }
        check_prefix(self.target.prefix())?;
        match &self.target {
            TargetSpec::Directory { path, .. } => {
                if path.trim().is_empty() {
                    return Err(ExportError::invalid("target.path", "must not be empty"));
                }
                if !std::path::Path::new(path).is_absolute() {
                    return Err(ExportError::invalid(
                        "target.path",
                        "must be an absolute path (the server's working directory is not yours)",
                    ));
                }
            }
            TargetSpec::S3 {
                endpoint,
                bucket,
                region,
                access_key_id,
                secret_access_key,
                ..
            } => {
                let url: url::Url = endpoint.parse().map_err(|e| {
                    ExportError::invalid("target.endpoint", format!("not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ExportError::invalid(
                        "target.endpoint",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                let bucket_ok = (3..=63).contains(&bucket.len())
                    && bucket.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                    });
                if !bucket_ok {
                    return Err(ExportError::invalid(
                        "target.bucket",
                        "must be 3-63 characters of a-z, 0-9, '-' and '.'",
                    ));
                }
                for (field, v) in [
                    ("target.region", region),
                    ("target.accessKeyId", access_key_id),
                    ("target.secretAccessKey", secret_access_key),
                ] {
                    if v.trim().is_empty() {
                        return Err(ExportError::invalid(field, "must not be empty"));
                    }
                }
            }
        }
        self.filter.to_query()?;
        Ok(())
    }

    /// The period between runs.
    pub fn period(&self) -> Duration {
        let hours = match self.interval {
            IntervalName::Every2Hours => 2,
            IntervalName::Every4Hours => 4,
            IntervalName::Every6Hours => 6,
            IntervalName::Every12Hours => 12,
            IntervalName::Every24Hours => 24,
            IntervalName::Custom => {
                return Duration::from_secs(
                    self.custom_interval_seconds
                        .unwrap_or(MIN_CUSTOM_INTERVAL_SECS)
                        .max(MIN_CUSTOM_INTERVAL_SECS),
                )
            }
        };
        Duration::from_secs(hours * 3600)
    }

    pub fn events_per_object(&self) -> u64 {
        self.max_events_per_object
            .unwrap_or(DEFAULT_EVENTS_PER_OBJECT)
    }
}

fn check_prefix(prefix: &str) -> Result<(), ExportError> {
    let bad = prefix
        .split('/')
        .any(|seg| seg.is_empty() && !prefix.is_empty() || seg == "." || seg == "..")
        || prefix.chars().any(|c| c.is_control() || c == '\\');
    if bad {
        return Err(ExportError::invalid(
            "target.prefix",
            "must be `/`-separated names without empty, `.` or `..` segments",
        ));
    }
    Ok(())
}

/// A stored configuration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportConfig {
    pub id: String,
    #[serde(flatten)]
    pub input: ConfigInput,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Profile id of who created / last changed it (`None` from the CLI).
    #[serde(default)]
    pub created_by: Option<i64>,
    #[serde(default)]
    pub updated_by: Option<i64>,
}

impl ExportConfig {
    /// This configuration with its credentials masked.
    pub fn masked(&self) -> ExportConfig {
        let mut c = self.clone();
        c.input.target = c.input.target.masked();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3() -> ConfigInput {
        serde_json::from_value(serde_json::json!({
            "name": "nightly", "interval": "EVERY_24_HOURS",
            "target": {"type": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "audit",
                       "prefix": "trail", "region": "us-east-1",
                       "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "topsecret"}
        }))
        .unwrap()
    }

    #[test]
    fn masked_targets_show_no_secret() {
        let m = serde_json::to_string(&s3().target.masked()).unwrap();
        assert!(
            !m.contains("topsecret") && !m.contains("AKIAEXAMPLE"),
            "{m}"
        );
        assert!(m.contains("AKIA****"), "{m}");
        assert!(!format!("{:?}", s3().target).contains("topsecret"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = s3();
        assert!(c.validate().is_ok());
        c.interval = IntervalName::Custom;
        let e = c.validate().unwrap_err();
        assert!(
            matches!(e, ExportError::Invalid { ref field, .. } if field == "customIntervalSeconds")
        );
        c.custom_interval_seconds = Some(60);
        assert_eq!(c.period(), Duration::from_secs(60));
        c.filter.outcome = vec!["nope".into()];
        let e = c.validate().unwrap_err();
        assert!(
            matches!(e, ExportError::Invalid { ref field, .. } if field == "filter.outcome[0]")
        );
        c.filter.outcome.clear();
        if let TargetSpec::S3 { bucket, .. } = &mut c.target {
            *bucket = "Bad_Bucket".into();
        }
        let e = c.validate().unwrap_err();
        assert!(matches!(e, ExportError::Invalid { ref field, .. } if field == "target.bucket"));
    }

    #[test]
    fn prefixes_cannot_escape() {
        assert!(check_prefix("a/b").is_ok());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("a/../b").is_err());
        assert!(check_prefix("a//b").is_err());
    }
}
