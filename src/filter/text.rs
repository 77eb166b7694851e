//! Building log and error lines without `core::fmt`, which would cost the
//! binary several kilobytes. Every line is a `String` grown with `push_str`.

/// Longest piece of untrusted text (a header name, a config value) a line quotes.
const QUOTE_MAX: usize = 64;

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &d in digits.get(i..).unwrap_or(&[]) {
        out.push(char::from(d));
    }
}

/// Appends `s` in double quotes, safe to put in a log line: control and
/// non-ASCII characters become `\xNN`/`?`, quotes and backslashes are escaped,
/// and anything past 64 characters is cut with an ellipsis. Only for names and
/// configuration text: header values are never quoted anywhere.
pub fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for (i, c) in s.chars().enumerate() {
        if i == QUOTE_MAX {
            out.push_str("...");
            break;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '\0'..='\u{7f}' => {
                out.push_str("\\x");
                let b = c as u8;
                out.push(hex_digit(b >> 4));
                out.push(hex_digit(b & 0xf));
            }
            _ => out.push('?'),
        }
    }
    out.push('"');
}

/// Appends a provider path, quoted, without its query string, which may
/// carry a key (`/token?api_key=...`).
pub fn push_path(out: &mut String, path: &str) {
    // A byte search: `str::split_once` would bring in `memchr`, 400 bytes.
    match path.bytes().position(|b| b == b'?') {
        Some(query) => {
            push_quoted(out, path.get(..query).unwrap_or_default());
            out.push_str(" with a query string (not logged)");
        }
        None => push_quoted(out, path),
    }
}

fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

/// Appends a millisecond count the way a person writes it: `250ms`, `5s`,
/// `1.5s`, `6m`, `1h30m`.
pub fn push_duration(out: &mut String, ms: u64) {
    if ms == 0 || ms % 1000 != 0 {
        if ms > 1000 && ms < 60_000 && ms % 100 == 0 {
            push_u64(out, ms / 1000);
            out.push('.');
            push_u64(out, ms % 1000 / 100);
            out.push('s');
        } else {
            push_u64(out, ms);
            out.push_str("ms");
        }
        return;
    }
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n != 0 {
            push_u64(out, n);
            out.push(unit);
        }
    }
}

/// A line built from pieces: `line(&["a ", "b"])`.
pub fn line(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// `n * 10 + digit`, or `None` past `u64::MAX`: what reading a decimal
/// number takes, checked by a comparison (an overflow check would multiply
/// in 128 bits).
pub fn ten_times(n: u64, digit: u8) -> Option<u64> {
    match n > (u64::MAX - u64::from(digit)) / 10 {
        true => None,
        false => Some(n * 10 + u64::from(digit)),
    }
}

/// How many bytes of `bytes` are valid UTF-8 from the start (RFC 3629: no
/// overlong forms, no surrogates, nothing past U+10FFFF): all of them when
/// the whole is. What `std::str::from_utf8` accepts (tests/properties.rs
/// compares the two), in a tenth of its code.
fn utf8_prefix(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // The sequence's length, and the range its second byte must be in.
        let (len, second) = match b {
            0x00..=0x7f => (1, 0..=0xff),
            0xc2..=0xdf => (2, 0x80..=0xbf),
            0xe0 => (3, 0xa0..=0xbf),
            0xed => (3, 0x80..=0x9f),
            0xe1..=0xef => (3, 0x80..=0xbf),
            0xf0 => (4, 0x90..=0xbf),
            0xf1..=0xf3 => (4, 0x80..=0xbf),
            0xf4 => (4, 0x80..=0x8f),
            _ => return i,
        };
        let fits = |k: usize| {
            let range = if k == 1 { second.clone() } else { 0x80..=0xbf };
            bytes.get(i + k).is_some_and(|c| range.contains(c))
        };
        if !(1..len).all(fits) {
            return i;
        }
        i += len;
    }
    i
}

/// `bytes` as text if it is all UTF-8; else how many bytes from the start are.
pub fn utf8(bytes: &[u8]) -> Result<&str, usize> {
    match utf8_prefix(bytes) {
        // SAFETY: `utf8_prefix` has checked every byte is part of a valid
        // UTF-8 sequence, by the same rules as `std::str::from_utf8`.
        valid if valid == bytes.len() => Ok(unsafe { std::str::from_utf8_unchecked(bytes) }),
        valid => Err(valid),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// What the standard library says of `bytes`.
    fn std_utf8(bytes: &[u8]) -> Result<&str, usize> {
        std::str::from_utf8(bytes).map_err(|e| e.valid_up_to())
    }

    #[test]
    fn utf8_agrees_with_the_standard_library() {
        // Every first and second byte, with the third and fourth at each
        // boundary of the continuation ranges; then text after it.
        let edges = [
            0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xf4, 0xff,
        ];
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for &b2 in &edges {
                    for &b3 in &edges {
                        let bytes = [b0, b1, b2, b3, b'x'];
                        for end in [1, 2, 3, 5] {
                            let b = &bytes[..end];
                            assert_eq!(utf8(b), std_utf8(b), "{b:x?}");
                        }
                    }
                }
            }
        }
        assert_eq!(utf8("é€😀".as_bytes()), Ok("é€😀"));
        assert_eq!(utf8(b"ab\xed\xa0\x80"), Err(2), "a surrogate");
        assert_eq!(utf8(b"\xf4\x90\x80\x80"), Err(0), "past U+10FFFF");
        assert_eq!(utf8(b"\xc0\xaf"), Err(0), "overlong");
        assert_eq!(utf8(b""), Ok(""));
    }

    fn num(n: u64) -> String {
        let mut s = String::new();
        push_u64(&mut s, n);
        s
    }

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, s);
        out
    }

    fn dur(ms: u64) -> String {
        let mut s = String::new();
        push_duration(&mut s, ms);
        s
    }

    #[test]
    fn numbers() {
        assert_eq!(num(0), "0");
        assert_eq!(num(7), "7");
        assert_eq!(num(1234567890), "1234567890");
        assert_eq!(num(u64::MAX), u64::MAX.to_string());
    }

    #[test]
    fn quoting_neutralises_untrusted_text() {
        assert_eq!(quoted("x-token"), "\"x-token\"");
        assert_eq!(quoted("a\r\nb"), "\"a\\x0d\\x0ab\"");
        assert_eq!(quoted("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(quoted("é"), "\"?\"");
        let long = "n".repeat(100);
        assert_eq!(quoted(&long), format!("\"{}...\"", "n".repeat(64)));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(dur(250), "250ms");
        assert_eq!(dur(1000), "1s");
        assert_eq!(dur(1500), "1.5s");
        assert_eq!(dur(1250), "1250ms");
        assert_eq!(dur(360_000), "6m");
        assert_eq!(dur(5_400_000), "1h30m");
        assert_eq!(dur(3_601_000), "1h1s");
        assert_eq!(dur(0), "0ms");
    }

    #[test]
    fn lines_concatenate() {
        assert_eq!(line(&["a", "", "bc"]), "abc");
    }
}
