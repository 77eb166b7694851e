//! A strict JSON scanner for the two documents the filter reads: the plugin
//! configuration and the provider's body.
//!
//! It is a pull scanner, not a tree builder: the caller asks for the value it
//! expects (an object, a string, a boolean, an integer) and gets an error that
//! says where the document went wrong. It never descends into a value the caller
//! did not ask for, so depth is bounded by the caller's shape (1 for a provider
//! body, 2 for the configuration) and there is no recursion to exhaust.
//!
//! Strict means RFC 8259 and nothing more: UTF-8 only (no byte order mark),
//! escapes limited to the eight short ones and `\uXXXX` with surrogate pairs
//! joined and lone surrogates refused, no raw control characters in strings,
//! no leading zeros, nothing but white space after the value.
//!
//! Strings borrow from the input unless they contain an escape.

use std::borrow::Cow;

/// Deepest nesting `skip` follows: the scanner recurses once per level.
pub const MAX_DEPTH: usize = 32;

/// What went wrong, and at which byte of the input. Boxed, so that a
/// `Result` passes one pointer up through every `?`.
pub type Error = Box<Problem>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    pub at: usize,
    pub what: &'static str,
}

/// The kind of the value that starts at the scanner's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    /// The kind as it reads in an error message: "found {noun}".
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// Where the scanner is inside one object or array: before its first
/// member or after one.
pub struct Members {
    first: bool,
    array: bool,
}

pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Checks the whole input is UTF-8 up front, so every later slice is a `str`.
    pub fn new(input: &'a [u8]) -> Result<Self, Error> {
        match super::text::utf8(input) {
            Ok(text) if text.starts_with('\u{feff}') => Err(Box::new(Problem {
                at: 0,
                what: "starts with a byte order mark",
            })),
            Ok(text) => Ok(Scanner { text, pos: 0 }),
            Err(valid) => Err(Box::new(Problem {
                at: valid,
                what: "is not valid UTF-8",
            })),
        }
    }

    /// True when the input holds nothing but white space.
    pub fn is_blank(&mut self) -> bool {
        self.skip_space();
        self.pos >= self.text.len()
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn fail(&self, what: &'static str) -> Error {
        Box::new(Problem { at: self.pos, what })
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The kind of the next value, without consuming it.
    pub fn kind(&mut self) -> Result<Kind, Error> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => Ok(Kind::Object),
            Some(b'[') => Ok(Kind::Array),
            Some(b'"') => Ok(Kind::String),
            Some(b'-' | b'0'..=b'9') => Ok(Kind::Number),
            Some(b't' | b'f') => Ok(Kind::Bool),
            Some(b'n') => Ok(Kind::Null),
            Some(_) => Err(self.fail("expected a JSON value")),
            None => Err(self.fail("ended where a value was expected")),
        }
    }

    /// Enters the object that starts here.
    pub fn object(&mut self) -> Result<Members, Error> {
        self.open(false)
    }

    /// Enters the array that starts here.
    pub fn array(&mut self) -> Result<Members, Error> {
        self.open(true)
    }

    fn open(&mut self, array: bool) -> Result<Members, Error> {
        self.skip_space();
        let (open, what) = match array {
            true => (b'[', "expected '['"),
            false => (b'{', "expected '{'"),
        };
        if self.peek() != Some(open) {
            return Err(self.fail(what));
        }
        self.pos += 1;
        Ok(Members { first: true, array })
    }

    /// Whether another member or element follows, with the scanner left on
    /// it; false after the closing bracket. The caller must consume each
    /// element before asking again.
    pub fn next_item(&mut self, members: &mut Members) -> Result<bool, Error> {
        self.skip_space();
        let (close, inside, expected) = match members.array {
            true => (b']', "ended inside an array", "expected ',' or ']'"),
            false => (b'}', "ended inside an object", "expected ',' or '}'"),
        };
        match self.peek() {
            Some(b) if b == close => {
                self.pos += 1;
                return Ok(false);
            }
            Some(b',') if !members.first => {
                self.pos += 1;
                self.skip_space();
            }
            None => return Err(self.fail(inside)),
            _ if members.first => {}
            _ => return Err(self.fail(expected)),
        }
        members.first = false;
        Ok(true)
    }

    /// The next member's key, with the scanner left on its value; `None` after
    /// the closing brace. The caller must consume the value before asking again.
    pub fn next_key(&mut self, members: &mut Members) -> Result<Option<Cow<'a, str>>, Error> {
        if !self.next_item(members)? {
            return Ok(None);
        }
        if self.peek() != Some(b'"') {
            return Err(self.fail("expected a string key"));
        }
        let key = self.string()?;
        self.skip_space();
        if self.peek() != Some(b':') {
            return Err(self.fail("expected ':' after the key"));
        }
        self.pos += 1;
        self.skip_space();
        Ok(Some(key))
    }

    /// The string that starts here.
    pub fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.skip_space();
        if self.peek() != Some(b'"') {
            return Err(self.fail("expected a string"));
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = self.slice(start, self.pos)?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => {
                    let mut owned = String::from(self.slice(start, self.pos)?);
                    self.finish_escaped(&mut owned)?;
                    return Ok(Cow::Owned(owned));
                }
                Some(0..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.fail("unterminated string")),
            }
        }
    }

    /// The rest of a string that has escapes, appended to `out`.
    fn finish_escaped(&mut self, out: &mut String) -> Result<(), Error> {
        let mut run = self.pos;
        loop {
            match self.peek() {
                Some(b'"') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    out.push(self.escape()?);
                    run = self.pos;
                }
                Some(0..=0x1f) => return Err(self.fail("control character in a string")),
                Some(_) => self.pos += 1,
                None => return Err(self.fail("unterminated string")),
            }
        }
    }

    /// One escape, the backslash already consumed.
    fn escape(&mut self) -> Result<char, Error> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode_escape();
            }
            _ => return Err(self.fail("invalid escape")),
        };
        self.pos += 1;
        Ok(c)
    }

    /// `XXXX` after `\u`, joining a surrogate pair into one character.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let at = self.pos;
        let unit = self.hex4()?;
        let code = match unit {
            0xd800..=0xdbff => {
                if self.text.as_bytes().get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(Box::new(Problem {
                        at,
                        what: "lone surrogate in \\u escape",
                    }));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(Box::new(Problem {
                        at,
                        what: "lone surrogate in \\u escape",
                    }));
                }
                0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => {
                return Err(Box::new(Problem {
                    at,
                    what: "lone surrogate in \\u escape",
                }))
            }
            _ => unit,
        };
        char::from_u32(code).ok_or(Box::new(Problem {
            at,
            what: "invalid \\u escape",
        }))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.fail("expected four hex digits after \\u")),
            };
            value = value * 16 + u32::from(digit);
            self.pos += 1;
        }
        Ok(value)
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Result<bool, Error> {
        self.skip_space();
        if self.literal("true") {
            Ok(true)
        } else if self.literal("false") {
            Ok(false)
        } else {
            Err(self.fail("expected true or false"))
        }
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), Error> {
        self.skip_space();
        if self.literal("null") {
            Ok(())
        } else {
            Err(self.fail("expected null"))
        }
    }

    fn literal(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        let found = self.text.as_bytes().get(self.pos..end) == Some(word.as_bytes());
        if found {
            self.pos = end;
        }
        found
    }

    /// The number that starts here, as its text, checked against JSON's
    /// grammar: an optional `-`, digits without a leading zero, an optional
    /// fraction and exponent. For a caller that reads it its own way.
    pub fn number(&mut self) -> Result<&'a str, Error> {
        self.skip_space();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let (first, at) = (self.peek(), self.pos);
        if self.digits() > 1 && first == Some(b'0') {
            let what = "number has a leading zero";
            return Err(Box::new(Problem { at, what }));
        }
        if first.is_none_or(|b| !b.is_ascii_digit())
            || (self.eat(b'.') && self.digits() == 0)
            || ((self.eat(b'e') || self.eat(b'E')) && {
                let _ = self.eat(b'+') || self.eat(b'-');
                self.digits() == 0
            })
        {
            return Err(self.fail("expected a digit"));
        }
        self.slice(start, self.pos)
    }

    /// Skips the value that starts here, whatever it is, nested at most
    /// `MAX_DEPTH` deep: for members a reader does not know.
    pub fn skip(&mut self) -> Result<(), Error> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Result<(), Error> {
        if depth == MAX_DEPTH {
            return Err(self.fail("nested too deeply"));
        }
        match self.kind()? {
            Kind::String => self.string().map(drop),
            Kind::Number => self.number().map(drop),
            Kind::Bool => self.boolean().map(drop),
            Kind::Null => self.null(),
            kind => {
                let mut members = self.open(kind == Kind::Array)?;
                while match kind {
                    Kind::Array => self.next_item(&mut members)?,
                    _ => self.next_key(&mut members)?.is_some(),
                } {
                    self.skip_nested(depth + 1)?;
                }
                Ok(())
            }
        }
    }

    /// The digits that start here; how many.
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Consumes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        let next = self.peek() == Some(b);
        self.pos += usize::from(next);
        next
    }

    /// A number with no fraction or exponent. Anything else is an error here,
    /// because every number the filter reads counts something.
    pub fn integer(&mut self) -> Result<i64, Error> {
        let text = self.number()?;
        let start = self.pos - text.len();
        let mut value = 0u64;
        for (i, b) in text.bytes().enumerate() {
            let at = start + i;
            let what = match b {
                b'-' => continue,
                b'0'..=b'9' => match super::text::ten_times(value, b - b'0') {
                    Some(v) if v <= i64::MAX as u64 => {
                        value = v;
                        continue;
                    }
                    _ => "number is too large",
                },
                _ => "expected a whole number",
            };
            return Err(Box::new(Problem { at, what }));
        }
        let value = value as i64; // at most i64::MAX
        Ok(if text.starts_with('-') { -value } else { value })
    }

    /// Nothing but white space may follow the document.
    pub fn end(&mut self) -> Result<(), Error> {
        self.skip_space();
        if self.pos < self.text.len() {
            return Err(self.fail("unexpected data after the JSON value"));
        }
        Ok(())
    }

    fn slice(&self, start: usize, end: usize) -> Result<&'a str, Error> {
        // Never fails: the scanner only stops on ASCII bytes, which are char boundaries.
        self.text.get(start..end).ok_or(Box::new(Problem {
            at: start,
            what: "invalid string",
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn string_of(input: &str) -> Result<Cow<'_, str>, Error> {
        let mut s = Scanner::new(input.as_bytes())?;
        let v = s.string()?;
        s.end()?;
        Ok(v)
    }

    fn err_of(input: &[u8]) -> Error {
        let run = || -> Result<(), Error> {
            let mut s = Scanner::new(input)?;
            let mut m = s.object()?;
            while s.next_key(&mut m)?.is_some() {
                s.string()?;
            }
            s.end()
        };
        run().unwrap_err()
    }

    #[test]
    fn plain_strings_borrow_from_the_input() {
        let v = string_of(r#""abc def""#).unwrap();
        assert!(matches!(v, Cow::Borrowed("abc def")));
    }

    #[test]
    fn escapes_decode() {
        let v = string_of(r#""a\"b\\c\/d\b\f\n\r\te""#).unwrap();
        assert_eq!(v, "a\"b\\c/d\u{8}\u{c}\n\r\te");
        assert!(matches!(v, Cow::Owned(_)));
    }

    #[test]
    fn unicode_escapes_and_surrogate_pairs() {
        assert_eq!(string_of(r#""\u00e9\u4E2D""#).unwrap(), "é中");
        assert_eq!(string_of(r#""x\ud83d\ude00y""#).unwrap(), "x😀y");
        assert_eq!(string_of(r#""\u0000""#).unwrap(), "\0");
    }

    #[test]
    fn raw_utf8_passes_through() {
        assert_eq!(string_of("\"héllo 😀\"").unwrap(), "héllo 😀");
        assert_eq!(string_of("\"\\nhé😀\"").unwrap(), "\nhé😀");
    }

    #[test]
    fn lone_surrogates_are_refused() {
        for bad in [
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
        ] {
            let e = string_of(bad).unwrap_err();
            assert_eq!(e.what, "lone surrogate in \\u escape", "{bad}");
            assert_eq!(e.at, 3, "{bad}");
        }
    }

    #[test]
    fn bad_escapes_are_refused() {
        assert_eq!(string_of(r#""\x""#).unwrap_err().what, "invalid escape");
        assert_eq!(
            string_of(r#""\u12g4""#).unwrap_err().what,
            "expected four hex digits after \\u"
        );
        assert_eq!(
            string_of(r#""\u12""#).unwrap_err().what,
            "expected four hex digits after \\u"
        );
        assert_eq!(string_of(r#""\"#).unwrap_err().what, "invalid escape");
    }

    #[test]
    fn raw_control_characters_are_refused() {
        let e = string_of("\"a\nb\"").unwrap_err();
        assert_eq!((e.at, e.what), (2, "control character in a string"));
        assert_eq!(
            string_of("\"a\\n\tb\"").unwrap_err().what,
            "control character in a string"
        );
    }

    #[test]
    fn unterminated_strings_are_refused() {
        assert_eq!(
            string_of(r#""abc"#).unwrap_err().what,
            "unterminated string"
        );
        assert_eq!(
            string_of(r#""a\nbc"#).unwrap_err().what,
            "unterminated string"
        );
    }

    #[test]
    fn invalid_utf8_names_the_byte() {
        let e = Scanner::new(b"{\"a\":\"\xff\"}").err().unwrap();
        assert_eq!((e.at, e.what), (6, "is not valid UTF-8"));
        let e = Scanner::new(b"\"\xed\xa0\x80\"").err().unwrap(); // an encoded surrogate
        assert_eq!(e.at, 1);
    }

    #[test]
    fn byte_order_mark_is_refused() {
        let e = Scanner::new(b"\xef\xbb\xbf{}").err().unwrap();
        assert_eq!(e.what, "starts with a byte order mark");
    }

    #[test]
    fn objects_iterate_members() {
        let input = br#" { "a" : "1" , "b":"2"}  "#;
        let mut s = Scanner::new(input).unwrap();
        let mut m = s.object().unwrap();
        let mut seen = Vec::new();
        while let Some(k) = s.next_key(&mut m).unwrap() {
            seen.push((k.into_owned(), s.string().unwrap().into_owned()));
        }
        s.end().unwrap();
        assert_eq!(seen, [("a".into(), "1".into()), ("b".into(), "2".into())]);
    }

    #[test]
    fn empty_object() {
        let mut s = Scanner::new(b"{ }").unwrap();
        let mut m = s.object().unwrap();
        assert!(s.next_key(&mut m).unwrap().is_none());
        s.end().unwrap();
    }

    #[test]
    fn object_syntax_errors_say_where() {
        assert_eq!(
            err_of(br#"{"a":"1",}"#),
            Box::new(Problem {
                at: 9,
                what: "expected a string key"
            })
        );
        assert_eq!(
            err_of(br#"{"a":"1" "b":"2"}"#),
            Box::new(Problem {
                at: 9,
                what: "expected ',' or '}'"
            })
        );
        assert_eq!(
            err_of(br#"{"a" "1"}"#),
            Box::new(Problem {
                at: 5,
                what: "expected ':' after the key"
            })
        );
        assert_eq!(
            err_of(br#"{,"a":"1"}"#),
            Box::new(Problem {
                at: 1,
                what: "expected a string key"
            })
        );
        assert_eq!(
            err_of(br#"{"a":"1""#),
            Box::new(Problem {
                at: 8,
                what: "ended inside an object"
            })
        );
        assert_eq!(
            err_of(br#"{"a":"1"} x"#),
            Box::new(Problem {
                at: 10,
                what: "unexpected data after the JSON value"
            })
        );
        assert_eq!(
            err_of(br#"{"a":"1"}{}"#).what,
            "unexpected data after the JSON value"
        );
        assert_eq!(err_of(br#"{a:"1"}"#).what, "expected a string key");
        assert_eq!(err_of(b"").what, "expected '{'");
    }

    #[test]
    fn kinds() {
        let cases = [
            ("{}", Kind::Object),
            ("[1]", Kind::Array),
            ("\"s\"", Kind::String),
            ("-1", Kind::Number),
            ("0", Kind::Number),
            ("true", Kind::Bool),
            ("false", Kind::Bool),
            ("null", Kind::Null),
        ];
        for (input, kind) in cases {
            assert_eq!(
                Scanner::new(input.as_bytes()).unwrap().kind().unwrap(),
                kind,
                "{input}"
            );
        }
        assert_eq!(
            Scanner::new(b"  ").unwrap().kind().unwrap_err().what,
            "ended where a value was expected"
        );
        assert_eq!(
            Scanner::new(b"x").unwrap().kind().unwrap_err().what,
            "expected a JSON value"
        );
    }

    #[test]
    fn literals() {
        assert!(Scanner::new(b"true").unwrap().boolean().unwrap());
        assert!(!Scanner::new(b" false").unwrap().boolean().unwrap());
        assert_eq!(
            Scanner::new(b"tru").unwrap().boolean().unwrap_err().what,
            "expected true or false"
        );
        Scanner::new(b"null").unwrap().null().unwrap();
        let mut s = Scanner::new(b"truex").unwrap();
        assert!(s.boolean().unwrap());
        assert!(s.end().is_err());
    }

    #[test]
    fn integers() {
        let int = |s: &str| Scanner::new(s.as_bytes()).unwrap().integer();
        assert_eq!(int("0").unwrap(), 0);
        assert_eq!(int("503").unwrap(), 503);
        assert_eq!(int("-42").unwrap(), -42);
        assert_eq!(int("9223372036854775807").unwrap(), i64::MAX);
        assert_eq!(
            int("9223372036854775808").unwrap_err().what,
            "number is too large"
        );
        assert_eq!(int("01").unwrap_err().what, "number has a leading zero");
        assert_eq!(int("1.5").unwrap_err().what, "expected a whole number");
        assert_eq!(int("1e3").unwrap_err().what, "expected a whole number");
        assert_eq!(int("-").unwrap_err().what, "expected a digit");
    }

    #[test]
    fn blank_input() {
        assert!(Scanner::new(b" \n\t\r ").unwrap().is_blank());
        assert!(!Scanner::new(b" {}").unwrap().is_blank());
    }
}
