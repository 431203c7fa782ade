//! Time of day from packet time: local hour and weekend, with a fixed offset from UTC.
//!
//! A fixed offset, not a zone database: daylight-saving changes are not followed (a sensor in a zone
//! with DST sees its hours shift by one for half the year; set the offset of the season that matters
//! or accept the hour of slack). The offset is part of the config.

pub const NAMES: &[&str] = &["ctx_hour_of_day", "ctx_weekend"];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a UTC offset (expected +HH:MM or -HH:MM, at most 14 hours, e.g. +01:00)")]
pub struct OffsetError(String);

/// Offset from UTC in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UtcOffset(pub i32);

impl UtcOffset {
    pub fn parse(s: &str) -> Result<UtcOffset, OffsetError> {
        let err = || OffsetError(s.into());
        let t = s.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(UtcOffset(0));
        }
        let sign = match t.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(err()),
        };
        let (h, m) = t[1..].split_once(':').ok_or_else(err)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(err());
        }
        let h: i32 = h.parse().map_err(|_| err())?;
        let m: i32 = m.parse().map_err(|_| err())?;
        if h > 14 || m > 59 || (h == 14 && m > 0) {
            return Err(err());
        }
        Ok(UtcOffset(sign * (h * 3600 + m * 60)))
    }

    /// Local seconds since the epoch.
    pub fn local_secs(self, ts_ns: u64) -> i64 {
        (ts_ns / 1_000_000_000) as i64 + i64::from(self.0)
    }

    /// Local hour of day, fractional to the whole second, in [0, 24).
    pub fn hour_of_day(self, ts_ns: u64) -> f64 {
        self.local_secs(ts_ns).rem_euclid(86_400) as f64 / 3600.0
    }

    /// Local hour of day as a whole number 0..24.
    pub fn hour(self, ts_ns: u64) -> usize {
        (self.local_secs(ts_ns).rem_euclid(86_400) / 3600) as usize
    }

    /// Saturday or Sunday, local time.
    pub fn is_weekend(self, ts_ns: u64) -> bool {
        // 1970-01-01 was a Thursday: day 0 → weekday 3 (Monday = 0).
        let weekday = (self.local_secs(ts_ns).div_euclid(86_400) + 3).rem_euclid(7);
        weekday >= 5
    }

    pub fn write(self, ts_ns: u64, out: &mut [f64]) {
        out[0] = self.hour_of_day(ts_ns);
        out[1] = if self.is_weekend(ts_ns) { 1.0 } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2024-03-04 09:00:00 UTC.
    const MONDAY_9: u64 = 1_709_542_800_000_000_000;
    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn hours_and_weekends_follow_the_offset() {
        let utc = UtcOffset(0);
        assert_eq!(utc.hour_of_day(MONDAY_9), 9.0);
        assert_eq!(utc.hour_of_day(MONDAY_9 + HOUR / 2), 9.5);
        assert!(!utc.is_weekend(MONDAY_9));
        // Saturday 00:00 UTC is 5 days minus 9 hours later.
        let saturday = MONDAY_9 + 5 * 24 * HOUR - 9 * HOUR;
        assert!(utc.is_weekend(saturday));
        assert!(!utc.is_weekend(saturday - 1_000_000_000));
        // At -05:00 that instant is still Friday 19:00.
        let ny = UtcOffset::parse("-05:00").unwrap();
        assert!(!ny.is_weekend(saturday));
        assert_eq!(ny.hour(saturday), 19);
        assert_eq!(UtcOffset::parse("+05:30").unwrap().hour_of_day(MONDAY_9), 14.5);
    }

    #[test]
    fn offsets_parse_or_are_refused() {
        assert_eq!(UtcOffset::parse("+01:00"), Ok(UtcOffset(3600)));
        assert_eq!(UtcOffset::parse("UTC"), Ok(UtcOffset(0)));
        for bad in ["1:00", "+1:00", "+15:00", "+01:60", "Europe/Berlin", ""] {
            assert!(UtcOffset::parse(bad).is_err(), "{bad}");
        }
    }
}
