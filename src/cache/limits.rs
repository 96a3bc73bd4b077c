//! The limits a cache is pruned to: a size (`5GiB`, `500MB`, `0`) and an age (`30d`, `12h`,
//! `90m`), read from the command line, `tasks.toml` or the environment.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// A number of bytes, as `5GiB`, `500MB`, `1.5 GiB` or `0` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ByteSize(pub u64);

/// How long an entry may go unused, as `30d`, `12h`, `90m`, `45s` or `2w` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Age(pub Duration);

/// Why a size or a duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum BadLimit {
    #[error("it is empty")]
    Empty,
    #[error("it does not start with a number")]
    NoNumber,
    #[error("`{0}` is not a unit")]
    UnknownUnit(String),
    #[error("it has no unit")]
    NoUnit,
    #[error("it is too large")]
    TooLarge,
}

/// Which kind of limit a value was meant to be: the hint depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    Size,
    Age,
}

impl LimitKind {
    pub(crate) fn hint(self) -> &'static str {
        match self {
            LimitKind::Size => {
                "a size is a number and a unit: `500MB`, `5GiB` (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of 1024), or `0`"
            }
            LimitKind::Age => {
                "a duration is a number and a unit: `90m`, `12h`, `30d` (s, m, h, d, w), or `0`"
            }
        }
    }
}

/// Split `text` into its number and what follows, spaces around either ignored.
fn split(text: &str) -> Result<(f64, &str), BadLimit> {
    let text = text.trim();
    if text.is_empty() {
        return Err(BadLimit::Empty);
    }
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].parse().map_err(|_| BadLimit::NoNumber)?;
    Ok((number, text[end..].trim()))
}

/// `number * scale`, when it fits.
fn scaled(number: f64, scale: f64) -> Result<f64, BadLimit> {
    let value = (number * scale).round();
    if value.is_finite() && value < u64::MAX as f64 {
        Ok(value)
    } else {
        Err(BadLimit::TooLarge)
    }
}

impl FromStr for ByteSize {
    type Err = BadLimit;

    fn from_str(text: &str) -> Result<ByteSize, BadLimit> {
        let (number, unit) = split(text)?;
        let scale: f64 = match unit.to_ascii_lowercase().as_str() {
            "" if number == 0.0 => 1.0,
            "" => return Err(BadLimit::NoUnit),
            "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(BadLimit::UnknownUnit(unit.to_string())),
        };
        Ok(ByteSize(scaled(number, scale)? as u64))
    }
}

impl FromStr for Age {
    type Err = BadLimit;

    fn from_str(text: &str) -> Result<Age, BadLimit> {
        let (number, unit) = split(text)?;
        let seconds: f64 = match unit {
            "" if number == 0.0 => 1.0,
            "" => return Err(BadLimit::NoUnit),
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 7.0 * 86_400.0,
            _ => return Err(BadLimit::UnknownUnit(unit.to_string())),
        };
        Ok(Age(Duration::from_secs(scaled(number, seconds)? as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_decimal_and_binary_units() {
        let size = |text: &str| text.parse::<ByteSize>().map(|size| size.0);
        assert_eq!(size("0"), Ok(0));
        assert_eq!(size("500MB"), Ok(500_000_000));
        assert_eq!(size("5GiB"), Ok(5 * 1024 * 1024 * 1024));
        assert_eq!(size(" 1.5 KiB "), Ok(1536));
        assert_eq!(size("12b"), Ok(12));
        assert_eq!(size("12"), Err(BadLimit::NoUnit));
        assert_eq!(
            size("5 parsecs"),
            Err(BadLimit::UnknownUnit("parsecs".into()))
        );
        assert_eq!(size("GiB"), Err(BadLimit::NoNumber));
        assert_eq!(size(""), Err(BadLimit::Empty));
        assert_eq!(size("99999999999TiB"), Err(BadLimit::TooLarge));
    }

    #[test]
    fn durations_read_seconds_to_weeks() {
        let age = |text: &str| text.parse::<Age>().map(|age| age.0.as_secs());
        assert_eq!(age("90m"), Ok(5400));
        assert_eq!(age("12h"), Ok(43_200));
        assert_eq!(age("30d"), Ok(2_592_000));
        assert_eq!(age("1w"), Ok(604_800));
        assert_eq!(age("0s"), Ok(0));
        assert_eq!(age("0"), Ok(0));
        assert_eq!(age("30"), Err(BadLimit::NoUnit));
        assert_eq!(age("3 days"), Err(BadLimit::UnknownUnit("days".into())));
        assert_eq!(age("-1d"), Err(BadLimit::NoNumber));
    }
}
