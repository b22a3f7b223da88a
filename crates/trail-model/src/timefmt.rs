//! Timestamps as the audit APIs write them: epoch milliseconds, ISO-8601 instants, plain dates.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Parses an ISO-8601 / RFC 3339 instant (`2024-01-25T18:04:58.368Z`, offsets allowed, any
/// sub-second precision) into epoch milliseconds (truncated toward negative infinity).
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(nanos_to_ms(t.unix_timestamp_nanos()))
}

/// Parses a date (`2024-06-12`) as the UTC midnight that starts it, in epoch milliseconds.
pub fn parse_date_ms(s: &str) -> Option<i64> {
    let d = Date::parse(s, format_description!("[year]-[month]-[day]")).ok()?;
    let t = PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_offset(UtcOffset::UTC);
    Some(nanos_to_ms(t.unix_timestamp_nanos()))
}

/// Parses an ISO-8601 timestamp without offset (`2024-06-12T10:00:00` or with fraction) as UTC.
pub fn parse_naive_utc_ms(s: &str) -> Option<i64> {
    let fmt = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let t = PrimitiveDateTime::parse(s, fmt)
        .ok()?
        .assume_offset(UtcOffset::UTC);
    Some(nanos_to_ms(t.unix_timestamp_nanos()))
}

fn nanos_to_ms(n: i128) -> i64 {
    n.div_euclid(1_000_000) as i64
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape of `minDate`/`maxDate`.
pub fn format_iso_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The earliest and latest instants Trail accepts (years 0001 to 9999), in epoch milliseconds.
pub const MIN_MS: i64 = -62_135_596_800_000;
pub const MAX_MS: i64 = 253_402_300_799_999;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_with_offset_and_micros() {
        assert_eq!(
            parse_iso_ms("2024-01-25T18:04:58.368Z"),
            Some(1_706_205_898_368)
        );
        assert_eq!(
            parse_iso_ms("2023-03-21T13:39:45.040598-04:00"),
            Some(parse_iso_ms("2023-03-21T17:39:45.040Z").unwrap())
        );
        assert_eq!(parse_iso_ms("yesterday"), None);
    }

    #[test]
    fn dates_and_round_trip() {
        assert_eq!(
            parse_date_ms("2024-06-12"),
            parse_iso_ms("2024-06-12T00:00:00.000Z")
        );
        assert_eq!(format_iso_ms(1_634_144_773_832), "2021-10-13T17:06:13.832Z");
        assert_eq!(
            parse_naive_utc_ms("2024-06-12T10:00:00"),
            parse_iso_ms("2024-06-12T10:00:00Z")
        );
        assert_eq!(format_iso_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
