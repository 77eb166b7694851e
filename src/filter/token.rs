//! An OAuth2 token endpoint's answer (RFC 6749 §5.1, §5.2): the access
//! token, its type and lifetime from a success, the `error` code from a
//! failure. Any other member, of any type and in any order, is skipped;
//! a member this reads, given twice, is refused.

use super::json::Kind;
use super::provider::{self, Failure};
use super::text::{line, ten_times};

const WRONG_TYPE: &str = "has a member of the wrong type";

/// The members read, all strings but the last.
const MEMBERS: [&str; 4] = ["access_token", "token_type", "error", "expires_in"];

/// What an answer gave of `MEMBERS`: the strings, and `expires_in` in whole
/// seconds (0 for zero or less; a fraction is dropped, a huge value saturates).
type Members = ([Option<String>; 3], Option<u64>);

/// A success body: the value of the token's header (`prefix`, or else the
/// answer's `token_type`, `bearer` in any case being `Bearer `, then the
/// access token) and its lifetime in seconds, `None` when not given.
pub fn header_value(body: &[u8], prefix: Option<&str>) -> Result<(String, Option<u64>), Failure> {
    let mut found = Members::default();
    members(body, &mut found)?;
    let ([token, kind, _], expires_in) = found;
    let Some(token) = token else {
        return Err(Failure::Token("has no access_token string"));
    };
    if expires_in == Some(0) {
        let why = "has an expires_in that is not a positive number";
        return Err(Failure::Token(why));
    }
    let mut value = match (prefix, kind) {
        (Some(prefix), _) => String::from(prefix),
        (None, Some(kind)) if kind.eq_ignore_ascii_case("bearer") => String::from("Bearer "),
        (None, Some(kind)) => line(&[&kind, " "]),
        (None, None) => return Err(Failure::Token("has no token_type; give oauth2.prefix")),
    };
    value.push_str(&token);
    Ok((value, expires_in))
}

/// The `error` code of an error body, if it has one that is a short token
/// (RFC 6749 §5.2: `invalid_client` and friends); its description, which
/// may quote what the client sent, is never read.
pub fn error_code(body: &[u8]) -> Option<String> {
    let mut found = Members::default();
    members(body, &mut found).ok()?;
    let ([.., Some(code)], _) = found else {
        return None;
    };
    let fits = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    (!code.is_empty() && code.len() <= 64 && code.as_bytes().iter().all(fits)).then_some(code)
}

/// The members `MEMBERS` names, from a JSON object body, into `found`.
fn members(body: &[u8], found: &mut Members) -> Result<(), Failure> {
    let (mut s, mut object) = provider::object_body(body)?;
    let (text, expires_in) = found;
    let mut seen = 0u8; // bit i: MEMBERS[i] was given
    while let Some(name) = s.next_key(&mut object).map_err(Failure::NotJson)? {
        let Some(i) = MEMBERS.iter().position(|m| *m == name) else {
            s.skip().map_err(Failure::NotJson)?;
            continue;
        };
        if seen & 1 << i != 0 {
            return Err(Failure::Token("gives a member twice"));
        }
        seen |= 1 << i;
        match (s.kind().map_err(Failure::NotJson)?, text.get_mut(i)) {
            (Kind::String, Some(slot)) => {
                *slot = Some(s.string().map_err(Failure::NotJson)?.into_owned())
            }
            (Kind::Number, None) => {
                *expires_in = Some(seconds(s.number().map_err(Failure::NotJson)?))
            }
            // An `error` that is no code matters to no answer.
            _ if i == 2 => s.skip().map_err(Failure::NotJson)?,
            _ => return Err(Failure::Token(WRONG_TYPE)),
        }
    }
    s.end().map_err(Failure::NotJson)?;
    Ok(())
}

/// Whole seconds of a JSON number (checked by the scanner): its digits,
/// the exponent moving the point, the rest dropped; saturating; 0 for a
/// negative number or one under a second.
fn seconds(number: &str) -> u64 {
    let b = number.as_bytes();
    if b.first() == Some(&b'-') {
        return 0;
    }
    let exp_at = b.iter().position(|&c| c | 0x20 == b'e').unwrap_or(b.len());
    let (mantissa, exponent) = b.split_at(exp_at);
    // The body is at most 64 KiB, so no exponent that matters is longer.
    let mut shift = 0i64;
    for &c in exponent.iter().filter(|c| c.is_ascii_digit()) {
        shift = (shift * 10 + i64::from(c - b'0')).min(1_000_000);
    }
    if exponent.get(1) == Some(&b'-') {
        shift = -shift;
    }
    let digits = mantissa.iter().filter(|c| c.is_ascii_digit());
    let point = mantissa.iter().position(|&c| c == b'.');
    // How many of the digits are left of the point once the exponent has moved it.
    let mut keep = point.unwrap_or(mantissa.len()) as i64 + shift;
    let mut whole = 0u64;
    for &c in digits {
        if keep <= 0 {
            return whole;
        }
        whole = ten_times(whole, c - b'0').unwrap_or(u64::MAX);
        keep -= 1;
    }
    // Zeros the exponent adds; once saturated (or zero) more change nothing.
    while keep > 0 && whole != 0 && whole != u64::MAX {
        whole = ten_times(whole, 0).unwrap_or(u64::MAX);
        keep -= 1;
    }
    whole
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The token and its lifetime, with no prefix.
    fn token(body: &str) -> Result<(String, Option<u64>), Failure> {
        header_value(body.as_bytes(), Some(""))
    }

    fn problem(body: &str) -> String {
        let mut out = String::new();
        token(body).unwrap_err().describe(&mut out);
        out
    }

    #[test]
    fn reads_a_success_in_any_order_skipping_the_rest() {
        let t = token(
            r#"{"scope": "a b", "expires_in": 3600, "extra": {"n": [1, 2.5e3, true, false, null, {"x": []}]},
                "token_type": "Bearer", "access_token": "eyJ.a-b_c~d+e/f=", "refresh": null, "ok": true}"#,
        )
        .unwrap();
        assert_eq!(t, ("eyJ.a-b_c~d+e/f=".into(), Some(3600)));
        assert_eq!(
            token(r#"{"access_token": "x"}"#).unwrap(),
            ("x".into(), None)
        );
        let odd_error = token(r#"{"access_token": "x", "error": {"n": 1}}"#).unwrap();
        assert_eq!(
            odd_error.0, "x",
            "an error member that is not a code is skipped"
        );
        let escaped = token(r#"{"access_token": "a\u002fb"}"#).unwrap();
        assert_eq!(escaped.0, "a/b");
    }

    #[test]
    fn the_prefix_is_given_or_the_token_type() {
        let value = |body: &str, prefix| header_value(body.as_bytes(), prefix).map(|t| t.0);
        let bearer = r#"{"access_token": "t", "token_type": "bEaReR"}"#;
        assert_eq!(value(bearer, None).unwrap(), "Bearer t");
        assert_eq!(value(bearer, Some("Token ")).unwrap(), "Token t");
        let mac = r#"{"access_token": "t", "token_type": "MAC"}"#;
        assert_eq!(value(mac, None).unwrap(), "MAC t");
        let mut why = String::new();
        value(r#"{"access_token": "t"}"#, None)
            .unwrap_err()
            .describe(&mut why);
        assert_eq!(
            why,
            "the token response has no token_type; give oauth2.prefix"
        );
    }

    #[test]
    fn expires_in_whole_fractional_exponent_huge() {
        let lifetime =
            |n: &str| token(&format!(r#"{{"access_token": "x", "expires_in": {n}}}"#)).map(|t| t.1);
        for (n, s) in [
            ("1", 1),
            ("299.9", 299),
            ("3.6e3", 3600),
            ("36E+2", 3600),
            ("3.6125e2", 361),
            ("36000e-1", 3600),
            ("1.5", 1),
            ("99999999999999999999999", u64::MAX),
            ("1e400", u64::MAX),
            ("0.00000000000000000000000000000000000000001e45", 10_000),
            ("10000", 10_000),
        ] {
            assert_eq!(lifetime(n).unwrap(), Some(s), "{n}");
        }
        let one = format!("1{}e-1004", "0".repeat(1004));
        assert_eq!(lifetime(&one).unwrap(), Some(1), "{one}");
        for n in ["0", "0.5", "-1", "-3600", "1e-3", "0e5"] {
            assert!(lifetime(n).is_err(), "{n}");
        }
        assert_eq!(
            problem(r#"{"access_token": "x", "expires_in": 0}"#),
            "the token response has an expires_in that is not a positive number"
        );
        assert_eq!(
            problem(r#"{"access_token": "x", "expires_in": "3600"}"#),
            "the token response has a member of the wrong type"
        );
    }

    #[test]
    fn refuses_what_is_not_a_token() {
        for (body, why) in [
            (
                r#"{"token_type": "Bearer"}"#,
                "the token response has no access_token string",
            ),
            (
                r#"{"access_token": 7}"#,
                "the token response has a member of the wrong type",
            ),
            (
                r#"{"access_token": "a", "access_token": "b"}"#,
                "the token response gives a member twice",
            ),
            (
                r#"{"access_token": "a", "expires_in": 1, "expires_in": 2}"#,
                "the token response gives a member twice",
            ),
            (
                r#"{"access_token": ["a"]}"#,
                "the token response has a member of the wrong type",
            ),
            (
                r#"{"access_token": "a", "token_type": 1}"#,
                "the token response has a member of the wrong type",
            ),
            ("", "the body is empty"),
            ("[]", "the body is an array, not a JSON object"),
            (
                "<html>",
                "the body is not valid JSON: expected a JSON value at byte 0",
            ),
            (
                r#"{"access_token": "a", "x": 01}"#,
                "the body is not valid JSON: number has a leading zero at byte 27",
            ),
            (
                r#"{"access_token": "a", "x": 1.}"#,
                "the body is not valid JSON: expected a digit at byte 29",
            ),
            (
                r#"{"access_token": "a", "x": -}"#,
                "the body is not valid JSON: expected a digit at byte 28",
            ),
            (
                r#"{"access_token": "a"} x"#,
                "the body is not valid JSON: unexpected data after the JSON value at byte 22",
            ),
        ] {
            assert_eq!(problem(body), why, "{body}");
        }
        let deep = format!(
            r#"{{"access_token": "a", "x": {}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(
            problem(&deep).contains("nested too deeply"),
            "{}",
            problem(&deep)
        );
        let fits = format!(
            r#"{{"access_token": "a", "x": {}{}}}"#,
            "[".repeat(31),
            "]".repeat(31)
        );
        assert!(token(&fits).is_ok());
    }

    #[test]
    fn error_codes_are_read_and_nothing_else() {
        let body = br#"{"error_description": "client s3cr3t unknown", "error": "invalid_client"}"#;
        assert_eq!(error_code(body).as_deref(), Some("invalid_client"));
        for body in [
            &br#"{"error": "bad code with spaces"}"#[..],
            br#"{"error": 1}"#,
            br#"{"error_description": "x"}"#,
            b"<html>",
            br#"{"error": ""}"#,
        ] {
            assert_eq!(error_code(body), None);
        }
    }
}
