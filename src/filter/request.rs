//! A request's decision from each of its plugin's providers, and carrying out
//! what they decide together (policy.rs `combine`): add each provider's
//! headers, forward, or answer locally; each counted once per provider. For
//! a request as it arrives and for a held one as it is released (vm.rs).
//!
//! No parsing, validation or logging here: the sets were validated when they
//! were fetched, and this VM keeps them decoded.

use super::config::MAX_PROVIDERS;
use super::headers::HeaderSet;
use super::host::{Host, Map, Verdict};
use super::metrics::M;
use super::plugin::Plugin;
use super::policy::{self, Availability, Combined, Decision, Denial};
use super::source::Source;

/// Each provider's decision, in the plugin's order; `None` where the request
/// is not for the provider's destinations.
pub type Decisions = [Option<Decision>; MAX_PROVIDERS];

/// The providers a request routed to `cluster` (read only for a plugin
/// with `destinations`) is for: bit `i` for provider `i`. Computed once per
/// request (and again for a held one as it is released); what follows
/// looks at these providers only.
pub fn scope(plugin: &Plugin, cluster: Option<&[u8]>) -> u16 {
    let mut scope = 0;
    for (i, source) in plugin.sources.iter().enumerate() {
        let wanted = match &source.config.destinations {
            None => true,
            Some(d) => cluster.is_some_and(|c| d.matches(c)),
        };
        scope |= u16::from(wanted) << i;
    }
    scope
}

/// Every provider: what the held queue looks at, its requests going to
/// various clusters.
pub const EVERY_PROVIDER: u16 = u16::MAX;

/// Whether provider `i` is in `scope`.
pub fn has(scope: u16, i: usize) -> bool {
    scope >> i & 1 != 0
}

/// What each provider in `scope` decides, given what it has (`available`,
/// in the plugin's order). `held_for`: how long a held request has waited.
/// Counts the providers the request is not for.
pub fn decide(
    plugin: &Plugin,
    scope: u16,
    available: &[Availability],
    held_for: Option<u64>,
) -> Decisions {
    let mut decisions = [None; MAX_PROVIDERS];
    let each = plugin.sources.iter().zip(available).zip(&mut decisions);
    for (i, ((source, &available), decision)) in each.enumerate() {
        if !has(scope, i) {
            if held_for.is_none() {
                source.metrics.inc(M::RequestsOutOfScope); // once, as it arrives
            }
            continue;
        }
        // A request as it arrives is a held one that has not waited: the
        // same decision (policy.rs tests both).
        let c = &source.config;
        let timed_out = held_for.is_some_and(|ms| ms >= c.wait_timeout_ms);
        *decision =
            Some(policy::on_held(available, c.on_missing, timed_out).unwrap_or(Decision::Hold));
    }
    decisions
}

/// What each provider of `plugin` in `scope` has to add now, in order (the
/// others are never looked at: this may read the clock or shared data).
pub fn availability(
    plugin: &Plugin,
    host: &impl Host,
    scope: u16,
) -> [Availability; MAX_PROVIDERS] {
    let mut available = [Availability::Ready; MAX_PROVIDERS];
    for (i, (source, a)) in plugin.sources.iter().zip(&mut available).enumerate() {
        if !has(scope, i) {
            continue;
        }
        let max_stale = source.config.max_stale_ms;
        *a = source.copy.availability(host, max_stale, &source.lease_key);
    }
    available
}

/// Carries out `combined` (not `Hold`) on the effective stream, and counts
/// it for each provider in scope; `held`: a held request being released.
pub fn carry_out(
    plugin: &Plugin,
    host: &impl Host,
    decisions: &Decisions,
    combined: Combined,
    held: bool,
) -> Verdict {
    for (source, d) in plugin.sources.iter().zip(decisions) {
        let (outcome, release) = match (combined, d) {
            (_, None) => continue,
            (Combined::Deny(_), _) => (M::RequestsDenied, M::RequestsHeldDenied),
            (_, Some(Decision::Apply)) => (M::RequestsAugmented, M::RequestsHeldResumed),
            _ => (M::RequestsWithoutHeaders, M::RequestsHeldContinued),
        };
        source.metrics.inc(outcome);
        if held {
            source.metrics.inc(release);
        }
    }
    if let Combined::Deny(i) = combined {
        let why = match decisions.get(i) {
            Some(Some(Decision::Deny(why))) => *why,
            _ => Denial::HeldLimit, // a request the full queue could not hold
        };
        if let Some(source) = plugin.sources.get(i) {
            deny(source, host, why);
        }
        return Verdict::Pause;
    }
    if plugin.target.request() {
        apply(plugin, host, Map::Request, decisions);
    }
    Verdict::Continue
}

/// Adds each provider's headers to one map of the effective stream: its
/// fetched set where it decided `Apply`, then its static headers (those the
/// fetched set does not have). A name an earlier provider gives is left to
/// it, and counted as a clash for the later one.
pub fn apply(plugin: &Plugin, host: &impl Host, map: Map, decisions: &Decisions) {
    let sources = plugin.sources.iter().zip(decisions);
    for (i, (source, d)) in sources.clone().enumerate() {
        let [fetched, fixed] = sets(source, *d);
        for layer in 0..2 {
            let set = if layer == 0 { fetched } else { fixed };
            for (name, value) in set.iter().flat_map(|set| set.iter()) {
                let has =
                    |set: Option<&HeaderSet>| set.is_some_and(|s| s.names().any(|n| n == name));
                if layer == 1 && has(fetched) {
                    continue; // the provider's own value wins over its static one
                }
                let mut earlier = sources.clone().take(i);
                if earlier.any(|(s, d)| {
                    let [f, x] = sets(s, *d);
                    has(f) || has(x)
                }) {
                    source.metrics.inc(M::HeaderClashes);
                } else if source.config.overwrite {
                    host.replace_header(map, name, value);
                } else if host.header(map, name).is_none() {
                    host.add_header(map, name, value);
                }
            }
        }
    }
}

/// What a provider's decision gives a request: its fetched set (for
/// `Apply`, once it has one) and its static headers; nothing out of scope.
fn sets(source: &Source, d: Option<Decision>) -> [Option<&HeaderSet>; 2] {
    let Some(d) = d else {
        return [None, None];
    };
    let fetched = source.copy.record().filter(|_| d == Decision::Apply);
    [fetched.map(|r| &r.set), Some(&source.config.static_headers)]
}

/// Answers the effective stream locally with `source`'s status, saying why.
pub fn deny(source: &Source, host: &impl Host, why: Denial) {
    let headers = [
        ("x-header-augmenter-denied", why.code()),
        ("content-type", "text/plain"),
    ];
    host.send_response(source.config.deny_status, &headers, why.body());
}
