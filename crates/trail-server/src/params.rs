//! The `GET /audit` query string, parsed by hand rather than by a serde extractor so that
//! Immuta's array parameters work both repeated (`dataSourceId=1&dataSourceId=2`) and as comma
//! lists (`dataSourceId=1,2`), and so that every refusal names its parameter and says what a
//! valid value looks like.
//!
//! Dates: `minDate`/`maxDate` take a date (`2024-06-12`), an ISO-8601 timestamp with a zone
//! (`2024-06-12T10:00:00.000Z`, `+02:00`), one without (read as UTC), or epoch milliseconds (all
//! digits). A date as `minDate` means the start of that day (UTC); as `maxDate` it means the
//! **end** of that day, 23:59:59.999 UTC, so `minDate=2024-06-12&maxDate=2024-06-12` is that
//! whole day. Both bounds are inclusive.

use trail_model::timefmt::{self, parse_date_ms, parse_iso_ms, parse_naive_utc_ms};
use trail_model::{Outcome, SearchQuery, SortOrder};

use crate::error::ApiError;

/// Largest `size` accepted (Immuta's page cap); `offset` has no cap.
pub const MAX_SIZE: usize = 10_000;
/// `size` when none is given.
pub const DEFAULT_SIZE: usize = 50;

/// The filters among [`AUDIT_PARAMETERS`] (listed first there): what exports accept too.
pub fn filter_parameters() -> &'static [&'static str] {
    &AUDIT_PARAMETERS[..9]
}

/// Every parameter `GET /audit` accepts, filters first.
pub const AUDIT_PARAMETERS: [&str; 13] = [
    "dataSourceId",
    "projectId",
    "profileId",
    "recordType",
    "outcome",
    "minDate",
    "maxDate",
    "blobId",
    "purpose",
    "offset",
    "size",
    "sortField",
    "sortOrder",
];

const DAY_MS: i64 = 86_400_000;
const OUTCOMES: &str =
    "success, userError, systemError, insufficientAuthorizations, failure, insufficientPermissions";

/// Parses a `GET /audit` query string (without `?`) into a search.
pub fn parse_audit_query(raw: &str) -> Result<SearchQuery, ApiError> {
    let mut q = SearchQuery::new();
    let mut seen: Vec<&'static str> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let Some(&name) = AUDIT_PARAMETERS.iter().find(|p| **p == name) else {
            return Err(unknown(&name, &AUDIT_PARAMETERS));
        };
        let value = value.as_ref();
        match name {
            "dataSourceId" => q.data_source_ids.extend(int_list(name, value)?),
            "projectId" => q.project_ids.extend(int_list(name, value)?),
            "profileId" => q.profile_ids.extend(int_list(name, value)?),
            "recordType" => {
                for part in list(name, value, "a record type such as auditQuery")? {
                    q.record_types.push(part.to_string());
                }
            }
            "outcome" => {
                for part in list(name, value, "an outcome")? {
                    let o = Outcome::parse(part).ok_or_else(|| {
                        ApiError::param(
                            name,
                            format!("outcome must be one of {OUTCOMES}, got '{}'", shown(part)),
                        )
                    })?;
                    q.outcomes.push(o);
                }
            }
            _ => {
                if seen.contains(&name) {
                    return Err(ApiError::param(
                        name,
                        format!("{name} was given more than once; give it at most once"),
                    ));
                }
                seen.push(name);
                match name {
                    "minDate" => q.min_time_ms = Some(instant(name, value, false)?),
                    "maxDate" => q.max_time_ms = Some(instant(name, value, true)?),
                    "blobId" => {
                        if value.is_empty() {
                            return Err(ApiError::param(
                                name,
                                "blobId must not be empty; leave it out to match every blob",
                            ));
                        }
                        q.blob_id = Some(value.to_string());
                    }
                    "purpose" => q.purpose = Some(int(name, value, "a purpose id (an integer)")?),
                    "offset" => q.offset = offset(value)?,
                    "size" => q.size = size(value)?,
                    "sortField" => {
                        if value != "dateTime" {
                            return Err(ApiError::param(
                                name,
                                format!(
                                    "sortField can only be dateTime (the default), got '{}'",
                                    shown(value)
                                ),
                            ));
                        }
                    }
                    "sortOrder" => q.sort_order = sort_order(value)?,
                    _ => unreachable_param(name)?,
                }
            }
        }
    }
    if let (Some(min), Some(max)) = (q.min_time_ms, q.max_time_ms) {
        if min > max {
            return Err(ApiError::param(
                "minDate",
                format!(
                    "minDate ({}) is after maxDate ({}); swap them",
                    timefmt::format_iso_ms(min),
                    timefmt::format_iso_ms(max)
                ),
            ));
        }
    }
    Ok(q)
}

/// Parses the query string of an endpoint that takes only `size` and `offset` (the activity
/// endpoint): returns `(offset, size)`.
pub fn parse_page(raw: &str) -> Result<(u64, usize), ApiError> {
    const ACCEPTED: [&str; 2] = ["offset", "size"];
    let (mut offset_value, mut size_value) = (None, None);
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let slot = match name.as_ref() {
            "offset" => &mut offset_value,
            "size" => &mut size_value,
            other => return Err(unknown(other, &ACCEPTED)),
        };
        if slot.is_some() {
            return Err(ApiError::param(
                &name,
                format!("{name} was given more than once; give it at most once"),
            ));
        }
        *slot = Some(value.into_owned());
    }
    Ok((
        offset_value
            .as_deref()
            .map(offset)
            .transpose()?
            .unwrap_or(0),
        size_value
            .as_deref()
            .map(size)
            .transpose()?
            .unwrap_or(DEFAULT_SIZE),
    ))
}

fn unreachable_param(name: &str) -> Result<(), ApiError> {
    Err(ApiError::Internal(format!(
        "parameter {name} is listed but not handled"
    )))
}

fn unknown(name: &str, accepted: &[&str]) -> ApiError {
    ApiError::param(
        name,
        format!(
            "unknown parameter '{}'; this endpoint accepts {} (names are case-sensitive)",
            shown(name),
            accepted.join(", ")
        ),
    )
}

/// A value as quoted back in a message: at most 64 characters.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    s
}

/// The items of a possibly comma-separated value; no item may be empty.
fn list<'a>(name: &str, value: &'a str, what: &str) -> Result<Vec<&'a str>, ApiError> {
    value
        .split(',')
        .map(|part| {
            let part = part.trim();
            if part.is_empty() {
                Err(ApiError::param(
                    name,
                    format!(
                        "{name} has an empty item in '{}'; give {what}, repeat the parameter or separate values with commas",
                        shown(value)
                    ),
                ))
            } else {
                Ok(part)
            }
        })
        .collect()
}

fn int(name: &str, value: &str, what: &str) -> Result<i64, ApiError> {
    value.trim().parse::<i64>().map_err(|_| {
        ApiError::param(
            name,
            format!("{name} must be {what}, got '{}'", shown(value)),
        )
    })
}

fn int_list(name: &str, value: &str) -> Result<Vec<i64>, ApiError> {
    list(name, value, "integer ids")?
        .into_iter()
        .map(|part| {
            part.parse::<i64>().map_err(|_| {
                ApiError::param(
                    name,
                    format!(
                        "{name} must be integer ids (repeat the parameter or separate them with commas, e.g. {name}=1,2), got '{}'",
                        shown(value)
                    ),
                )
            })
        })
        .collect()
}

fn offset(value: &str) -> Result<u64, ApiError> {
    value.trim().parse::<u64>().map_err(|_| {
        ApiError::param(
            "offset",
            format!(
                "offset must be an integer of 0 or more, got '{}'",
                shown(value)
            ),
        )
    })
}

fn size(value: &str) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|s| *s <= MAX_SIZE)
        .ok_or_else(|| {
            ApiError::param(
                "size",
                format!(
                    "size must be an integer from 0 to {MAX_SIZE}, got '{}'",
                    shown(value)
                ),
            )
        })
}

fn sort_order(value: &str) -> Result<SortOrder, ApiError> {
    if value.eq_ignore_ascii_case("asc") {
        Ok(SortOrder::Asc)
    } else if value.eq_ignore_ascii_case("desc") {
        Ok(SortOrder::Desc)
    } else {
        Err(ApiError::param(
            "sortOrder",
            format!("sortOrder must be asc or desc, got '{}'", shown(value)),
        ))
    }
}

/// A `minDate`/`maxDate` value as epoch milliseconds; a plain date as `maxDate` is the last
/// millisecond of that day.
fn instant(name: &str, value: &str, end_of_day: bool) -> Result<i64, ApiError> {
    let v = value.trim();
    let ms = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse::<i64>().ok()
    } else if let Some(day) = parse_date_ms(v) {
        Some(if end_of_day { day + DAY_MS - 1 } else { day })
    } else {
        // An unencoded `+02:00` offset arrives as ` 02:00`: read it as the `+` it was.
        parse_iso_ms(v)
            .or_else(|| parse_iso_ms(&v.replace(' ', "+")))
            .or_else(|| parse_naive_utc_ms(v))
    };
    ms.filter(|ms| (timefmt::MIN_MS..=timefmt::MAX_MS).contains(ms))
        .ok_or_else(|| {
            ApiError::param(
                name,
                format!(
                    "{name} must be a date (2024-06-12), an ISO-8601 timestamp (2024-06-12T10:00:00.000Z) or epoch milliseconds (1718186400000) within years 0001-9999, got '{}'",
                    shown(value)
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(r: Result<SearchQuery, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest {
                parameter: Some(p), ..
            }) => p,
            other => panic!("expected a bad_request, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_immutas() {
        let q = parse_audit_query("").unwrap();
        assert_eq!(q, SearchQuery::new());
        assert_eq!((q.size, q.offset, q.sort_order), (50, 0, SortOrder::Desc));
    }

    #[test]
    fn repeated_and_comma_lists_combine() {
        let q = parse_audit_query(
            "dataSourceId=1&dataSourceId=2,3&recordType=a,b&recordType=c&outcome=success,failure",
        )
        .unwrap();
        assert_eq!(q.data_source_ids, vec![1, 2, 3]);
        assert_eq!(q.record_types, vec!["a", "b", "c"]);
        assert_eq!(q.outcomes, vec![Outcome::Success, Outcome::Failure]);
    }

    #[test]
    fn date_forms_and_end_of_day() {
        let day = parse_iso_ms("2024-06-12T00:00:00Z").unwrap();
        let q = parse_audit_query("minDate=2024-06-12&maxDate=2024-06-12").unwrap();
        assert_eq!(q.min_time_ms, Some(day));
        assert_eq!(q.max_time_ms, Some(day + DAY_MS - 1));
        let q = parse_audit_query("minDate=2024-06-12T10:00:00+02:00").unwrap();
        assert_eq!(q.min_time_ms, Some(day + 8 * 3_600_000));
        let q = parse_audit_query("minDate=2024-06-12T10:00:00.5").unwrap();
        assert_eq!(q.min_time_ms, Some(day + 10 * 3_600_000 + 500));
        let q = parse_audit_query("maxDate=1718186400000").unwrap();
        assert_eq!(q.max_time_ms, Some(1_718_186_400_000));
    }

    #[test]
    fn refusals_name_the_parameter() {
        for (qs, p) in [
            ("size=10001", "size"),
            ("size=-1", "size"),
            ("offset=-1", "offset"),
            ("dataSourceId=x", "dataSourceId"),
            ("dataSourceId=1,,2", "dataSourceId"),
            ("outcome=SUCCESS", "outcome"),
            ("minDate=yesterday", "minDate"),
            ("maxDate=99999999999999999999", "maxDate"),
            ("sortField=id", "sortField"),
            ("sortOrder=up", "sortOrder"),
            ("size=1&size=2", "size"),
            ("purpose=x", "purpose"),
            ("blobId=", "blobId"),
            ("bogus=1", "bogus"),
            ("minDate=2024-06-13&maxDate=2024-06-12", "minDate"),
        ] {
            assert_eq!(param_of(parse_audit_query(qs)), p, "{qs}");
        }
    }

    #[test]
    fn page_parameters() {
        assert_eq!(parse_page("").unwrap(), (0, 50));
        assert_eq!(parse_page("size=3&offset=20000").unwrap(), (20_000, 3));
        assert!(parse_page("recordType=x").is_err());
    }
}
