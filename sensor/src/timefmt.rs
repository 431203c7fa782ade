//! Formatting packet timestamps (nanoseconds since the Unix epoch) as RFC 3339 UTC text.

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era's year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2020-09-22T14:53:02.123456789Z`.
pub fn rfc3339_nanos(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let nanos = ts_ns % 1_000_000_000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        // 2020-09-22T14:53:02Z = 1600786382 s (leap year, after February).
        assert_eq!(rfc3339_nanos(1_600_786_382_000_000_123), "2020-09-22T14:53:02.000000123Z");
        // 2000-02-29T23:59:59Z = 951868799 s.
        assert_eq!(rfc3339_nanos(951_868_799_000_000_000), "2000-02-29T23:59:59.000000000Z");
    }
}
