//! Scalar syntax exactly as the reference agent (written in Go) accepts it: `strconv.ParseBool`,
//! `strconv.ParseUint`, `strconv.Atoi`, `time.ParseDuration` and `time.Duration.String`.
//!
//! Pure functions, no I/O. Keeping Go's exact syntax matters: a value the reference agent accepts
//! must not become a warning here, and the other way round.

use std::time::Duration;

/// `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`, nothing else.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// `strconv.ParseUint(s, 10, bits)`: decimal digits only (no sign, no spaces), within `bits`.
pub fn parse_uint(s: &str, bits: u32) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    if bits < 64 && v >= (1u64 << bits) {
        return None;
    }
    Some(v)
}

/// `strconv.Atoi`: optional sign, decimal digits, 64-bit range.
pub fn atoi(s: &str) -> Option<i64> {
    // Rust's integer parser has the same syntax as Atoi (optional +/-, digits only).
    s.parse().ok()
}

const NANOSECOND: u64 = 1;
const MICROSECOND: u64 = 1_000 * NANOSECOND;
const MILLISECOND: u64 = 1_000 * MICROSECOND;
const SECOND: u64 = 1_000 * MILLISECOND;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// `time.ParseDuration`, returning signed nanoseconds as Go's `time.Duration` does.
///
/// Syntax: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or the bare `0`; units `ns us µs μs ms s m h`.
/// Errors describe the problem the way Go does.
pub fn parse_duration(input: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration \"{input}\"");
    let mut s = input.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first()
        && (c == b'-' || c == b'+')
    {
        neg = c == b'-';
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let limit: u64 = 1 << 63;
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*
        let before = s.len();
        let mut v: u64 = 0;
        while let Some(&c) = s.first() {
            if !c.is_ascii_digit() {
                break;
            }
            if v > limit / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > limit {
                return Err(invalid());
            }
            s = &s[1..];
        }
        let pre = before != s.len();
        // (\.[0-9]*)?
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let before = s.len();
            let mut overflow = false;
            while let Some(&c) = s.first() {
                if !c.is_ascii_digit() {
                    break;
                }
                s = &s[1..];
                if overflow {
                    continue;
                }
                if frac > (limit - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(c - b'0');
                if y > limit {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            post = before != s.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        // unit: everything up to the next '.' or digit
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{input}\""));
        }
        let unit_bytes = &s[..unit_len];
        s = &s[unit_len..];
        let unit = match unit_bytes {
            b"ns" => NANOSECOND,
            b"us" => MICROSECOND,
            // U+00B5 micro sign and U+03BC Greek small letter mu, both followed by 's'
            [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => MICROSECOND,
            b"ms" => MILLISECOND,
            b"s" => SECOND,
            b"m" => MINUTE,
            b"h" => HOUR,
            _ => {
                let unit = String::from_utf8_lossy(unit_bytes);
                return Err(format!(
                    "time: unknown unit \"{unit}\" in duration \"{input}\""
                ));
            }
        };
        if v > limit / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // Go does this in float64 as well, so rounding matches.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let add = (frac as f64 * (unit as f64 / scale)) as u64;
            v = v.saturating_add(add);
            if v > limit {
                return Err(invalid());
            }
        }
        total = total.saturating_add(v);
        if total > limit {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63, so the negation fits (2^63 becomes i64::MIN).
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// `time.Duration.String()` for a non-negative duration: `3h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let mut u = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if u == 0 {
        return "0s".to_string();
    }
    if u < SECOND {
        let (prec, unit) = if u < MICROSECOND {
            (0, "ns")
        } else if u < MILLISECOND {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (frac, int) = fmt_frac(u, prec);
        return format!("{int}{frac}{unit}");
    }
    let (frac, secs) = fmt_frac(u, 9);
    u = secs;
    let mut out = format!("{}{frac}s", u % 60);
    u /= 60;
    if u > 0 {
        out = format!("{}m{out}", u % 60);
        u /= 60;
        if u > 0 {
            out = format!("{u}h{out}");
        }
    }
    out
}

/// Go's `fmtFrac`: the fraction of `v / 10^prec` without trailing zeros (empty when zero),
/// and the integer part.
fn fmt_frac(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut printed = false;
    for _ in 0..prec {
        let digit = v % 10;
        printed = printed || digit != 0;
        if printed {
            digits.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        }
        v /= 10;
    }
    if !printed {
        return (String::new(), v);
    }
    digits.push('.');
    (digits.iter().rev().collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_are_exactly_go_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "no", "tRUE", "on", "2", " true", "TRue"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn uints_reject_signs_and_overflow() {
        assert_eq!(parse_uint("65535", 16), Some(65535));
        assert_eq!(parse_uint("65536", 16), None);
        assert_eq!(parse_uint("+5", 16), None);
        assert_eq!(parse_uint("-5", 16), None);
        assert_eq!(parse_uint("", 16), None);
        assert_eq!(parse_uint("1_0", 16), None);
        assert_eq!(atoi("+5"), Some(5));
        assert_eq!(atoi("-5"), Some(-5));
        assert_eq!(atoi(" 5"), None);
    }

    #[test]
    fn durations_parse_like_go() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * SECOND as i64),
            ("30s", 30 * SECOND as i64),
            ("1478s", 1478 * SECOND as i64),
            ("-5s", -5 * SECOND as i64),
            ("+5s", 5 * SECOND as i64),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * SECOND as i64),
            ("5.6s", 5 * SECOND as i64 + 600 * MILLISECOND as i64),
            ("5.s", 5 * SECOND as i64),
            (".5s", 500 * MILLISECOND as i64),
            ("1.0s", SECOND as i64),
            ("1.00s", SECOND as i64),
            ("1.004s", SECOND as i64 + 4 * MILLISECOND as i64),
            ("100.00100s", 100 * SECOND as i64 + MILLISECOND as i64),
            ("10ns", 10),
            ("11us", 11 * MICROSECOND as i64),
            ("12µs", 12 * MICROSECOND as i64),
            ("12μs", 12 * MICROSECOND as i64),
            ("13ms", 13 * MILLISECOND as i64),
            ("14s", 14 * SECOND as i64),
            ("15m", 15 * MINUTE as i64),
            ("16h", 16 * HOUR as i64),
            ("3h30m", 3 * HOUR as i64 + 30 * MINUTE as i64),
            ("1h30m", 90 * MINUTE as i64),
            ("1.5h", 90 * MINUTE as i64),
            ("500ms", 500 * MILLISECOND as i64),
            (
                "10.5s4m",
                4 * MINUTE as i64 + 10 * SECOND as i64 + 500 * MILLISECOND as i64,
            ),
            (
                "-2m3.4s",
                -(2 * MINUTE as i64 + 3 * SECOND as i64 + 400 * MILLISECOND as i64),
            ),
            (
                "1h2m3s4ms5us6ns",
                (HOUR + 2 * MINUTE + 3 * SECOND + 4 * MILLISECOND + 5 * MICROSECOND + 6) as i64,
            ),
            (
                "39h9m14.425s",
                (39 * HOUR + 9 * MINUTE + 14425 * MILLISECOND) as i64,
            ),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 20 * MINUTE as i64),
            ("9007199254740993ns", (1i64 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("0.100000000000000000000h", 6 * MINUTE as i64),
            (
                "0.830103483285477580700h",
                49 * MINUTE as i64 + 48 * SECOND as i64 + 372_539_827,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(*want), "{input}");
        }
    }

    #[test]
    fn bad_durations_are_rejected() {
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{85}\u{85}",
            "\u{FFFD}",
            "9223372036854775810ns",
            "9223372036854775808ns",
            "-9223372036854775809ns",
            "9223372036854775.808us",
            "3000000h",
            "1h 30m",
            " 1h",
            "1H",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations_format_like_go() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (4 * MINUTE + 5 * SECOND, "4m5s"),
            (4 * MINUTE + 5001 * MILLISECOND, "4m5.001s"),
            (5 * HOUR + 6 * MINUTE + 7001 * MILLISECOND, "5h6m7.001s"),
            (8 * MINUTE + 1, "8m0.000000001s"),
            (3 * HOUR, "3h0m0s"),
            (30 * MINUTE, "30m0s"),
            (100 * MILLISECOND, "100ms"),
            (i64::MAX as u64, "2562047h47m16.854775807s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(format_duration(Duration::from_nanos(*nanos)), *want);
        }
    }
}
