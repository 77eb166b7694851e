//! The rules a provider's header must pass, and the validated `HeaderSet`
//! with its compact encoding for proxy-wasm shared data.
//!
//! Everything the request path applies has passed `validate` once, at refresh
//! time; the request path itself never checks a header again.

use std::borrow::Cow;

/// Most headers one set may hold; entries past it are refused.
pub const MAX_HEADERS: usize = 64;
/// Longest header name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest header value, in bytes (a large JWT is 2-8 KB).
pub const MAX_VALUE_BYTES: usize = 8192;
/// Most bytes of names and values in one set. Envoy's own default limit on a
/// request's headers is 60 KiB, so the set must leave room for the request's own.
pub const MAX_SET_BYTES: usize = 32768;

/// Why one header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    EmptyName,
    PseudoHeader,
    NotToken,
    NameTooLong,
    Reserved,
    EmptyValue,
    ControlCharacter,
    SurroundingSpace,
    ValueTooLong,
    TooMany,
    SetTooLarge,
    /// The same name appeared again later in the response; the later value won.
    Replaced,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::EmptyName => "empty name",
            Refusal::PseudoHeader => "pseudo-header",
            Refusal::NotToken => "name is not an RFC 9110 token",
            Refusal::NameTooLong => "name longer than 256 bytes",
            Refusal::Reserved => "reserved name: host, content-length, hop-by-hop and x-envoy-* headers belong to Envoy",
            Refusal::EmptyValue => "empty value",
            Refusal::ControlCharacter => "value has a control character such as CR, LF or NUL",
            Refusal::SurroundingSpace => "value starts or ends with white space",
            Refusal::ValueTooLong => "value longer than 8192 bytes",
            Refusal::TooMany => "over the limit of 64 headers",
            Refusal::SetTooLarge => "over the limit of 32768 bytes for all headers",
            Refusal::Replaced => "given again later; the later value is used",
        }
    }
}

/// A refused entry: its name as the provider sent it (for logging, quoted),
/// why, and its place among the entries validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub why: Refusal,
    pub at: usize,
}

/// Validated headers, names lower-cased, in the order the provider sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSet {
    entries: Vec<(String, String)>,
}

/// Names that must never come from a provider: the connection's own framing
/// and routing headers, which Envoy manages. (Names starting with `x-envoy-`
/// are refused too.)
const RESERVED: [&str; 10] = [
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

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one name; returns it lower-cased.
pub fn check_name(name: &str) -> Result<String, Refusal> {
    if name.is_empty() {
        return Err(Refusal::EmptyName);
    }
    if name.starts_with(':') {
        return Err(Refusal::PseudoHeader);
    }
    if !name.bytes().all(is_tchar) {
        return Err(Refusal::NotToken);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Refusal::NameTooLong);
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("x-envoy-") {
        return Err(Refusal::Reserved);
    }
    Ok(lower)
}

/// Checks one value: RFC 9110 field-value, non-empty, no surrounding white space.
pub fn check_value(value: &str) -> Result<(), Refusal> {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (None, _) | (_, None) => return Err(Refusal::EmptyValue),
        (Some(b' ' | b'\t'), _) | (_, Some(b' ' | b'\t')) => return Err(Refusal::SurroundingSpace),
        _ => {}
    }
    if bytes.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Refusal::ControlCharacter);
    }
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(Refusal::ValueTooLong);
    }
    Ok(())
}

/// Validates the provider's entries one by one: the valid ones form the set,
/// each invalid one is refused with its reason. A later entry with the same
/// (lower-cased) name replaces an earlier one, as JSON parsers usually do.
pub fn validate<'a, I>(entries: I) -> (HeaderSet, Vec<Refused>)
where
    I: IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
{
    let mut set = HeaderSet::default();
    let mut refused = Vec::new();
    let mut bytes = 0usize;
    for (at, (name, value)) in entries.into_iter().enumerate() {
        let why = match check_name(&name).and_then(|lower| check_value(&value).map(|()| lower)) {
            Err(why) => why,
            Ok(lower) => match set.entries.iter().position(|(n, _)| *n == lower) {
                Some(i) => {
                    let Some(slot) = set.entries.get_mut(i) else {
                        continue;
                    };
                    let grown = (bytes - slot.1.len()).saturating_add(value.len());
                    if grown > MAX_SET_BYTES {
                        Refusal::SetTooLarge
                    } else {
                        bytes = grown;
                        slot.1 = value.into_owned();
                        Refusal::Replaced
                    }
                }
                None if set.entries.len() >= MAX_HEADERS => Refusal::TooMany,
                None if bytes + lower.len() + value.len() > MAX_SET_BYTES => Refusal::SetTooLarge,
                None => {
                    bytes += lower.len() + value.len();
                    set.entries.push((lower, value.into_owned()));
                    continue;
                }
            },
        };
        refused.push(Refused {
            name: name.into_owned(),
            why,
            at,
        });
    }
    (set, refused)
}

/// First byte of an encoded set: bumped whenever the layout changes, so a VM
/// running another build of the filter ignores what it cannot read.
const ENCODING_VERSION: u8 = 1;

impl HeaderSet {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Layout: version byte, entry count (u16 LE), then per entry the name's
    /// length (u16 LE), the value's length (u32 LE), the name and the value.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .entries
            .iter()
            .map(|(n, v)| 6 + n.len() + v.len())
            .sum();
        let mut out = Vec::with_capacity(3 + size);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
        for (name, value) in &self.entries {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(value.len() as u32).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Reads what `encode` wrote; `None` for anything else, never a panic.
    /// Shared data is writable by any module in the VM's namespace, so the
    /// set is validated again: `None` unless every entry passes the rules a
    /// provider's headers pass, with its name already lower-cased.
    pub fn decode(bytes: &[u8]) -> Option<HeaderSet> {
        let mut r = Reader(bytes);
        if r.take(1)? != [ENCODING_VERSION] {
            return None;
        }
        let count = r.u16()?;
        let mut entries = Vec::with_capacity(usize::from(count).min(MAX_HEADERS));
        for _ in 0..count {
            let name_len = usize::from(r.u16()?);
            let value_len = r.u32()? as usize;
            let name = super::text::utf8(r.take(name_len)?).ok()?;
            let value = super::text::utf8(r.take(value_len)?).ok()?;
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            entries.push((Cow::Borrowed(name), Cow::Borrowed(value)));
        }
        if !r.0.is_empty() {
            return None;
        }
        let (set, refused) = validate(entries);
        refused.is_empty().then_some(set)
    }

    /// Encodes entries as they are, valid or not: for tests that forge shared data.
    #[cfg(test)]
    pub fn encode_unchecked(entries: &[(&str, &str)]) -> Vec<u8> {
        let entries = entries.iter().map(|(n, v)| (n.to_string(), v.to_string()));
        HeaderSet {
            entries: entries.collect(),
        }
        .encode()
    }
}

/// A cursor over encoded bytes that fails instead of reading past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn entries<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
        pairs
            .iter()
            .map(|&(n, v)| (Cow::Borrowed(n), Cow::Borrowed(v)))
            .collect()
    }

    fn refusal(name: &str, value: &str) -> Option<Refusal> {
        let (_, refused) = validate(entries(&[(name, value)]));
        refused.first().map(|r| r.why)
    }

    #[test]
    fn names_are_lower_cased() {
        let (set, refused) = validate(entries(&[("Authorization", "Bearer x"), ("X-Tenant", "a")]));
        assert!(refused.is_empty());
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [("authorization", "Bearer x"), ("x-tenant", "a")]
        );
    }

    #[test]
    fn names_must_be_tokens() {
        assert_eq!(refusal("", "v"), Some(Refusal::EmptyName));
        assert_eq!(refusal(":authority", "v"), Some(Refusal::PseudoHeader));
        assert_eq!(refusal(":path", "v"), Some(Refusal::PseudoHeader));
        for bad in [
            "a b", "a:b", "a\r\nb", "a\0", "é", "a(b)", "a\"", "a,b", "a/b", "a@b", "{a}",
        ] {
            assert_eq!(refusal(bad, "v"), Some(Refusal::NotToken), "{bad:?}");
        }
        for good in ["x", "x-a_b.c", "!#$%&'*+-.^_`|~09AZaz"] {
            assert_eq!(refusal(good, "v"), None, "{good:?}");
        }
        assert_eq!(refusal(&"n".repeat(256), "v"), None);
        assert_eq!(refusal(&"n".repeat(257), "v"), Some(Refusal::NameTooLong));
    }

    #[test]
    fn reserved_names_are_refused_in_any_case() {
        for name in [
            "host",
            "Host",
            "content-length",
            "Connection",
            "keep-alive",
            "proxy-connection",
            "TE",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "http2-settings",
            "x-envoy-original-path",
            "X-Envoy-Upstream-Rq-Timeout-Ms",
        ] {
            assert_eq!(refusal(name, "v"), Some(Refusal::Reserved), "{name}");
        }
        assert_eq!(refusal("x-envoyish", "v"), None);
        assert_eq!(refusal("proxy-authorization", "v"), None);
    }

    #[test]
    fn values_are_field_values() {
        assert_eq!(refusal("a", ""), Some(Refusal::EmptyValue));
        for bad in [
            "a\rb",
            "a\nb",
            "a\0b",
            "\r\n",
            "a\u{1}",
            "a\u{7f}b",
            "x\u{1b}[31m",
        ] {
            assert_eq!(
                refusal("a", bad),
                Some(Refusal::ControlCharacter),
                "{bad:?}"
            );
        }
        for bad in [" a", "a ", "\ta", "a\t"] {
            assert_eq!(
                refusal("a", bad),
                Some(Refusal::SurroundingSpace),
                "{bad:?}"
            );
        }
        for good in ["Bearer abc.def", "a\tb", "x", "é ü", "\"quoted\""] {
            assert_eq!(refusal("a", good), None, "{good:?}");
        }
        assert_eq!(refusal("a", &"v".repeat(8192)), None);
        assert_eq!(refusal("a", &"v".repeat(8193)), Some(Refusal::ValueTooLong));
    }

    #[test]
    fn refused_entries_do_not_stop_the_valid_ones() {
        let (set, refused) = validate(entries(&[
            ("good-1", "a"),
            ("bad name", "b"),
            ("host", "c"),
            ("good-2", "d"),
        ]));
        assert_eq!(set.names().collect::<Vec<_>>(), ["good-1", "good-2"]);
        assert_eq!(
            refused,
            [
                Refused {
                    name: "bad name".into(),
                    why: Refusal::NotToken,
                    at: 1
                },
                Refused {
                    name: "host".into(),
                    why: Refusal::Reserved,
                    at: 2
                },
            ]
        );
    }

    #[test]
    fn a_later_duplicate_replaces_the_earlier_value() {
        let (set, refused) = validate(entries(&[
            ("Authorization", "old"),
            ("x", "1"),
            ("authorization", "new"),
        ]));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [("authorization", "new"), ("x", "1")]
        );
        assert_eq!(
            refused,
            [Refused {
                name: "authorization".into(),
                why: Refusal::Replaced,
                at: 2
            }]
        );
    }

    #[test]
    fn count_cap() {
        let names: Vec<String> = (0..70).map(|i| format!("h{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        let (set, refused) = validate(entries(&pairs));
        assert_eq!(set.len(), MAX_HEADERS);
        assert_eq!(refused.len(), 6);
        assert!(refused.iter().all(|r| r.why == Refusal::TooMany));
        assert_eq!(refused[0].name, "h64");
    }

    #[test]
    fn size_cap() {
        let big = "v".repeat(8000);
        let pairs: Vec<(&str, &str)> = vec![
            ("a", &big),
            ("b", &big),
            ("c", &big),
            ("d", &big),
            ("e", &big),
            ("f", "small"),
        ];
        let (set, refused) = validate(entries(&pairs));
        assert_eq!(set.names().collect::<Vec<_>>(), ["a", "b", "c", "d", "f"]);
        assert_eq!(
            refused,
            [Refused {
                name: "e".into(),
                why: Refusal::SetTooLarge,
                at: 4
            }]
        );
    }

    #[test]
    fn encoding_round_trips() {
        let (set, _) = validate(entries(&[("authorization", "Bearer é😀"), ("x-b", "2")]));
        let bytes = set.encode();
        assert_eq!(HeaderSet::decode(&bytes), Some(set));
        assert_eq!(
            HeaderSet::decode(&HeaderSet::default().encode()),
            Some(HeaderSet::default())
        );
    }

    #[test]
    fn decoding_refuses_anything_else() {
        let (set, _) = validate(entries(&[("a", "b")]));
        let bytes = set.encode();
        for cut in 0..bytes.len() {
            assert_eq!(HeaderSet::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(HeaderSet::decode(&longer), None);
        let mut other_version = bytes.clone();
        other_version[0] = 2;
        assert_eq!(HeaderSet::decode(&other_version), None);
        let mut bad_utf8 = bytes;
        let last = bad_utf8.len() - 1;
        bad_utf8[last] = 0xff;
        assert_eq!(HeaderSet::decode(&bad_utf8), None);
        assert_eq!(HeaderSet::decode(&[1, 0xff, 0xff]), None);
    }
}
