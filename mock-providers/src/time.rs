//! Clock readings as wire text, computed from [`Millis`] alone so that the deterministic core never
//! touches the system clock.
//!
//! - [`rfc3339`]: HubSpot's `createdAt`/`updatedAt` (`2026-01-01T00:00:00.000Z`).
//! - [`salesforce_datetime`]: Salesforce's `CreatedDate` (`2026-01-01T00:00:00.000+0000`).
//! - [`http_date`]: the `Date` header (`Thu, 01 Jan 2026 00:00:00 GMT`), so an in-process answer and
//!   the same answer served over HTTP carry the same bytes, and a virtual clock shows in the header.

use crate::seam::Millis;

/// A UTC calendar reading, split into the fields the wire formats need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millisecond: u32,
    /// 0 = Sunday.
    weekday: u32,
}

const MS_PER_DAY: u64 = 86_400_000;

/// Howard Hinnant's `civil_from_days`, valid for every `u64` millisecond count we can be handed.
fn civil(ms: Millis) -> Civil {
    let days = i64::try_from(ms / MS_PER_DAY).expect("u64 days fit in i64");
    let rem = ms % MS_PER_DAY;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month: u32::try_from(month).expect("month is 1..=12"),
        day: u32::try_from(day).expect("day is 1..=31"),
        hour: u32::try_from(rem / 3_600_000).expect("hour < 24"),
        minute: u32::try_from(rem / 60_000 % 60).expect("minute < 60"),
        second: u32::try_from(rem / 1000 % 60).expect("second < 60"),
        millisecond: u32::try_from(rem % 1000).expect("ms < 1000"),
        // 1970-01-01 was a Thursday.
        weekday: u32::try_from((days + 4).rem_euclid(7)).expect("weekday < 7"),
    }
}

/// RFC 3339 UTC with milliseconds, as HubSpot writes timestamps.
pub fn rfc3339(ms: Millis) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millisecond
    )
}

/// Salesforce's date-time form: like RFC 3339 but with a `+0000` offset.
pub fn salesforce_datetime(ms: Millis) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millisecond
    )
}

/// The IMF-fixdate form of RFC 9110 for the `Date` header.
pub fn http_date(ms: Millis) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z, the world's default epoch.
    const EPOCH_2026: Millis = 1_767_225_600_000;

    #[test]
    fn the_unix_epoch_formats_as_1970() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn the_world_epoch_formats_in_every_form() {
        assert_eq!(rfc3339(EPOCH_2026), "2026-01-01T00:00:00.000Z");
        assert_eq!(
            salesforce_datetime(EPOCH_2026 + 1_234),
            "2026-01-01T00:00:01.234+0000"
        );
        assert_eq!(http_date(EPOCH_2026), "Thu, 01 Jan 2026 00:00:00 GMT");
    }

    #[test]
    fn a_leap_day_and_the_last_millisecond_of_a_year_format_correctly() {
        // 2028-02-29T12:34:56.789Z
        assert_eq!(rfc3339(1_835_440_496_789), "2028-02-29T12:34:56.789Z");
        assert_eq!(rfc3339(EPOCH_2026 - 1), "2025-12-31T23:59:59.999Z");
        assert_eq!(
            http_date(1_835_440_496_789),
            "Tue, 29 Feb 2028 12:34:56 GMT"
        );
    }
}
