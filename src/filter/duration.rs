//! Durations as people write them in configuration: `250ms`, `5s`, `1.5s`,
//! `5m`, `1h`, `1h30m`. A number (with an optional fraction) and a unit, one
//! or more times. The result is whole milliseconds, greater than zero, and at
//! most what the host's millisecond timers take (`u32::MAX` ms, about 49 days).

/// Largest accepted duration: the proxy-wasm timer and call-timeout argument is
/// a u32 of milliseconds.
pub const MAX_MS: u64 = u32::MAX as u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Empty,
    Negative,
    /// A number with no unit after it, as in `"360"`.
    MissingUnit,
    UnknownUnit(String),
    /// Not a number where one was expected.
    Malformed,
    Zero,
    TooLong,
    /// Asks for a fraction of a millisecond, as in `"1.5ms"`.
    TooPrecise,
}

impl Error {
    /// The problem as the end of a sentence that starts with the value.
    pub fn describe(&self, out: &mut String) {
        let text = match self {
            Error::Empty => "is empty; give a duration such as \"5s\"",
            Error::Negative => "is negative; a duration must be greater than zero",
            Error::MissingUnit => "has no unit; add one of ms, s, m, h (as in \"360s\")",
            Error::UnknownUnit(unit) => {
                out.push_str("has an unknown unit ");
                super::text::push_quoted(out, unit);
                out.push_str("; use ms, s, m or h");
                return;
            }
            Error::Malformed => {
                "is not a duration; write a number and a unit, as in \"250ms\", \"5s\" or \"1h30m\""
            }
            Error::Zero => "is zero; a duration must be greater than zero",
            Error::TooLong => "is too long; the most is 1193h",
            Error::TooPrecise => "is finer than a millisecond",
        };
        out.push_str(text);
    }
}

/// Parses `text` into milliseconds.
pub fn parse_ms(text: &str) -> Result<u64, Error> {
    let mut rest = text.as_bytes();
    match rest.first() {
        None => return Err(Error::Empty),
        Some(b'-') => return Err(Error::Negative),
        _ => {}
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (whole, fraction, scale, after_number) = number(rest)?;
        let (unit_ms, after_unit) = unit(after_number)?;
        // fraction < 10^9 and unit_ms <= 3.6e6: the product fits a u64.
        let fraction_ms = fraction.saturating_mul(unit_ms);
        if fraction_ms % scale != 0 {
            return Err(Error::TooPrecise);
        }
        total = whole
            .checked_mul(unit_ms)
            .and_then(|ms| ms.checked_add(fraction_ms / scale))
            .and_then(|ms| total.checked_add(ms))
            .filter(|&ms| ms <= MAX_MS)
            .ok_or(Error::TooLong)?;
        rest = after_unit;
    }
    if total == 0 {
        return Err(Error::Zero);
    }
    Ok(total)
}

/// Most fraction digits read: more could overflow, and nine already go below a millisecond.
const MAX_FRACTION_DIGITS: usize = 9;

/// `digits[.digits]` at the start of `s`: the whole part, the fraction's
/// digits as an integer, 10^(number of fraction digits), and what follows.
fn number(s: &[u8]) -> Result<(u64, u64, u64, &[u8]), Error> {
    let (whole, count, rest) = digits(s)?;
    if count == 0 {
        return Err(Error::Malformed);
    }
    match rest.split_first() {
        Some((b'.', after_dot)) => {
            let (fraction, count, rest) = digits(after_dot)?;
            match count {
                0 => Err(Error::Malformed),
                n if n > MAX_FRACTION_DIGITS => Err(Error::TooPrecise),
                n => Ok((whole, fraction, 10u64.pow(n as u32), rest)),
            }
        }
        _ => Ok((whole, 0, 1, rest)),
    }
}

/// A run of ASCII digits: its value, its length, and what follows.
fn digits(s: &[u8]) -> Result<(u64, usize, &[u8]), Error> {
    let mut value: u64 = 0;
    let mut count = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        value = super::text::ten_times(value, b - b'0').ok_or(Error::TooLong)?;
        count += 1;
    }
    Ok((value, count, s.get(count..).unwrap_or(&[])))
}

/// The unit at the start of `s` in milliseconds, and what follows.
fn unit(s: &[u8]) -> Result<(u64, &[u8]), Error> {
    let len = s
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || !b.is_ascii())
        .count();
    let (name, rest) = s.split_at(len);
    let ms = match name {
        b"" if rest.is_empty() => return Err(Error::MissingUnit),
        b"" => return Err(Error::Malformed),
        b"ms" => 1,
        b"s" => 1000,
        b"m" => 60_000,
        b"h" => 3_600_000,
        // The run stops only before an ASCII byte, so it is whole characters.
        other => {
            return Err(Error::UnknownUnit(
                super::text::utf8(other).unwrap_or("?").into(),
            ))
        }
    };
    Ok((ms, rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let cases = [
            ("250ms", 250),
            ("5s", 5_000),
            ("360s", 360_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("0.25s", 250),
            ("1m30s", 90_000),
            ("1h0m5s", 3_605_000),
            ("2s500ms", 2_500),
            ("1.5h", 5_400_000),
            ("1ms", 1),
            ("1193h", 4_294_800_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_ms(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases = [
            ("", Error::Empty),
            ("-5s", Error::Negative),
            ("360", Error::MissingUnit),
            ("1h30", Error::MissingUnit),
            ("5x", Error::UnknownUnit("x".into())),
            ("5sec", Error::UnknownUnit("sec".into())),
            ("5d", Error::UnknownUnit("d".into())),
            ("5 s", Error::Malformed),
            ("s", Error::Malformed),
            (".5s", Error::Malformed),
            ("5.s", Error::Malformed),
            ("1..5s", Error::Malformed),
            ("+5s", Error::Malformed),
            ("0s", Error::Zero),
            ("0ms", Error::Zero),
            ("0h0m", Error::Zero),
            ("1194h", Error::TooLong),
            ("4294967296ms", Error::TooLong),
            ("99999999999999999999999s", Error::TooLong),
            ("18446744073709551615h", Error::TooLong),
        ];
        for (text, error) in cases {
            assert_eq!(parse_ms(text), Err(error), "{text}");
        }
    }

    #[test]
    fn refuses_sub_millisecond_precision() {
        assert_eq!(parse_ms("1.5ms"), Err(Error::TooPrecise));
        assert_eq!(parse_ms("0.0001s"), Err(Error::TooPrecise));
    }

    #[test]
    fn unicode_units_are_unknown_units() {
        assert_eq!(parse_ms("5µs"), Err(Error::UnknownUnit("µs".into())));
    }

    #[test]
    fn describes_problems() {
        let mut out = String::new();
        Error::UnknownUnit("x".into()).describe(&mut out);
        assert_eq!(out, "has an unknown unit \"x\"; use ms, s, m or h");
    }
}
