//! Durations as Mesos writes them in flags and environment variables:
//! a number followed by `ns`, `us`, `ms`, `secs`, `mins`, `hrs`, `days` or
//! `weeks` (`1mins`, `5secs`, `1.5hrs`).

use std::time::Duration;

/// The units stout knows, with their length in nanoseconds, largest last.
const UNITS: &[(&str, f64)] = &[
    ("ns", 1.0),
    ("us", 1e3),
    ("ms", 1e6),
    ("secs", 1e9),
    ("mins", 60e9),
    ("hrs", 3600e9),
    ("days", 86400e9),
    ("weeks", 604800e9),
];

/// Parses a Mesos duration such as `1mins` or `0.5secs`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .ok_or_else(|| format!("invalid duration '{text}': missing unit"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}': bad number"))?;
    let scale = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, scale)| *scale)
        .ok_or_else(|| format!("invalid duration '{text}': unknown unit '{unit}'"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid duration '{text}': must be non-negative"));
    }
    let nanos = value * scale;
    if nanos > u64::MAX as f64 {
        return Err(format!("invalid duration '{text}': too large"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Prints a duration in the largest unit it reaches, as stout does
/// (`5secs`, `1mins`, `1.5hrs`, `10ms`).
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos() as f64;
    let (unit, scale) = UNITS
        .iter()
        .rev()
        .find(|(_, scale)| nanos >= *scale)
        .copied()
        .unwrap_or(UNITS[0]);
    let value = nanos / scale;
    // Six significant digits, like a C++ stream, without trailing zeros.
    let digits = (5 - value.abs().log10().floor().clamp(0.0, 5.0) as i32).max(0) as usize;
    let mut text = format!("{value:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_units() {
        assert_eq!(parse("1mins"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("5secs"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("0.5secs"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse("2hrs"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1weeks"), Ok(Duration::from_secs(604800)));
        assert!(parse("5").is_err());
        assert!(parse("5seconds").is_err());
        assert!(parse("-1secs").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn formats_like_stout() {
        assert_eq!(format(Duration::from_secs(5)), "5secs");
        assert_eq!(format(Duration::from_secs(60)), "1mins");
        assert_eq!(format(Duration::from_secs(90)), "1.5mins");
        assert_eq!(format(Duration::from_secs(900)), "15mins");
        assert_eq!(format(Duration::from_millis(10)), "10ms");
        assert_eq!(format(Duration::ZERO), "0ns");
        assert_eq!(format(Duration::from_secs(7 * 86400)), "1weeks");
    }
}
