//! Carrying out a request's decision (policy.rs decides): add the headers,
//! forward without them, or answer locally; each counted once. For a request
//! as it arrives and for a held one as it is released (vm.rs).
//!
//! No parsing, validation or logging here: the set was validated when it was
//! fetched, and this VM keeps it decoded.

use super::host::{Host, Map, Verdict};
use super::metrics::M;
use super::plugin::Plugin;
use super::policy::{Decision, Denial};

/// Carries out a decision other than holding on the effective stream, and counts it.
pub fn carry_out(plugin: &Plugin, host: &impl Host, decision: Decision) -> Verdict {
    let metrics = &plugin.metrics;
    match decision {
        Decision::Apply | Decision::Continue => {
            let with_provider = decision == Decision::Apply;
            if plugin.config.target.request() {
                apply(plugin, host, Map::Request, with_provider);
            }
            metrics.inc(match with_provider {
                true => M::RequestsAugmented,
                false => M::RequestsWithoutHeaders,
            });
            Verdict::Continue
        }
        Decision::Deny(why) => {
            deny(plugin, host, why);
            metrics.inc(M::RequestsDenied);
            Verdict::Pause
        }
        Decision::Hold => Verdict::Pause,
    }
}

/// Adds the plugin's headers to one map of the effective stream.
pub fn apply(plugin: &Plugin, host: &impl Host, map: Map, with_provider: bool) {
    let config = &plugin.config;
    plugin.copy.apply(
        host,
        map,
        with_provider,
        &config.static_headers,
        config.overwrite,
    );
}

/// Answers the effective stream locally, saying why.
fn deny(plugin: &Plugin, host: &impl Host, why: Denial) {
    let headers = [
        ("x-header-augmenter-denied", why.code()),
        ("content-type", "text/plain"),
    ];
    host.send_response(plugin.config.deny_status, &headers, why.body());
}
