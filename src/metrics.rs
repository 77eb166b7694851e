//! The filter's metrics, defined once per plugin per VM when it is configured.
//! Envoy shows them as `wasmcustom.header_augmenter.<plugin>.<metric>`; every
//! VM of an Envoy adds to the same counters.
//!
//! Counters are counted in the VM and added to Envoy's on the root context's
//! tick (`flush`), so a request makes no host call for them; Envoy's figures
//! trail by at most a tick.
//!
//! Each request ends in exactly one of `requests_augmented`,
//! `requests_without_headers`, `requests_denied` or `requests_held_cancelled`;
//! `requests_held` and the other `requests_held_*` say how waiting went.

use std::cell::Cell;

use proxy_wasm::types::MetricType;

use crate::host;

/// Every metric, in the order of `NAMES`.
#[derive(Clone, Copy)]
pub enum M {
    ProviderCalls,
    FetchesSucceeded,
    FetchesFailed,
    HeadersRefused,
    RequestsAugmented,
    RequestsWithoutHeaders,
    RequestsDenied,
    RequestsHeld,
    RequestsHeldResumed,
    RequestsHeldContinued,
    RequestsHeldDenied,
    RequestsHeldCancelled,
    /// Gauge: how many headers the last good fetch gave.
    HeadersCurrent,
    /// Gauge: seconds since the last good fetch, kept by the poller.
    CacheAgeSeconds,
    /// Gauge: the linear memory of this plugin's VMs, summed over the Envoy.
    WasmMemoryBytes,
}

const NAMES: [&str; 15] = [
    "provider_calls",
    "fetches_succeeded",
    "fetches_failed",
    "headers_refused",
    "requests_augmented",
    "requests_without_headers",
    "requests_denied",
    "requests_held",
    "requests_held_resumed",
    "requests_held_continued",
    "requests_held_denied",
    "requests_held_cancelled",
    "headers_current",
    "cache_age_seconds",
    "wasm_memory_bytes",
];

/// The first gauge in `NAMES`; all before it are counters.
const FIRST_GAUGE: usize = M::HeadersCurrent as usize;

/// The host's ids for the metrics (a metric that could not be defined is a
/// no-op), and the counts not yet added to Envoy's counters.
pub struct Metrics {
    ids: [Option<u32>; NAMES.len()],
    unflushed: [Cell<u64>; FIRST_GAUGE],
}

impl Metrics {
    pub fn define(plugin: &str) -> Metrics {
        let prefix = crate::text::line(&["header_augmenter.", &stat_safe(plugin), "."]);
        let mut ids = [None; NAMES.len()];
        for (i, (id, name)) in ids.iter_mut().zip(NAMES).enumerate() {
            let kind = if i < FIRST_GAUGE {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            *id = host::define_metric(kind, &crate::text::line(&[&prefix, name]));
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
    pub fn flush(&self) {
        for (count, id) in self.unflushed.iter().zip(self.ids) {
            let n = count.replace(0);
            if let (Some(id), true) = (id, n > 0) {
                host::increment_metric(id, n.min(i64::MAX as u64) as i64);
            }
        }
    }

    /// Moves a gauge by `delta` at once: for a gauge every VM adds its share to.
    pub fn adjust(&self, m: M, delta: i64) {
        if let (Some(id), true) = (self.id(m), delta != 0) {
            host::increment_metric(id, delta);
        }
    }

    /// Sets a gauge.
    pub fn set(&self, m: M, value: u64) {
        if let Some(id) = self.id(m) {
            host::record_metric(id, value);
        }
    }
}

/// The plugin name as one stat name element: dots would split it in two.
fn stat_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "default".into()
    } else {
        safe
    }
}
