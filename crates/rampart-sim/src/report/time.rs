//! Times as people read them: wall-clock labels from the scenario's start time, and
//! short durations (`2 s`, `1.4 s`, `250 ms`).

use std::time::Duration;

/// The wall-clock label of `at` after a start at `start_of_day` seconds since midnight:
/// `H:MM:SS`, hours without a leading zero, wrapping at midnight.
///
/// ```
/// use rampart_sim::report::clock_label;
/// use std::time::Duration;
/// let start = 2 * 3600 + 47 * 60; // 2:47:00
/// assert_eq!(clock_label(start, Duration::from_millis(62_400)), "2:48:02");
/// ```
pub fn clock_label(start_of_day: u32, at: Duration) -> String {
    let total = (u64::from(start_of_day) + at.as_secs()) % 86_400;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

/// A short duration: whole seconds as `2 s`, other seconds with one decimal, below a
/// second in milliseconds.
pub(crate) fn short(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 {
        if ms % 1000 == 0 {
            format!("{} s", ms / 1000)
        } else {
            format!("{:.1} s", d.as_secs_f64())
        }
    } else {
        format!("{ms} ms")
    }
}

/// Microseconds as a short duration.
pub(crate) fn short_us(us: u64) -> String {
    short(Duration::from_micros(us))
}

/// Milliseconds of `d`, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_wrap_at_midnight() {
        assert_eq!(
            clock_label(23 * 3600 + 59 * 60 + 59, Duration::from_secs(2)),
            "0:00:01"
        );
        assert_eq!(clock_label(14 * 3600, Duration::ZERO), "14:00:00");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short(Duration::from_secs(2)), "2 s");
        assert_eq!(short(Duration::from_millis(1400)), "1.4 s");
        assert_eq!(short(Duration::from_millis(250)), "250 ms");
    }
}
