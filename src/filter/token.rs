//! An OAuth2 token endpoint's answer (RFC 6749 §5.1, §5.2): the access
//! token, its type and lifetime from a success, the `error` code from a
//! failure. Any other member, of any type and in any order, is skipped;
//! a member this reads, given twice, is refused.

use super::json::Kind;
use super::provider::{self, Failure};

/// A successful answer, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    pub token_type: Option<String>,
    /// `expires_in`, in whole seconds (a fraction is dropped, a huge value
    /// saturates); `None` when absent.
    pub expires_in_s: Option<u64>,
}

const WRONG_TYPE: &str = "has a member of the wrong type";

/// The members read, in the order of `Token`'s fields, then `error`.
const MEMBERS: [&str; 4] = ["access_token", "token_type", "expires_in", "error"];

/// Reads a success body.
pub fn parse(body: &[u8]) -> Result<Token, Failure> {
    let [access_token, token_type, expires_in, _] = members(body)?;
    let access_token = match access_token {
        Some(Member::Text(t)) => t,
        _ => return Err(Failure::Token("has no access_token string")),
    };
    let token_type = match token_type {
        Some(Member::Text(t)) => Some(t),
        None => None,
        Some(Member::Seconds(_)) => return Err(Failure::Token(WRONG_TYPE)),
    };
    let expires_in_s = match expires_in {
        Some(Member::Seconds(0)) => {
            return Err(Failure::Token(
                "has an expires_in that is not a positive number",
            ))
        }
        Some(Member::Seconds(s)) => Some(s),
        None => None,
        Some(Member::Text(_)) => return Err(Failure::Token(WRONG_TYPE)),
    };
    Ok(Token {
        access_token,
        token_type,
        expires_in_s,
    })
}

/// The `error` code of an error body, if it has one that is a short token
/// (RFC 6749 §5.2: `invalid_client` and friends); its description, which
/// may quote what the client sent, is never read.
pub fn error_code(body: &[u8]) -> Option<String> {
    let [.., error] = members(body).ok()?;
    match error {
        Some(Member::Text(code))
            if !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') =>
        {
            Some(code)
        }
        _ => None,
    }
}

enum Member {
    Text(String),
    /// A number of seconds: 0 for zero or less.
    Seconds(u64),
}

/// The members `MEMBERS` names, from a JSON object body.
fn members(body: &[u8]) -> Result<[Option<Member>; 4], Failure> {
    let (mut s, mut object) = provider::object_body(body)?;
    let mut found = [None, None, None, None];
    while let Some(name) = s.next_key(&mut object).map_err(Failure::NotJson)? {
        let Some(slot) = MEMBERS
            .iter()
            .position(|m| *m == name)
            .and_then(|i| found.get_mut(i))
        else {
            s.skip().map_err(Failure::NotJson)?;
            continue;
        };
        if slot.is_some() {
            return Err(Failure::Token("gives a member twice"));
        }
        *slot = Some(match s.kind().map_err(Failure::NotJson)? {
            Kind::String => Member::Text(s.string().map_err(Failure::NotJson)?.into_owned()),
            Kind::Number => Member::Seconds(seconds(s.number().map_err(Failure::NotJson)?)),
            _ => return Err(Failure::Token(WRONG_TYPE)),
        });
    }
    s.end().map_err(Failure::NotJson)?;
    Ok(found)
}

/// Whole seconds of a JSON number (checked by the scanner): its digits,
/// the exponent moving the point, the rest dropped; saturating; 0 for a
/// negative number or one under a second.
fn seconds(number: &str) -> u64 {
    let b = number.as_bytes();
    if b.first() == Some(&b'-') {
        return 0;
    }
    let exp_at = b
        .iter()
        .position(|&c| c == b'e' || c == b'E')
        .unwrap_or(b.len());
    let (mantissa, exponent) = b.split_at(exp_at);
    // The body is at most 64 KiB, so no exponent that matters is longer.
    let mut shift = 0i64;
    for &c in exponent.iter().filter(|c| c.is_ascii_digit()) {
        shift = (shift * 10 + i64::from(c - b'0')).min(1_000_000);
    }
    if exponent.get(1) == Some(&b'-') {
        shift = -shift;
    }
    let point = mantissa
        .iter()
        .position(|&c| c == b'.')
        .unwrap_or(mantissa.len());
    // The digits left of the point once the exponent has moved it; leading
    // zeros, on either side of the point, count for nothing; more than 20
    // significant digits overflow a u64.
    let mut keep = point as i64 + shift;
    let (mut whole, mut taken, mut significant) = (0u64, 0i64, false);
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        if !significant && c == b'0' {
            keep -= 1;
            continue;
        }
        significant = true;
        if taken >= keep.min(21) {
            break;
        }
        whole = whole.saturating_mul(10).saturating_add(u64::from(c - b'0'));
        taken += 1;
    }
    while taken < keep.min(21) {
        whole = whole.saturating_mul(10);
        taken += 1;
    }
    whole
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn token(body: &str) -> Result<Token, Failure> {
        parse(body.as_bytes())
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
        assert_eq!(t.access_token, "eyJ.a-b_c~d+e/f=");
        assert_eq!(t.token_type.as_deref(), Some("Bearer"));
        assert_eq!(t.expires_in_s, Some(3600));
        let t = token(r#"{"access_token": "x"}"#).unwrap();
        assert_eq!((t.token_type, t.expires_in_s), (None, None));
        let escaped = token(r#"{"access_token": "a\u002fb"}"#).unwrap();
        assert_eq!(escaped.access_token, "a/b");
    }

    #[test]
    fn expires_in_whole_fractional_exponent_huge() {
        let lifetime = |n: &str| {
            token(&format!(r#"{{"access_token": "x", "expires_in": {n}}}"#)).map(|t| t.expires_in_s)
        };
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
                "the token response has no access_token string",
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
