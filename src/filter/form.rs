//! The encodings of an OAuth2 token request (RFC 6749): the
//! `application/x-www-form-urlencoded` body and the HTTP Basic credentials
//! of the client, whose id and secret are form-encoded first (§2.3.1).

/// Appends `value` form-urlencoded (the WHATWG URL standard's
/// `application/x-www-form-urlencoded` serializer): ASCII letters, digits
/// and `*-._` as they are, a space as `+`, every other byte of its UTF-8 as
/// `%XX`.
pub fn push_encoded(out: &mut String, value: &str) {
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(hex(b >> 4));
                out.push(hex(b & 0xf));
            }
        }
    }
}

/// Appends `&name=value` (no `&` for the first pair), both encoded: a
/// name from the configuration (`params`) cannot add a pair of its own.
pub fn push_pair(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    push_encoded(out, name);
    out.push('=');
    push_encoded(out, value);
}

/// `Basic <base64 of id:secret>`, each form-encoded first (RFC 6749 §2.3.1).
pub fn basic_credentials(id: &str, secret: &str) -> String {
    let mut plain = String::new();
    push_encoded(&mut plain, id);
    plain.push(':');
    push_encoded(&mut plain, secret);
    let mut out = String::from("Basic ");
    push_base64(&mut out, plain.as_bytes());
    out
}

/// Appends standard base64 with padding (RFC 4648 §4).
pub fn push_base64(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = b(0) << 16 | b(1) << 8 | b(2);
        for i in 0..4 {
            let c = match i <= chunk.len() {
                true => ALPHABET.get((n >> (18 - 6 * i) & 63) as usize).copied(),
                false => Some(b'='),
            };
            out.push(char::from(c.unwrap_or(b'=')));
        }
    }
}

fn hex(n: u8) -> char {
    char::from(
        b"0123456789ABCDEF"
            .get(usize::from(n))
            .copied()
            .unwrap_or(b'0'),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &str) -> String {
        let mut out = String::new();
        push_encoded(&mut out, value);
        out
    }

    #[test]
    fn form_encoding_follows_the_urlencoded_serializer() {
        assert_eq!(encoded("abc-XYZ_0.9*"), "abc-XYZ_0.9*");
        assert_eq!(encoded("a b"), "a+b", "a space is a plus");
        assert_eq!(encoded("a+b"), "a%2Bb", "a plus is escaped");
        assert_eq!(encoded("%20"), "%2520");
        assert_eq!(encoded("~!'()"), "%7E%21%27%28%29");
        assert_eq!(encoded("a/b?c=d&e#f:g@h"), "a%2Fb%3Fc%3Dd%26e%23f%3Ag%40h");
        assert_eq!(encoded("é€"), "%C3%A9%E2%82%AC", "UTF-8, byte by byte");
        assert_eq!(encoded("\n\0"), "%0A%00");
        assert_eq!(encoded(""), "");
    }

    #[test]
    fn pairs_are_joined_with_ampersands() {
        let mut body = String::new();
        push_pair(&mut body, "grant_type", "client_credentials");
        push_pair(&mut body, "scope", "read write");
        push_pair(&mut body, "resource", "https://api.example.com/v1?x=1");
        assert_eq!(
            body,
            "grant_type=client_credentials&scope=read+write&resource=https%3A%2F%2Fapi.example.com%2Fv1%3Fx%3D1"
        );
    }

    #[test]
    fn a_name_is_encoded_too() {
        let mut body = String::new();
        push_pair(&mut body, "a&grant_type", "password");
        assert_eq!(body, "a%26grant_type=password");
    }

    #[test]
    fn base64_with_padding() {
        let b64 = |bytes: &[u8]| {
            let mut out = String::new();
            push_base64(&mut out, bytes);
            out
        };
        // RFC 4648 §10's test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(b64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn basic_credentials_form_encode_the_id_and_secret_first() {
        assert_eq!(
            basic_credentials("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuK3Nlc2FtZQ=="
        );
        // "a:b" as the id: its colon is escaped, so the server splits at ours.
        assert_eq!(basic_credentials("a:b", "c"), "Basic YSUzQWI6Yw==");
        assert_eq!(
            basic_credentials("id", "s+/=%é"),
            "Basic aWQ6cyUyQiUyRiUzRCUyNSVDMyVBOQ=="
        );
    }
}
