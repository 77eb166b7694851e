//! A plugin configuration given to Envoy as a `google.protobuf.Struct` (in
//! YAML, a map under `configuration.value` with
//! `"@type": type.googleapis.com/google.protobuf.Struct`). Envoy hands such a
//! configuration to the filter as the Struct's protobuf encoding, not as JSON;
//! this turns it into the JSON text the configuration parser reads, so both
//! forms obey the same rules and give the same messages.
//!
//! Strict: any byte that is not part of a well-formed Struct makes the whole
//! input "not a Struct", and it is then read as JSON (which will say what is
//! wrong). Nesting deeper than the configuration can use is refused.

use super::text::push_u64;

/// Deepest nesting of structs and lists converted; the configuration uses 2.
const MAX_DEPTH: u32 = 8;

/// The JSON text of `bytes` if they are a non-empty protobuf Struct.
pub fn to_json(bytes: &[u8]) -> Option<String> {
    // A Struct with fields starts with field 1, length-delimited: 0x0a. JSON
    // may start with a line feed too, but then never parses as a Struct.
    if bytes.first() != Some(&0x0a) {
        return None;
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    write_struct(bytes, &mut out, 0)?;
    Some(out)
}

/// A cursor over protobuf wire bytes.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let (head, tail) = self.0.split_at_checked(len)?;
        self.0 = tail;
        Some(head)
    }

    fn fixed64(&mut self) -> Option<u64> {
        let (head, tail) = self.0.split_first_chunk::<8>()?;
        self.0 = tail;
        Some(u64::from_le_bytes(*head))
    }

    /// The next field's number and wire type, or `None` at the end.
    fn tag(&mut self) -> Option<(u64, u64)> {
        if self.0.is_empty() {
            return None;
        }
        let tag = self.varint()?;
        Some((tag >> 3, tag & 7))
    }
}

const LEN: u64 = 2;
const VARINT: u64 = 0;
const I64: u64 = 1;

/// `Struct { map<string, Value> fields = 1; }` as a JSON object.
fn write_struct(bytes: &[u8], out: &mut String, depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut wire = Wire(bytes);
    out.push('{');
    let mut first = true;
    while !wire.0.is_empty() {
        if wire.tag()? != (1, LEN) {
            return None;
        }
        // A map entry: key = 1, value = 2.
        let mut entry = Wire(wire.bytes()?);
        let (mut key, mut value) = (None, None);
        while let Some(tag) = entry.tag() {
            match tag {
                (1, LEN) => key = Some(super::text::utf8(entry.bytes()?).ok()?),
                (2, LEN) => value = Some(entry.bytes()?),
                _ => return None,
            }
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(key.unwrap_or_default(), out);
        out.push(':');
        write_value(value.unwrap_or_default(), out, depth)?;
    }
    out.push('}');
    Some(())
}

/// `Value { oneof kind { null = 1; number = 2; string = 3; bool = 4; struct = 5; list = 6; } }`.
fn write_value(bytes: &[u8], out: &mut String, depth: u32) -> Option<()> {
    let mut wire = Wire(bytes);
    let Some(tag) = wire.tag() else {
        out.push_str("null"); // no kind set
        return Some(());
    };
    match tag {
        (1, VARINT) => {
            wire.varint()?;
            out.push_str("null");
        }
        (2, I64) => write_number(f64::from_bits(wire.fixed64()?), out),
        (3, LEN) => write_string(super::text::utf8(wire.bytes()?).ok()?, out),
        (4, VARINT) => out.push_str(if wire.varint()? != 0 { "true" } else { "false" }),
        (5, LEN) => write_struct(wire.bytes()?, out, depth + 1)?,
        (6, LEN) => write_list(wire.bytes()?, out, depth + 1)?,
        _ => return None,
    }
    // Exactly one kind, nothing after it.
    wire.0.is_empty().then_some(())
}

/// `ListValue { repeated Value values = 1; }` as a JSON array.
fn write_list(bytes: &[u8], out: &mut String, depth: u32) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut wire = Wire(bytes);
    out.push('[');
    let mut first = true;
    while let Some(tag) = wire.tag() {
        if tag != (1, LEN) {
            return None;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_value(wire.bytes()?, out, depth)?;
    }
    out.push(']');
    Some(())
}

/// Whole numbers as integers. Every number the configuration takes is whole,
/// so anything else is written as a fraction the parser then refuses, and a
/// non-finite number as null.
fn write_number(n: f64, out: &mut String) {
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    if n < 0.0 {
        out.push('-');
    }
    let magnitude = if n < 0.0 { -n } else { n };
    // Below 2^53 a double holds every integer exactly.
    let whole = if magnitude < 9_007_199_254_740_992.0 {
        magnitude as u64
    } else {
        u64::MAX
    };
    push_u64(out, whole);
    if whole as f64 != magnitude {
        out.push_str(".5");
    }
}

/// A JSON string, escaping what JSON requires.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0'..='\u{1f}' => {
                out.push_str("\\u00");
                let b = c as u8;
                for nibble in [b >> 4, b & 0xf] {
                    out.push(char::from(if nibble < 10 {
                        b'0' + nibble
                    } else {
                        b'a' + nibble - 10
                    }));
                }
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    // A tiny protobuf encoder for the tests, mirroring what Envoy sends.
    fn varint(mut n: u64, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }

    fn field(number: u64, wire_type: u64, payload: &[u8], out: &mut Vec<u8>) {
        varint(number << 3 | wire_type, out);
        if wire_type == LEN {
            varint(payload.len() as u64, out);
        }
        out.extend_from_slice(payload);
    }

    enum V<'a> {
        Null,
        Num(f64),
        Str(&'a str),
        Bool(bool),
        Obj(Vec<(&'a str, V<'a>)>),
        List(Vec<V<'a>>),
    }

    fn value(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        match v {
            V::Null => field(1, VARINT, &[0], &mut out),
            V::Num(n) => field(2, I64, &n.to_bits().to_le_bytes(), &mut out),
            V::Str(s) => field(3, LEN, s.as_bytes(), &mut out),
            V::Bool(b) => field(4, VARINT, &[u8::from(*b)], &mut out),
            V::Obj(fields) => field(5, LEN, &object(fields), &mut out),
            V::List(items) => {
                let mut list = Vec::new();
                for item in items {
                    field(1, LEN, &value(item), &mut list);
                }
                field(6, LEN, &list, &mut out);
            }
        }
        out
    }

    fn object(fields: &[(&str, V)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, v) in fields {
            let mut entry = Vec::new();
            field(1, LEN, key.as_bytes(), &mut entry);
            field(2, LEN, &value(v), &mut entry);
            field(1, LEN, &entry, &mut out);
        }
        out
    }

    #[test]
    fn converts_every_kind() {
        let bytes = object(&[
            ("s", V::Str("a\"b\\c\n")),
            ("n", V::Num(503.0)),
            ("neg", V::Num(-2.0)),
            ("frac", V::Num(1.25)),
            ("b", V::Bool(true)),
            ("nul", V::Null),
            ("o", V::Obj(vec![("k", V::Str("v"))])),
            ("l", V::List(vec![V::Num(1.0), V::Bool(false)])),
        ]);
        assert_eq!(
            to_json(&bytes).as_deref(),
            Some(
                r#"{"s":"a\"b\\c\u000a","n":503,"neg":-2,"frac":1.5,"b":true,"nul":null,"o":{"k":"v"},"l":[1,false]}"#
            )
        );
    }

    #[test]
    fn a_struct_configuration_parses_like_its_json() {
        let bytes = object(&[
            ("header_cache_expiry", V::Str("5m")),
            ("deny_status", V::Num(401.0)),
            ("overwrite", V::Bool(false)),
            (
                "static_headers",
                V::Obj(vec![("x-team", V::Str("payments"))]),
            ),
        ]);
        let from_struct = crate::config::parse(&bytes).ok();
        let from_json = crate::config::parse(
            br#"{"header_cache_expiry":"5m","deny_status":401,"overwrite":false,"static_headers":{"x-team":"payments"}}"#,
        )
        .ok();
        assert!(from_struct.is_some());
        assert_eq!(from_struct, from_json);
    }

    #[test]
    fn struct_errors_name_the_field_too() {
        let bytes = object(&[("deny_status", V::Num(503.5))]);
        let message = crate::config::parse(&bytes).err().map(|e| e.message());
        assert_eq!(
            message.as_deref(),
            Some("deny_status: expected a whole number at byte 18")
        );
        let bytes = object(&[("header_cache_expiri", V::Str("5m"))]);
        let message = crate::config::parse(&bytes).err().map(|e| e.message());
        assert_eq!(
            message.as_deref(),
            Some(r#"unknown field "header_cache_expiri"; did you mean "header_cache_expiry"?"#)
        );
    }

    #[test]
    fn json_text_is_left_to_the_json_parser() {
        assert_eq!(to_json(b"{\"a\": 1}"), None);
        assert_eq!(to_json(b"\n{\"overwrite\": true}\n"), None); // a line feed first, then JSON
        assert_eq!(to_json(b""), None);
        assert!(crate::config::parse(b"\n{\"overwrite\": false}\n").is_ok());
    }

    #[test]
    fn malformed_structs_are_not_structs() {
        let good = object(&[("k", V::Str("v"))]);
        for cut in 1..good.len() {
            assert_eq!(to_json(&good[..cut]), None, "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0x08);
        assert_eq!(to_json(&trailing), None);
        // Invalid UTF-8 in a key.
        let mut entry = Vec::new();
        field(1, LEN, &[0xff], &mut entry);
        let mut bad = Vec::new();
        field(1, LEN, &entry, &mut bad);
        assert_eq!(to_json(&bad), None);
    }

    #[test]
    fn nesting_is_bounded() {
        let mut v = V::Str("deep");
        for _ in 0..20 {
            v = V::Obj(vec![("k", v)]);
        }
        assert_eq!(to_json(&object(&[("k", v)])), None);
        let mut l = V::Null;
        for _ in 0..20 {
            l = V::List(vec![l]);
        }
        assert_eq!(to_json(&object(&[("k", l)])), None);
    }

    #[test]
    fn odd_numbers() {
        let mut out = String::new();
        for n in [0.0, -0.0, 1e300, f64::NAN, f64::INFINITY, -0.5] {
            write_number(n, &mut out);
            out.push(' ');
        }
        assert_eq!(out, "0 0 18446744073709551615.5 null null -0.5 ");
    }
}
