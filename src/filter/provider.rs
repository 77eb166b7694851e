//! Judging what the header provider answered. A response is accepted only
//! when it is a 2xx whose body is a flat JSON object of strings; its entries
//! then go through header validation one by one. Anything else is a failed
//! fetch, described in words for the log, and the last good headers stay.

use std::borrow::Cow;

use super::config::OAuth2;
use super::headers::{self, HeaderSet, Refused};
use super::host::CallError;
use super::json::{self, Kind, Members, Scanner};
use super::text::{push_quoted, push_u64};
use super::token;

/// Largest provider body read. Bigger bodies are refused unread: the set they
/// would yield is capped at 32 KiB anyway.
pub const MAX_BODY_BYTES: usize = 65536;

/// A response that passed: the valid headers, and the entries refused on the way.
#[derive(Debug)]
pub struct Accepted {
    pub set: HeaderSet,
    pub refused: Vec<Refused>,
}

/// Why a fetch failed.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Envoy refused to start the call.
    NotStarted {
        error: CallError,
        cluster: String,
    },
    /// The call ended without a response: reset, refused, or the timeout.
    NoResponse,
    TimedOut {
        timeout_ms: u64,
    },
    Status(u32),
    BodyTooLarge(usize),
    EmptyBody,
    NotJson(json::Error),
    NotObject(Kind),
    NotString {
        name: String,
        kind: Kind,
    },
    /// Every entry was refused; the refusals, each to be counted and logged.
    AllRefused(Vec<Refused>),
    /// A token endpoint's success that is not a usable token (token.rs).
    Token(&'static str),
    /// A token endpoint's error answer (RFC 6749 §5.2): its status, and its
    /// `error` code when it has a readable one.
    Refused {
        status: u32,
        code: Option<String>,
    },
}

impl Failure {
    pub fn describe(&self, out: &mut String) {
        match self {
            Failure::NotStarted { error, cluster } => {
                out.push_str("Envoy has ");
                out.push_str(match error {
                    CallError::UnknownCluster => "no cluster ",
                    CallError::NotSent => {
                        "no healthy upstream, or an open circuit breaker, in cluster "
                    }
                });
                push_quoted(out, cluster);
                out.push_str(match error {
                    CallError::UnknownCluster => {
                        " (header_providing_service_cluster): define it, or correct the name"
                    }
                    CallError::NotSent => "; the call was not sent",
                });
            }
            Failure::NoResponse => out.push_str("the call ended without a response"),
            Failure::TimedOut { timeout_ms } => {
                out.push_str("no response within ");
                super::text::push_duration(out, *timeout_ms);
                out.push_str(" (header_providing_service_timeout)");
            }
            Failure::Status(status) | Failure::Refused { status, .. } => {
                out.push_str("the provider call returned HTTP ");
                push_u64(out, u64::from(*status));
                if let Failure::Refused {
                    code: Some(code), ..
                } = self
                {
                    out.push_str(", error ");
                    push_quoted(out, code);
                }
            }
            Failure::BodyTooLarge(size) => {
                out.push_str("the body is ");
                push_u64(out, *size as u64);
                out.push_str(" bytes, over the ");
                push_u64(out, MAX_BODY_BYTES as u64);
                out.push_str("-byte limit");
            }
            Failure::EmptyBody => out.push_str("the body is empty"),
            Failure::NotJson(e) => {
                out.push_str("the body is not valid JSON: ");
                out.push_str(e.what);
                out.push_str(" at byte ");
                push_u64(out, e.at as u64);
            }
            Failure::NotObject(kind) => {
                out.push_str("the body is ");
                out.push_str(kind.noun());
                out.push_str(", not a JSON object");
            }
            Failure::NotString { name, kind } => {
                out.push_str("the value of ");
                push_quoted(out, name);
                out.push_str(" is ");
                out.push_str(kind.noun());
                out.push_str(", not a string");
            }
            Failure::Token(why) => {
                out.push_str("the token response ");
                out.push_str(why);
            }
            Failure::AllRefused(refused) => {
                out.push_str("all ");
                push_u64(out, refused.len() as u64);
                out.push_str(" of its headers were refused");
            }
        }
    }
}

/// Judges one response. `status` is the `:status` header (absent when the call
/// failed), `body_size` its announced size, and `read_body` fetches the body
/// from the host only once the size has passed. For an `oauth2` provider
/// (`oauth2`: where the token goes) the body is a token endpoint's answer
/// (token.rs), and a 4xx is the endpoint refusing, with its `error` code.
/// With the headers, the lifetime in seconds the body gave (`expires_in`).
pub fn judge(
    status: Option<&[u8]>,
    body_size: usize,
    read_body: impl FnOnce() -> Option<Vec<u8>>,
    oauth2: Option<&OAuth2>,
) -> Result<(Accepted, Option<u64>), Failure> {
    let code = status.and_then(parse_status).ok_or(Failure::NoResponse)?;
    let refusal = oauth2.is_some() && (400..500).contains(&code);
    if !(200..300).contains(&code) && !refusal {
        return Err(Failure::Status(code));
    }
    if body_size > MAX_BODY_BYTES {
        return Err(Failure::BodyTooLarge(body_size));
    }
    let body = if body_size == 0 {
        Vec::new()
    } else {
        read_body().unwrap_or_default()
    };
    let (entries, lifetime_s) = match oauth2 {
        None => (flat_object(&body)?, None),
        Some(_) if refusal => {
            let error = token::error_code(&body);
            return Err(Failure::Refused {
                status: code,
                code: error,
            });
        }
        Some(o) => {
            let (value, lifetime_s) = token::header_value(&body, o.prefix.as_deref())?;
            let entry = (Cow::Borrowed(o.header.as_str()), Cow::Owned(value));
            (vec![entry], lifetime_s)
        }
    };
    let offered = entries.len();
    let (set, refused) = headers::validate(entries);
    if set.is_empty() && offered > 0 {
        return Err(Failure::AllRefused(refused));
    }
    Ok((Accepted { set, refused }, lifetime_s))
}

/// How long the provider's answer stays fresh, in seconds: its `Cache-Control`
/// `max-age` less its `Age` (RFC 9111 §4.2.3), so a token a cache already
/// held for a while is refreshed before it expires. `None` without a usable
/// `max-age`.
pub fn lifetime_s(cache_control: &[u8], age: Option<&[u8]>) -> Option<u64> {
    let max_age = max_age(cache_control)?;
    // Envoy's codecs strip a header value's surrounding white space.
    let age = age.and_then(delta_seconds).unwrap_or(0);
    Some(max_age.saturating_sub(age))
}

/// The `max-age` of a `Cache-Control` header, in seconds (RFC 9111: the
/// directive name is case-insensitive, the value delta-seconds, possibly quoted;
/// a huge value saturates). `None` without a usable `max-age`.
pub fn max_age(cache_control: &[u8]) -> Option<u64> {
    cache_control.split(|&b| b == b',').find_map(|directive| {
        let directive = directive.trim_ascii();
        let (name, value) = directive.split_at_checked(8)?;
        if !name.eq_ignore_ascii_case(b"max-age=") {
            return None;
        }
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        delta_seconds(value)
    })
}

/// RFC 9111 delta-seconds: digits only; a huge value saturates.
fn delta_seconds(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, &d| {
        super::text::ten_times(n, d - b'0').unwrap_or(u64::MAX)
    }))
}

/// The three ASCII digits of a `:status`.
fn parse_status(text: &[u8]) -> Option<u32> {
    match text {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Some(u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0'))
        }
        _ => None,
    }
}

/// One member of the provider's object: a header name and value as sent.
type Entry<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A body that must be a JSON object: the scanner inside it, for its
/// members (a provider's headers, a token endpoint's answer).
pub fn object_body(body: &[u8]) -> Result<(Scanner<'_>, Members), Failure> {
    let mut s = Scanner::new(body).map_err(Failure::NotJson)?;
    if s.is_blank() {
        return Err(Failure::EmptyBody);
    }
    match s.kind().map_err(Failure::NotJson)? {
        Kind::Object => {}
        other => return Err(Failure::NotObject(other)),
    }
    let members = s.object().map_err(Failure::NotJson)?;
    Ok((s, members))
}

/// The body's members, all of which must be strings.
fn flat_object(body: &[u8]) -> Result<Vec<Entry<'_>>, Failure> {
    let (mut s, mut members) = object_body(body)?;
    let mut entries = Vec::new();
    while let Some(name) = s.next_key(&mut members).map_err(Failure::NotJson)? {
        match s.kind().map_err(Failure::NotJson)? {
            Kind::String => {}
            kind => {
                return Err(Failure::NotString {
                    name: name.into_owned(),
                    kind,
                })
            }
        }
        let value = s.string().map_err(Failure::NotJson)?;
        entries.push((name, value));
    }
    s.end().map_err(Failure::NotJson)?;
    Ok(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::headers::Refusal;
    use super::*;

    /// A plain provider's answer judged.
    fn judge(
        status: Option<&[u8]>,
        body_size: usize,
        read_body: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<Accepted, Failure> {
        super::judge(status, body_size, read_body, None).map(|judged| judged.0)
    }

    fn ok(body: &str) -> Result<Accepted, Failure> {
        judge(Some(b"200"), body.len(), || Some(body.as_bytes().to_vec()))
    }

    fn described(f: Failure) -> String {
        let mut s = String::new();
        f.describe(&mut s);
        s
    }

    #[test]
    fn accepts_a_flat_object_of_strings() {
        let a = ok(r#"{"Authorization": "Bearer abc", "x-tenant": "t1"}"#).unwrap();
        assert_eq!(
            a.set.iter().collect::<Vec<_>>(),
            [("authorization", "Bearer abc"), ("x-tenant", "t1")]
        );
        assert!(a.refused.is_empty());
    }

    #[test]
    fn any_2xx_is_fine_and_an_empty_object_is_an_empty_set() {
        let a = judge(Some(b"203"), 2, || Some(b"{}".to_vec())).unwrap();
        assert!(a.set.is_empty());
    }

    #[test]
    fn refuses_non_2xx_and_missing_status() {
        for (status, failure) in [
            (Some(&b"500"[..]), Failure::Status(500)),
            (Some(b"302"), Failure::Status(302)),
            (Some(b"404"), Failure::Status(404)),
            (Some(b"199"), Failure::Status(199)),
            (None, Failure::NoResponse),
            (Some(b"20"), Failure::NoResponse),
            (Some(b"abc"), Failure::NoResponse),
        ] {
            let got = judge(status, 2, || Some(b"{}".to_vec())).unwrap_err();
            assert_eq!(got, failure);
        }
    }

    #[test]
    fn refuses_a_large_body_without_reading_it() {
        let got = judge(Some(b"200"), MAX_BODY_BYTES + 1, || panic!("read")).unwrap_err();
        assert_eq!(got, Failure::BodyTooLarge(65537));
    }

    #[test]
    fn refuses_204_with_no_body() {
        let got = judge(Some(b"204"), 0, || None).unwrap_err();
        assert_eq!(described(got), "the body is empty");
    }

    #[test]
    fn refuses_what_is_not_a_flat_object_of_strings() {
        let cases = [
            ("[]", "the body is an array, not a JSON object"),
            ("\"x\"", "the body is a string, not a JSON object"),
            ("null", "the body is null, not a JSON object"),
            (
                r#"{"a": {"b": "c"}}"#,
                r#"the value of "a" is an object, not a string"#,
            ),
            (
                r#"{"a": ["b"]}"#,
                r#"the value of "a" is an array, not a string"#,
            ),
            (
                r#"{"a": 1}"#,
                r#"the value of "a" is a number, not a string"#,
            ),
            (
                r#"{"a": true}"#,
                r#"the value of "a" is a boolean, not a string"#,
            ),
            (
                r#"{"a": null}"#,
                r#"the value of "a" is null, not a string"#,
            ),
            (
                r#"{"a": "b"} x"#,
                "the body is not valid JSON: unexpected data after the JSON value at byte 11",
            ),
            (
                r#"{"a": "\ud800"}"#,
                "the body is not valid JSON: lone surrogate in \\u escape at byte 9",
            ),
            (
                r#"{"a": "\q"}"#,
                "the body is not valid JSON: invalid escape at byte 8",
            ),
            ("", "the body is empty"),
            (" \n", "the body is empty"),
        ];
        for (body, message) in cases {
            assert_eq!(described(ok(body).unwrap_err()), message, "{body}");
        }
        let got = judge(Some(b"200"), 3, || Some(b"\xef\xbb\xbf{}".to_vec())).unwrap_err();
        assert_eq!(
            described(got),
            "the body is not valid JSON: starts with a byte order mark at byte 0"
        );
        let got = judge(Some(b"200"), 3, || Some(b"{\"a\":\"\xc3\"}".to_vec())).unwrap_err();
        assert_eq!(
            described(got),
            "the body is not valid JSON: is not valid UTF-8 at byte 6"
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_descending() {
        // Below the body cap, and far below it: the scanner never recurses either way.
        let body = format!("{{\"a\":{}", "[".repeat(30_000));
        assert_eq!(
            described(ok(&body).unwrap_err()),
            r#"the value of "a" is an array, not a string"#
        );
        let body = "{".repeat(100_000);
        assert_eq!(
            described(flat_object(body.as_bytes()).unwrap_err()),
            "the body is not valid JSON: expected a string key at byte 1"
        );
        let body = "[".repeat(100_000);
        assert_eq!(
            described(flat_object(body.as_bytes()).unwrap_err()),
            "the body is an array, not a JSON object"
        );
    }

    #[test]
    fn keeps_valid_headers_and_lists_the_refused() {
        let a = ok(r#"{"good": "1", "host": "evil", "bad name": "2", "x": "a\r\nb"}"#).unwrap();
        assert_eq!(a.set.names().collect::<Vec<_>>(), ["good"]);
        let why: Vec<Refusal> = a.refused.iter().map(|r| r.why).collect();
        assert_eq!(
            why,
            [
                Refusal::Reserved,
                Refusal::NotToken,
                Refusal::ControlCharacter
            ]
        );
    }

    #[test]
    fn a_response_whose_every_header_is_refused_is_a_failure_that_keeps_the_refusals() {
        let Failure::AllRefused(refused) = ok(r#"{"host": "a", ":path": "/"}"#).unwrap_err() else {
            panic!("not AllRefused");
        };
        let why: Vec<Refusal> = refused.iter().map(|r| r.why).collect();
        assert_eq!(why, [Refusal::Reserved, Refusal::PseudoHeader]);
        let mut text = String::new();
        Failure::AllRefused(refused).describe(&mut text);
        assert_eq!(text, "all 2 of its headers were refused");
    }

    #[test]
    fn max_age_from_cache_control() {
        let cases: [(&[u8], Option<u64>); 11] = [
            (b"max-age=60", Some(60)),
            (b"public, max-age=3600", Some(3600)),
            (b"no-cache, Max-Age=5 , must-revalidate", Some(5)),
            (b"max-age=\"30\"", Some(30)),
            (b"max-age=0", Some(0)),
            (b"max-age=99999999999999999999999", Some(u64::MAX)),
            (b"s-maxage=60", None),
            (b"max-age=", None),
            (b"max-age=-1", None),
            (b"max-age=1.5", None),
            (b"no-store", None),
        ];
        for (header, expected) in cases {
            assert_eq!(
                max_age(header),
                expected,
                "{:?}",
                String::from_utf8_lossy(header)
            );
        }
    }

    #[test]
    fn age_is_taken_off_max_age() {
        assert_eq!(lifetime_s(b"max-age=600", None), Some(600));
        assert_eq!(lifetime_s(b"max-age=600", Some(b"100")), Some(500));
        assert_eq!(lifetime_s(b"max-age=600", Some(b"900")), Some(0));
        assert_eq!(lifetime_s(b"max-age=600", Some(b"junk")), Some(600));
        assert_eq!(lifetime_s(b"no-store", Some(b"1")), None);
    }

    #[test]
    fn descriptions_of_call_failures() {
        assert_eq!(
            described(Failure::TimedOut { timeout_ms: 5000 }),
            "no response within 5s (header_providing_service_timeout)"
        );
        assert_eq!(
            described(Failure::NotStarted {
                error: CallError::UnknownCluster,
                cluster: "sidecar".into()
            }),
            "Envoy has no cluster \"sidecar\" (header_providing_service_cluster): define it, or correct the name"
        );
        assert_eq!(
            described(Failure::NotStarted {
                error: CallError::NotSent,
                cluster: "sidecar".into()
            }),
            "Envoy has no healthy upstream, or an open circuit breaker, in cluster \"sidecar\"; the call was not sent"
        );
        assert_eq!(
            described(Failure::Status(503)),
            "the provider call returned HTTP 503"
        );
    }
}
