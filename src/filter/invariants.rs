//! The properties every input must keep, whatever its bytes. Checked by the
//! property tests (`cargo test`, tests/properties.rs) and by the fuzz targets
//! (scripts/fuzz.sh, tests/fuzz/): one definition for both.
//!
//! Test support only (compiled for tests and with the `fuzzing` feature,
//! never into the .wasm): a violated property panics, which is how the
//! property tests and the fuzzer notice it.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::borrow::Cow;

use super::config;
use super::config::OAuth2;
use super::duration;
use super::headers::{self, HeaderSet, MAX_HEADERS, MAX_SET_BYTES};
use super::provider;
use super::store::{Lease, Record};
use super::structpb;
use super::text;
use super::token;

/// A provider body: judged without a panic; anything accepted holds only
/// valid headers within the caps, and re-encodes to a body that is accepted
/// again as the very same set.
pub fn provider_body(body: &[u8]) {
    let read = || Some(body.to_vec());
    let Ok((accepted, _)) = provider::judge(Some(b"200"), body.len(), read, None) else {
        return;
    };
    valid_set(&accepted.set);
    let encoded = to_json(&accepted.set);
    match provider::judge(
        Some(b"200"),
        encoded.len(),
        || Some(encoded.clone().into_bytes()),
        None,
    ) {
        Ok((second, _)) => {
            assert_eq!(
                second.set, accepted.set,
                "re-encoded set differs: {encoded}"
            );
            assert!(
                second.refused.is_empty(),
                "re-encoded set had refusals: {encoded}"
            );
        }
        // An empty set re-encodes to `{}`, which is accepted; nothing else may fail.
        Err(e) => panic!("re-encoded set refused ({e:?}): {encoded}"),
    }
    shared_data_round_trip(&accepted.set);
}

/// A token endpoint's body: judged without a panic, as an error answer and
/// as a success; an error code read is a short token; a token accepted is
/// one valid header, the prefix and the access token, with a positive
/// lifetime if any; and the token, written again as JSON, reads the same.
pub fn token_response(body: &[u8]) {
    let read = || Some(body.to_vec());
    let oauth2 = OAuth2 {
        header: "authorization".into(),
        ..OAuth2::default()
    };
    let _ = provider::judge(Some(b"401"), body.len(), read, Some(&oauth2));
    if let Some(code) = token::error_code(body) {
        assert!((1..=64).contains(&code.len()), "{code:?}");
        assert!(
            code.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
            "{code:?}"
        );
    }
    let Ok((accepted, lifetime)) = provider::judge(Some(b"200"), body.len(), read, Some(&oauth2))
    else {
        return;
    };
    valid_set(&accepted.set);
    assert_eq!(accepted.set.len(), 1);
    assert!(lifetime.is_none_or(|s| s > 0), "{lifetime:?}");
    let Ok((token, seconds)) = token::header_value(body, Some("")) else {
        panic!("judged a token that does not read without a prefix");
    };
    let value = accepted
        .set
        .iter()
        .next()
        .map(|(_, v)| v.to_string())
        .unwrap_or_default();
    assert!(value.ends_with(&token), "the header ends with the token");
    let mut again = String::from("{\"access_token\": ");
    json_string(&token, &mut again);
    if let Some(s) = seconds {
        again.push_str(&format!(", \"expires_in\": {s}"));
    }
    again.push('}');
    let read_again = token::header_value(again.as_bytes(), Some("")).ok();
    assert_eq!(read_again, Some((token, seconds)), "{again}");
}

/// Every header of a set passes the rules, the names are distinct, the caps
/// hold. The rules are stated here again, independently of headers.rs, so
/// that a mistake there cannot pass its own test.
pub fn valid_set(set: &HeaderSet) {
    assert!(set.len() <= MAX_HEADERS, "{} headers", set.len());
    let mut bytes = 0;
    let mut names: Vec<&str> = Vec::new();
    for (name, value) in set.iter() {
        assert!(is_allowed_name(name), "name {name:?}");
        assert!(is_field_value(value), "value of {name:?}");
        assert!(!names.contains(&name), "duplicate {name:?}");
        names.push(name);
        bytes += name.len() + value.len();
    }
    assert!(bytes <= MAX_SET_BYTES, "{bytes} bytes");
}

/// RFC 9110 token, lower case, 1-256 bytes, and none Envoy owns.
fn is_allowed_name(name: &str) -> bool {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
    const OWNED: [&str; 10] = [
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "http2-settings",
    ];
    (1..=256).contains(&name.len())
        && name.bytes().all(|b| TCHAR.contains(&b))
        && !OWNED.contains(&name)
        && !name.starts_with("x-envoy-")
}

/// A field value: 1-8192 bytes, no control character but tab inside, no
/// white space at either end.
fn is_field_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=8192).contains(&b.len())
        && !b.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f)
        && !matches!(b.first(), Some(b' ' | b'\t'))
        && !matches!(b.last(), Some(b' ' | b'\t'))
}

/// A set as a JSON object, escaping what JSON requires (and every non-ASCII
/// character as `\u`, surrogate pairs included, to exercise the decoder).
pub fn to_json(set: &HeaderSet) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in set.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(name, &mut out);
        out.push(':');
        json_string(value, &mut out);
    }
    out.push('}');
    out
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// What the poller publishes decodes to itself, in every VM.
fn shared_data_round_trip(set: &HeaderSet) {
    assert_eq!(HeaderSet::decode(&set.encode()).as_ref(), Some(set));
    let record = Record {
        fetched_at_ms: 1,
        expires_at_ms: 2,
        refresh_at_ms: 3,
        fetched_at_wall_ms: 4,
        set: set.clone(),
    };
    assert_eq!(Record::decode(&record.encode()), Some(record));
}

/// Bytes in shared data that another build (or anything) wrote: decoded
/// without a panic, and what decodes re-encodes to the same bytes.
pub fn shared_data(bytes: &[u8]) {
    if let Some(record) = Record::decode(bytes) {
        assert_eq!(record.encode(), bytes);
    }
    if let Some(set) = HeaderSet::decode(bytes) {
        assert_eq!(set.encode(), bytes);
        valid_set(&set); // shared data is validated again when read
    }
    if let Some(lease) = Lease::decode(bytes) {
        assert_eq!(lease.encode().as_slice(), bytes);
    }
}

/// Header entries as a provider might send them: each valid one is kept (the
/// later of two equal names winning, up to the caps), each other one refused
/// with a reason that holds.
pub fn header_entries(entries: &[(String, String)]) {
    let pairs = entries
        .iter()
        .map(|(n, v)| (Cow::Borrowed(n.as_str()), Cow::Borrowed(v.as_str())));
    let (set, refused) = headers::validate(pairs);
    valid_set(&set);
    // Every entry is kept or refused; a replaced duplicate counts as refused.
    assert_eq!(set.len() + refused.len(), entries.len());
    // Names sent with a bad value, found once (not per refusal: inputs with
    // thousands of entries would make this quadratic and the fuzzer slow).
    let bad_value: std::collections::HashSet<&str> = entries
        .iter()
        .filter(|(_, v)| headers::check_value(v).is_err())
        .map(|(n, _)| n.as_str())
        .collect();
    for r in &refused {
        let caps_or_replaced = matches!(
            r.why,
            headers::Refusal::TooMany | headers::Refusal::SetTooLarge | headers::Refusal::Replaced
        );
        let own_fault =
            headers::check_name(&r.name).is_err() || bad_value.contains(r.name.as_str());
        assert!(
            own_fault || caps_or_replaced,
            "{:?} refused for {:?}",
            r.name,
            r.why
        );
    }
}

/// A plugin configuration, JSON or a protobuf Struct: parsed without a
/// panic; an accepted one holds only values within their rules; an error is
/// one printable line.
pub fn configuration(bytes: &[u8]) {
    match config::load(bytes, b"SECRET=s\0API_KEY=k\0") {
        Ok(settings) => {
            let count = settings.providers.len();
            assert!((1..=config::MAX_PROVIDERS).contains(&count), "{count}");
            for (i, c) in settings.providers.iter().enumerate() {
                for ms in [
                    c.refresh_ms,
                    c.timeout_ms,
                    c.retry_initial_ms,
                    c.retry_max_ms,
                    c.wait_timeout_ms,
                ] {
                    assert!((1..=duration::MAX_MS).contains(&ms), "{ms}");
                }
                assert!(c.retry_initial_ms <= c.retry_max_ms);
                assert!((400..=599).contains(&c.deny_status));
                assert!(c.provider.path.starts_with('/'));
                assert!(!c.provider.cluster.is_empty() && !c.provider.authority.is_empty());
                valid_set(&c.static_headers);
                let names = settings.providers.iter().skip(i + 1);
                assert!(names.clone().all(|o| o.name != c.name), "names are unique");
                for entry in c.destinations.iter().flat_map(|d| d.entries()) {
                    assert_eq!(super::destination::problem(entry), None, "{entry:?}");
                }
            }
        }
        Err(e) => {
            let message = e.message();
            assert!(!message.is_empty());
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }
    if let Some(json) = structpb::to_json(bytes) {
        let _ = config::parse(json.as_bytes());
    }
}

/// A duration: parsed without a panic; an accepted one is in range and
/// survives being written back as people write it.
pub fn duration_text(text: &str) {
    if let Ok(ms) = duration::parse_ms(text) {
        assert!((1..=duration::MAX_MS).contains(&ms));
        duration_round_trip(ms);
    }
}

/// `ms`, written as the logs write it, parses back to `ms`.
pub fn duration_round_trip(ms: u64) {
    let mut written = String::new();
    text::push_duration(&mut written, ms);
    assert_eq!(duration::parse_ms(&written), Ok(ms), "{written}");
}
