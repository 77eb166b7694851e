//! The VM's environment variables, as WASI's `environ_get` hands them over:
//! one buffer of `NAME=value` strings, each ended by a NUL. Envoy fills it
//! from `vm_config.environment_variables` (Istio: `WasmPlugin.vmConfig.env`).

/// The value of `name` in `environ`; the first that is UTF-8 if it is
/// given twice. `None` when absent or not UTF-8. (`name` has no `=`: the configuration checks
/// it is a variable name.)
pub fn lookup<'a>(environ: &'a [u8], name: &str) -> Option<&'a str> {
    let mut rest = environ;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (entry, after) = rest.split_at(end);
        let (key, value) = entry.split_at(name.len().min(entry.len()));
        if let (true, Some((b'=', value))) = (key == name.as_bytes(), value.split_first()) {
            if let Ok(value) = super::text::utf8(value) {
                return Some(value);
            }
        }
        rest = after.get(1..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_variable_by_its_whole_name() {
        let environ = b"IDP_SECRET=s3=cr3t\0IDP=other\0EMPTY=\0IDP_SECRET=later\0";
        assert_eq!(
            lookup(environ, "IDP_SECRET"),
            Some("s3=cr3t"),
            "the first, '=' kept in the value"
        );
        assert_eq!(
            lookup(environ, "IDP"),
            Some("other"),
            "a prefix of another name is not that name"
        );
        assert_eq!(lookup(environ, "EMPTY"), Some(""));
        assert_eq!(lookup(environ, "MISSING"), None);
        assert_eq!(lookup(b"", "A"), None);
        assert_eq!(
            lookup(b"A=1", "A"),
            Some("1"),
            "the last NUL may be missing"
        );
        assert_eq!(lookup(b"A=\xff\0", "A"), None, "not UTF-8");
        assert_eq!(
            lookup(b"A=\xff\0A=ok\0", "A"),
            Some("ok"),
            "the first that is text"
        );
        assert_eq!(lookup(b"\0\0A=1\0", "A"), Some("1"));
    }
}
