//! The filter's metrics, defined once per plugin per VM when it is configured.
//! Envoy shows them as `wasmcustom.header_augmenter.<plugin>.<metric>`.

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

pub struct Metrics {
    pub fetches_succeeded: Metric,
    pub fetches_failed: Metric,
    pub headers_refused: Metric,
    pub requests_augmented: Metric,
    pub requests_without_headers: Metric,
    /// How many headers the current set holds (gauge).
    pub headers_current: Metric,
}

/// A defined metric; one that could not be defined is a silent no-op.
#[derive(Clone, Copy)]
pub struct Metric(Option<u32>);

impl Metric {
    fn define(kind: MetricType, prefix: &str, name: &str) -> Metric {
        let full = crate::text::line(&[prefix, name]);
        Metric(hostcalls::define_metric(kind, &full).ok())
    }

    pub fn add(self, n: u64) {
        if let Some(id) = self.0 {
            let _ = hostcalls::increment_metric(id, n.min(i64::MAX as u64) as i64);
        }
    }

    pub fn inc(self) {
        self.add(1);
    }

    pub fn set(self, value: u64) {
        if let Some(id) = self.0 {
            let _ = hostcalls::record_metric(id, value);
        }
    }
}

impl Metrics {
    pub fn define(plugin: &str) -> Metrics {
        let prefix = crate::text::line(&["header_augmenter.", &stat_safe(plugin), "."]);
        let counter = |name| Metric::define(MetricType::Counter, &prefix, name);
        Metrics {
            fetches_succeeded: counter("fetches_succeeded"),
            fetches_failed: counter("fetches_failed"),
            headers_refused: counter("headers_refused"),
            requests_augmented: counter("requests_augmented"),
            requests_without_headers: counter("requests_without_headers"),
            headers_current: Metric::define(MetricType::Gauge, &prefix, "headers_current"),
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
