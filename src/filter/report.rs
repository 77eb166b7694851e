//! The words of the filter's log lines that describe things: a
//! configuration, a header set, refused headers. Names, counts and timings
//! only: never a header value, and never a provider path's query string
//! (`/token?api_key=...` is a common way to pass a key).

use super::config::Config;
use super::headers::{HeaderSet, Refused};
use super::text::{push_duration, push_path, push_quoted, push_u64};

/// Most refused header names listed in one log line.
pub const REFUSED_LISTED: usize = 10;

/// The configuration as one log line.
pub fn configuration(config: &Config) -> String {
    let p = &config.provider;
    let mut text = String::from("configured: provider ");
    if !config.name.is_empty() {
        push_quoted(&mut text, &config.name);
        text.push_str(" at ");
    }
    text.push_str("cluster ");
    push_quoted(&mut text, &p.cluster);
    text.push_str(", authority ");
    push_quoted(&mut text, &p.authority);
    text.push_str(", path ");
    push_path(&mut text, &p.path);
    if let Some(o) = &config.oauth2 {
        text.push_str(", oauth2 client "); // a client id is no secret (RFC 6749 §2.2)
        push_quoted(&mut text, &o.client_id);
    }
    text.push_str("; refresh every ");
    push_duration(&mut text, config.refresh_ms);
    text.push_str(", timeout ");
    push_duration(&mut text, config.timeout_ms);
    text.push_str(match config.overwrite {
        true => ", overwrite",
        false => ", keep the request's own values",
    });
    if !config.static_headers.is_empty() {
        text.push_str("; static ");
        push_set(&mut text, &config.static_headers);
    }
    match &config.destinations {
        Some(d) => {
            text.push_str("; for ");
            for (i, entry) in d.entries().iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                push_quoted(&mut text, entry);
            }
        }
        // Logged as a warning (vm.rs).
        None => text.push_str(UNSCOPED),
    }
    text
}

/// The end of the configuration line of a provider without `destinations`.
pub const UNSCOPED: &str =
    "; no destinations: its headers go to every upstream; scope them with \"destinations\"";

/// "2 headers (authorization, x-tenant)".
pub fn push_set(out: &mut String, set: &HeaderSet) {
    push_u64(out, set.len() as u64);
    out.push_str(match set.len() {
        1 => " header (",
        _ => " headers (",
    });
    for (i, name) in set.names().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out.push(')');
}

/// `refused 2 provider headers: "host" (reserved name: ...), ...`; empty if none.
pub fn refused(refused: &[Refused]) -> String {
    let mut text = String::new();
    if refused.is_empty() {
        return text;
    }
    text.push_str("refused ");
    push_u64(&mut text, refused.len() as u64);
    text.push_str(match refused.len() {
        1 => " provider header: ",
        _ => " provider headers: ",
    });
    for (i, r) in refused.iter().take(REFUSED_LISTED).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        push_quoted(&mut text, &r.name);
        text.push_str(" (");
        text.push_str(r.why.reason());
        text.push(')');
    }
    if refused.len() > REFUSED_LISTED {
        text.push_str(", and ");
        push_u64(&mut text, (refused.len() - REFUSED_LISTED) as u64);
        text.push_str(" more");
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_is_never_logged() {
        let mut config = Config::default();
        config.provider.path = "/token?api_key=s3cr3t&aud=x".into();
        let line = configuration(&config);
        assert!(!line.contains("s3cr3t") && !line.contains("aud"), "{line}");
        assert!(
            line.contains("path \"/token\" with a query string (not logged)"),
            "{line}"
        );
        config.provider.path = "/headers".into();
        assert!(configuration(&config).contains("path \"/headers\"; refresh every 6m"));
    }
}
