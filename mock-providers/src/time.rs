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
    stamp_string(ms, Form::Rfc3339)
}

/// Salesforce's date-time form: like RFC 3339 but with a `+0000` offset.
pub fn salesforce_datetime(ms: Millis) -> String {
    stamp_string(ms, Form::Salesforce)
}

fn stamp_string(ms: Millis, form: Form) -> String {
    let mut text = [0u8; STAMP_MAX];
    let len = stamp_text(ms, form, &mut text);
    String::from_utf8_lossy(&text[..len]).into_owned()
}

/// The two date-time forms of the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// [`rfc3339`]: `2026-01-01T00:00:00.000Z`.
    Rfc3339,
    /// [`salesforce_datetime`]: `2026-01-01T00:00:00.000+0000`.
    Salesforce,
}

/// The longest text of either form: a 9-digit year (the largest `Millis` falls in year
/// 584,556,019) and 24 more characters.
const STAMP_MAX: usize = 40;

/// Writes `ms` in `form` into `buf` without `format!`; answers the length. The text the
/// `format!("{:04}-{:02}-…")` renderings wrote before (a test compares them over the whole
/// `u64` range).
fn stamp_text(ms: Millis, form: Form, buf: &mut [u8; STAMP_MAX]) -> usize {
    fn two(buf: &mut [u8], at: usize, n: u32) {
        buf[at] = b'0' + (n / 10) as u8;
        buf[at + 1] = b'0' + (n % 10) as u8;
    }
    let c = civil(ms);
    // `{:04}`: at least four digits, zero-padded.
    let mut year = itoa::Buffer::new();
    let year = year.format(c.year).as_bytes();
    let pad = 4usize.saturating_sub(year.len());
    buf[..pad].fill(b'0');
    buf[pad..pad + year.len()].copy_from_slice(year);
    let mut at = pad + year.len();
    buf[at] = b'-';
    two(buf, at + 1, c.month);
    buf[at + 3] = b'-';
    two(buf, at + 4, c.day);
    buf[at + 6] = b'T';
    two(buf, at + 7, c.hour);
    buf[at + 9] = b':';
    two(buf, at + 10, c.minute);
    buf[at + 12] = b':';
    two(buf, at + 13, c.second);
    buf[at + 15] = b'.';
    buf[at + 16] = b'0' + (c.millisecond / 100) as u8;
    two(buf, at + 17, c.millisecond % 100);
    at += 19;
    let suffix: &[u8] = match form {
        Form::Rfc3339 => b"Z",
        Form::Salesforce => b"+0000",
    };
    buf[at..at + suffix.len()].copy_from_slice(suffix);
    at + suffix.len()
}

/// Writes wire timestamps as JSON strings (their text needs no escaping), remembering the last
/// two instants it wrote: the records of one page or batch mostly share a creation and an
/// update instant, so most stamps are a copy.
#[derive(Debug)]
pub(crate) struct StampWriter {
    form: Form,
    recent: [Option<(Millis, [u8; STAMP_MAX], usize)>; 2],
    next: usize,
}

impl StampWriter {
    pub(crate) fn new(form: Form) -> Self {
        Self {
            form,
            recent: [None, None],
            next: 0,
        }
    }

    /// Writes `"<stamp>"`.
    pub(crate) fn write_json(&mut self, out: &mut Vec<u8>, ms: Millis) {
        out.push(b'"');
        self.write_text(out, ms);
        out.push(b'"');
    }

    /// Writes the stamp's text alone.
    pub(crate) fn write_text(&mut self, out: &mut Vec<u8>, ms: Millis) {
        for (at, text, len) in self.recent.iter().flatten() {
            if *at == ms {
                out.extend_from_slice(&text[..*len]);
                return;
            }
        }
        let mut text = [0u8; STAMP_MAX];
        let len = stamp_text(ms, self.form, &mut text);
        out.extend_from_slice(&text[..len]);
        self.recent[self.next] = Some((ms, text, len));
        self.next = (self.next + 1) % self.recent.len();
    }
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

    /// The `format!` renderings the digit writer replaced: the oracle.
    fn formatted(ms: Millis, form: Form) -> String {
        let c = civil(ms);
        let suffix = match form {
            Form::Rfc3339 => "Z",
            Form::Salesforce => "+0000",
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{suffix}",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millisecond
        )
    }

    fn written(ms: Millis, form: Form) -> String {
        let mut out = Vec::new();
        StampWriter::new(form).write_text(&mut out, ms);
        String::from_utf8(out).expect("stamps are ASCII")
    }

    #[test]
    fn written_stamps_equal_the_formatted_ones_at_the_edges() {
        for ms in [
            0,
            1,
            999,
            EPOCH_2026 - 1,
            EPOCH_2026,
            1_835_440_496_789,
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000-01-01
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ] {
            for form in [Form::Rfc3339, Form::Salesforce] {
                assert_eq!(written(ms, form), formatted(ms, form), "{ms}");
            }
            assert_eq!(rfc3339(ms), formatted(ms, Form::Rfc3339));
            assert_eq!(salesforce_datetime(ms), formatted(ms, Form::Salesforce));
        }
    }

    proptest::proptest! {
        #[test]
        fn written_stamps_equal_the_formatted_ones(ms in proptest::prelude::any::<u64>(), near in 0u64..4_000_000_000_000) {
            for ms in [ms, near] {
                proptest::prop_assert_eq!(written(ms, Form::Rfc3339), formatted(ms, Form::Rfc3339));
                proptest::prop_assert_eq!(written(ms, Form::Salesforce), formatted(ms, Form::Salesforce));
                proptest::prop_assert_eq!(rfc3339(ms), formatted(ms, Form::Rfc3339));
                proptest::prop_assert_eq!(salesforce_datetime(ms), formatted(ms, Form::Salesforce));
            }
        }
    }

    #[test]
    fn the_writer_reuses_recent_stamps_and_still_writes_each_right() {
        let mut writer = StampWriter::new(Form::Rfc3339);
        let mut out = Vec::new();
        for ms in [
            EPOCH_2026,
            EPOCH_2026 + 1,
            EPOCH_2026,
            EPOCH_2026 + 2,
            EPOCH_2026 + 1,
        ] {
            out.clear();
            writer.write_json(&mut out, ms);
            assert_eq!(
                out,
                format!("\"{}\"", formatted(ms, Form::Rfc3339)).into_bytes()
            );
        }
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
