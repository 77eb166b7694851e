//! A provider's `destinations`: which upstream clusters get its headers.
//!
//! The match is on the cluster the route chose (Envoy's `xds.cluster_name`
//! property), never on the request's `Host`/`:authority`, which the client
//! writes: a credential cannot be steered to another destination by a
//! header. An entry is
//! - an exact cluster name: `legacy_api`;
//! - a host: `api.example.com` also matches Istio's cluster names
//!   `outbound|443||api.example.com`, `outbound|8080|v1|api.example.com`
//!   (the host is the part after the third `|`);
//! - a wildcard `*.example.com`: a cluster name or Istio host ending in
//!   `.example.com` (not `example.com` itself).
//!
//! Istio's `PassthroughCluster` and `BlackHoleCluster` never match: traffic
//! to a host the mesh does not know carries no destination to check.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations(Vec<String>);

impl Destinations {
    pub fn new(entries: Vec<String>) -> Destinations {
        Destinations(entries)
    }

    pub fn push(&mut self, entry: String) {
        self.0.push(entry);
    }

    pub fn entries(&self) -> &[String] {
        &self.0
    }

    /// Whether `cluster`, Envoy's `xds.cluster_name` of the request, is one of these.
    /// (`PassthroughCluster` and `BlackHoleCluster` match nothing `problem`
    /// lets through: neither has a dot for a wildcard, nor is an Istio name.)
    pub fn matches(&self, cluster: &[u8]) -> bool {
        let host = istio_host(cluster);
        self.0.iter().any(|entry| {
            let entry = entry.as_bytes();
            match entry.split_first() {
                Some((b'*', suffix)) => {
                    cluster.ends_with(suffix) || host.is_some_and(|h| h.ends_with(suffix))
                }
                _ => cluster == entry || host == Some(entry),
            }
        })
    }
}

/// The host part of an Istio cluster name, `direction|port|subset|host`.
fn istio_host(cluster: &[u8]) -> Option<&[u8]> {
    let mut bars = 0;
    for (i, &b) in cluster.iter().enumerate() {
        bars += usize::from(b == b'|');
        if bars == 3 {
            let known = cluster.starts_with(b"outbound|") || cluster.starts_with(b"inbound|");
            return cluster.get(i + 1..).filter(|h| known && !h.is_empty());
        }
    }
    None
}

/// What is wrong with one entry, if anything: it must be a name without
/// white space or '*', or "*." and one; and not one that never matches.
pub fn problem(entry: &str) -> Option<&'static str> {
    let bytes = entry.as_bytes();
    let rest = match bytes {
        [b'*', b'.', rest @ ..] => rest,
        _ => bytes,
    };
    if rest.is_empty() || rest.iter().any(|&b| b <= b' ' || b == 0x7f || b == b'*') {
        return Some("is not a cluster name, a host or \"*.\" and a domain");
    }
    let never = entry == "PassthroughCluster" || entry == "BlackHoleCluster";
    never.then_some("never matches; name a ServiceEntry host instead")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dest(entries: &[&str]) -> Destinations {
        Destinations::new(entries.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn exact_names_hosts_and_wildcards() {
        let d = dest(&["legacy_api", "api.example.com", "*.corp.internal"]);
        for yes in [
            "legacy_api",
            "api.example.com",
            "outbound|443||api.example.com",
            "outbound|8080|v1|api.example.com",
            "inbound|80||api.example.com",
            "a.corp.internal",
            "outbound|443||x.y.corp.internal",
            "outbound|443|v2|b.corp.internal",
        ] {
            assert!(d.matches(yes.as_bytes()), "{yes}");
        }
        for no in [
            "legacy_api2",
            "other",
            "corp.internal",
            "outbound|443||corp.internal",
            "outbound|443||api.example.com.evil",
            "outbound|443||evil-api.example.com",
            "xapi.example.com",
            "sideways|443||api.example.com",
            "outbound|443|api.example.com",
            "PassthroughCluster",
            "BlackHoleCluster",
            "",
        ] {
            assert!(!d.matches(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn istio_catch_alls_never_match() {
        assert!(!dest(&["*.Cluster"]).matches(b"PassthroughCluster"));
        for never in ["PassthroughCluster", "BlackHoleCluster"] {
            assert!(problem(never).unwrap().starts_with("never matches"));
        }
    }

    #[test]
    fn invalid_entries() {
        for entry in [
            "",
            "*",
            "*.",
            "*example.com",
            "api.*.com",
            "**.com",
            "*.*.com",
            "a b",
            " a",
            "a\t",
            "a\x7f",
        ] {
            let why = problem(entry).unwrap();
            assert!(why.starts_with("is not a cluster name"), "{entry:?}");
        }
        for good in [
            "a",
            "*.a",
            "outbound|443||a.b",
            "legacy_api",
            "*.example.com",
        ] {
            assert_eq!(problem(good), None, "{good}");
        }
    }
}
