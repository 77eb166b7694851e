//! The filter's metrics, defined once per plugin per VM when it is configured.
//! Envoy shows them as `wasmcustom.header_augmenter.<plugin>.<metric>`; every
//! VM of an Envoy adds to the same counters.
//!
//! Each request ends in exactly one of `requests_augmented`,
//! `requests_without_headers`, `requests_denied` or `requests_held_cancelled`;
//! `requests_held` and the other `requests_held_*` say how waiting went.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

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
}

const NAMES: [&str; 14] = [
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
];

/// The first gauge in `NAMES`; all before it are counters.
const FIRST_GAUGE: usize = M::HeadersCurrent as usize;

/// The host's ids for the metrics; a metric that could not be defined is a no-op.
pub struct Metrics([Option<u32>; NAMES.len()]);

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
            *id = hostcalls::define_metric(kind, &crate::text::line(&[&prefix, name])).ok();
        }
        Metrics(ids)
    }

    fn id(&self, m: M) -> Option<u32> {
        self.0.get(m as usize).copied().flatten()
    }

    pub fn add(&self, m: M, n: u64) {
        if let Some(id) = self.id(m) {
            let _ = hostcalls::increment_metric(id, n.min(i64::MAX as u64) as i64);
        }
    }

    pub fn inc(&self, m: M) {
        self.add(m, 1);
    }

    /// Sets a gauge.
    pub fn set(&self, m: M, value: u64) {
        if let Some(id) = self.id(m) {
            let _ = hostcalls::record_metric(id, value);
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
