//! Colours and durations as the terminal shows them.

use std::time::Duration;

use crate::reporter::Took;

#[derive(Debug, Clone, Copy)]
pub enum Style {
    Bold,
    Dim,
    Green,
    Red,
    Yellow,
}

#[derive(Debug, Clone, Copy)]
pub struct Painter {
    pub color: bool,
}

impl Painter {
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Red => "31",
            Style::Yellow => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// `0.4 s`, `12.0 s`, `2 m 05 s`.
pub fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = duration.as_secs();
        format!("{} m {:02} s", whole / 60, whole % 60)
    }
}

/// `0.2 s`, or `0.2 s (environment 27.9 s)` when it made its environment: the session's own
/// time, then the environment's apart.
pub(crate) fn took(took: &Took) -> String {
    let own = duration(took.own());
    match took.environment {
        Some(environment) => format!("{own} (environment {})", duration(environment)),
        None => own,
    }
}

/// `[2026-12-01T09:30:01Z]`: a moment in UTC, to the second, for `--add-timestamp`.
pub fn utc(moment: std::time::SystemTime) -> String {
    let (year, month, day, rest) = civil(moment);
    format!(
        "[{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z]",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `2026-11-30 14:02 UTC`: a moment in UTC, to the minute, for people to read.
pub(crate) fn utc_minute(moment: std::time::SystemTime) -> String {
    let (year, month, day, rest) = civil(moment);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3_600,
        rest / 60 % 60
    )
}

/// The UTC date of a moment, and the seconds into its day.
fn civil(moment: std::time::SystemTime) -> (u64, u64, u64, u64) {
    let seconds = moment
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(3949)), "3.9 s");
        assert_eq!(duration(Duration::from_secs(125)), "2 m 05 s");
    }

    #[test]
    fn moments_are_told_in_utc() {
        let at = |seconds| std::time::UNIX_EPOCH + Duration::from_secs(seconds);
        assert_eq!(utc(at(0)), "[1970-01-01T00:00:00Z]");
        assert_eq!(utc(at(951_782_400)), "[2000-02-29T00:00:00Z]");
        assert_eq!(utc(at(1_796_117_401)), "[2026-12-01T09:30:01Z]");
        assert_eq!(utc(at(4_107_542_399)), "[2100-02-28T23:59:59Z]");
        assert_eq!(utc_minute(at(1_796_117_401)), "2026-12-01 09:30 UTC");
    }
}
