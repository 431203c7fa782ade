//! Packet timestamps (nanoseconds since the Unix epoch) as RFC 3339 UTC text and back, and
//! human durations (`90s`, `20m`, `8h`, `2d`).

/// Days since 1970-01-01 → (year, month 1–12, day 1–31) in the proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
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

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only) into nanoseconds since the epoch.
pub fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let rest = &text[19..];
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(f) => {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let ns = f[..digits].parse::<u64>().ok()? * 10u64.pow(9 - digits as u32);
            (ns, &f[digits..])
        }
        None => (0, rest),
    };
    if !matches!(zone, "Z" | "z") {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// Parses a duration such as `90s`, `20m`, `8h`, `2d` (or a plain number of seconds).
pub fn parse_duration_ns(text: &str) -> Option<u64> {
    let (num, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, "s"),
    };
    let value: f64 = num.parse().ok()?;
    let scale = match unit {
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        _ => return None,
    };
    let ns = value * scale;
    (0.0..1e19).contains(&ns).then_some(ns as u64)
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

    #[test]
    fn parse_round_trips_and_refuses_other_zones() {
        for ns in [0u64, 951_868_799_000_000_000, 1_600_786_382_000_000_123, 1_709_542_800_000_000_000] {
            assert_eq!(parse_rfc3339_utc(&rfc3339_nanos(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_utc("2024-03-04T09:00:00Z"), Some(1_709_542_800_000_000_000));
        assert_eq!(parse_rfc3339_utc("2024-03-04T09:00:00+01:00"), None);
        assert_eq!(parse_rfc3339_utc("2024-13-04T09:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("90s"), Some(90_000_000_000));
        assert_eq!(parse_duration_ns("20m"), Some(1_200_000_000_000));
        assert_eq!(parse_duration_ns("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_ns("45"), Some(45_000_000_000));
        assert_eq!(parse_duration_ns("3 weeks"), None);
        assert_eq!(parse_duration_ns("-1s"), None);
    }
}
