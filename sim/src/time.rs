//! Time as the deterministic crates see it: milliseconds since the Unix epoch, handed in by the
//! driver, and their RFC 3339 rendering (`2026-11-28T09:41:07.123Z`, CONTRACT.md section 1).

pub use transfersim_mock_providers::Millis;

/// One second in milliseconds, for readable durations (`300 * SECOND_MS`).
pub const SECOND_MS: Millis = 1_000;
/// One minute in milliseconds.
pub const MINUTE_MS: Millis = 60 * SECOND_MS;
/// One hour in milliseconds.
pub const HOUR_MS: Millis = 60 * MINUTE_MS;

/// The world's default epoch, 2026-01-01T00:00:00Z (DESIGN.md).
pub const DEFAULT_EPOCH_MS: Millis = 1_767_225_600_000;

/// Renders `ms` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: Millis) -> String {
    let (year, month, day, seconds_of_day) = civil(ms / 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds_of_day / 3600,
        (seconds_of_day / 60) % 60,
        seconds_of_day % 60,
        ms % 1000
    )
}

/// Renders `ms` as an HTTP `Date` header value (RFC 9110 IMF-fixdate), for answers under a
/// virtual clock.
pub fn http_date(ms: Millis) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = ms / 1000;
    let (year, month, day, seconds_of_day) = civil(seconds);
    let weekday = DAYS[usize::try_from((seconds / 86_400) % 7).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        seconds_of_day / 3600,
        (seconds_of_day / 60) % 60,
        seconds_of_day % 60
    )
}

/// Parses an RFC 3339 UTC timestamp with a `Z` suffix and optional fraction (the form
/// [`rfc3339`] writes and scenario files use for `epoch`).
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (time, ""),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: u64 = clock_parts.next()?.parse().ok()?;
    let minute: u64 = clock_parts.next()?.parse().ok()?;
    let second: u64 = clock_parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 59 || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: u64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(year, month, day);
    let seconds = u64::try_from(days).ok()? * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month, day, seconds of day) of Unix seconds (the inverse of [`days_from_civil`]).
fn civil(unix_seconds: u64) -> (i64, u64, u64, u64) {
    let days = i64::try_from(unix_seconds / 86_400).unwrap_or(0) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let as_u64 = |value: i64| u64::try_from(value).unwrap_or(0);
    (year, as_u64(month), as_u64(day), unix_seconds % 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_epoch_renders_as_new_year_2026() {
        assert_eq!(rfc3339(DEFAULT_EPOCH_MS), "2026-01-01T00:00:00.000Z");
        assert_eq!(http_date(DEFAULT_EPOCH_MS), "Thu, 01 Jan 2026 00:00:00 GMT");
    }

    #[test]
    fn rendering_and_parsing_round_trip() {
        for ms in [
            0,
            951_782_400_123,
            DEFAULT_EPOCH_MS + 86_399_999,
            4_102_444_800_000,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339("2026-11-28T09:41:07.123Z")
                .map(rfc3339)
                .as_deref(),
            Some("2026-11-28T09:41:07.123Z")
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
