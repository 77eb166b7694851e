//! The filter's metrics, defined once per plugin per VM when it is configured.
//! Envoy shows them as `wasmcustom.header_augmenter.<plugin>.<metric>`; every
//! VM of an Envoy adds to the same counters.
//!
//! Counters are counted in the VM and added to Envoy's on the root context's
//! tick (`flush`), so a request makes no host call for them; Envoy's figures
//! trail by at most a tick.
//!
//! Each request a plugin sees ends in exactly one of `requests_augmented`,
//! `requests_without_headers`, `requests_denied` or `requests_held_cancelled`;
//! `requests_held` and the other `requests_held_*` say how waiting went.

use std::cell::Cell;

use super::host::{Host, MetricKind};

/// Declares every metric once: its variant of `M`, its name and its kind.
/// Counters come first (they are batched in the VM), then gauges.
macro_rules! metrics {
    (counters { $($c:ident = $cn:literal,)* } gauges { $($g:ident = $gn:literal,)* }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum M { $($c,)* $($g,)* }
        const NAMES: [&str; [$($cn,)* $($gn,)*].len()] = [$($cn,)* $($gn,)*];
        const COUNTERS: usize = [$($cn,)*].len();
    };
}

metrics! {
    counters {
        ProviderCalls = "provider_calls",
        FetchesSucceeded = "fetches_succeeded",
        FetchesFailed = "fetches_failed",
        // Calls Envoy refused to start: an unknown cluster, or no upstream to send to.
        CallsUnknownCluster = "provider_unknown_cluster",
        CallsNotSent = "provider_not_sent",
        HeadersRefused = "headers_refused",
        RequestsAugmented = "requests_augmented",
        RequestsWithoutHeaders = "requests_without_headers",
        RequestsDenied = "requests_denied",
        RequestsHeld = "requests_held",
        RequestsHeldResumed = "requests_held_resumed",
        RequestsHeldContinued = "requests_held_continued",
        RequestsHeldDenied = "requests_held_denied",
        RequestsHeldCancelled = "requests_held_cancelled",
        // Requests denied at once because the VM already held its most.
        RequestsHeldOverLimit = "requests_held_over_limit",
        // Requests whose cluster is none of this provider's destinations.
        RequestsOutOfScope = "requests_out_of_scope",
        // Headers of this provider left out because an earlier provider gave the name.
        HeaderClashes = "header_clashes",
    }
    gauges {
        // How many headers the last good fetch gave.
        HeadersCurrent = "headers_current",
        // Seconds since the last good fetch, by the wall clock, kept by the poller.
        CacheAgeSeconds = "cache_age_seconds",
        // The linear memory of this plugin's VMs, summed over the Envoy.
        WasmMemoryBytes = "wasm_memory_bytes",
    }
}

/// The host's ids for the metrics (a metric that could not be defined is a
/// no-op), and the counts not yet added to Envoy's counters.
pub struct Metrics {
    ids: [Option<u32>; NAMES.len()],
    unflushed: [Cell<u64>; COUNTERS],
}

impl Metrics {
    /// The metrics of the provider named `provider` (empty for the top-level
    /// form) of the plugin named `plugin`: `header_augmenter.<plugin>.<metric>`,
    /// or `header_augmenter.<plugin>.<provider>.<metric>`; the memory gauge
    /// is the plugin's.
    pub fn define(host: &impl Host, plugin: &str, provider: &str) -> Metrics {
        let prefix = super::text::line(&["header_augmenter.", &stat_safe(plugin), "."]);
        let named = super::text::line(&[&prefix, provider, "."]);
        let mut ids = [None; NAMES.len()];
        for (i, (id, name)) in ids.iter_mut().zip(NAMES.iter()).enumerate() {
            let kind = match i < COUNTERS {
                true => MetricKind::Counter,
                false => MetricKind::Gauge,
            };
            let own = !provider.is_empty() && i != M::WasmMemoryBytes as usize;
            let prefix = if own { &named } else { &prefix };
            *id = host.define_metric(kind, &super::text::line(&[prefix, name]));
        }
        Metrics {
            ids,
            unflushed: Default::default(),
        }
    }

    fn id(&self, m: M) -> Option<u32> {
        self.ids.get(m as usize).copied().flatten()
    }

    /// Counts `n` on a counter, in the VM until the next `flush`.
    pub fn add(&self, m: M, n: u64) {
        if let Some(count) = self.unflushed.get(m as usize) {
            count.set(count.get().saturating_add(n));
        }
    }

    pub fn inc(&self, m: M) {
        self.add(m, 1);
    }

    /// Adds the counts made since the last flush to Envoy's counters.
    pub fn flush(&self, host: &impl Host) {
        for (count, id) in self.unflushed.iter().zip(&self.ids) {
            let n = count.replace(0);
            if let (Some(id), true) = (id, n > 0) {
                host.increment_metric(*id, n.min(i64::MAX as u64) as i64);
            }
        }
    }

    /// Moves a gauge by `delta` at once: for a gauge every VM adds its share to.
    pub fn adjust(&self, host: &impl Host, m: M, delta: i64) {
        if let (Some(id), true) = (self.id(m), delta != 0) {
            host.increment_metric(id, delta);
        }
    }

    /// Sets a gauge.
    pub fn set(&self, host: &impl Host, m: M, value: u64) {
        if let Some(id) = self.id(m) {
            host.record_metric(id, value);
        }
    }
}

/// The plugin name as one stat name element: dots would split it in two.
fn stat_safe(name: &str) -> String {
    if name.is_empty() {
        return "default".into();
    }
    // By character, so a multi-byte one becomes one '_'.
    let mut safe = String::with_capacity(name.len());
    for c in name.chars() {
        safe.push(match c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            true => c,
            false => '_',
        });
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_one_name_and_counters_come_first() {
        assert_eq!(NAMES.len(), M::WasmMemoryBytes as usize + 1);
        assert_eq!(COUNTERS, M::HeadersCurrent as usize);
        assert_eq!(
            NAMES.get(M::RequestsDenied as usize),
            Some(&"requests_denied")
        );
        assert_eq!(stat_safe("ns.plugin"), "ns_plugin");
        assert_eq!(stat_safe(""), "default");
    }
}
