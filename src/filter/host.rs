//! The one way the core talks to Envoy. The shim (src/shim/) implements it
//! over the proxy-wasm ABI; the tests implement it with a scripted fake
//! (src/filter/fake.rs). Nothing in the core calls the ABI directly, so every
//! decision is tested on the host.
//!
//! Calls act on the *effective* context, as the ABI's do: the context of the
//! callback in progress, or the one `set_effective_context` chose since.

/// A header map of the effective context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    Request,
    Response,
    /// The response headers of the provider call that just ended.
    CallResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// Why Envoy refused to start a call (proxy-wasm statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallError {
    /// `BadArgument`: no such cluster (the call's own headers are always complete).
    UnknownCluster,
    /// `InternalFailure`: the cluster exists, but Envoy could not send the
    /// request: no healthy upstream, or its circuit breaker is open.
    NotSent,
}

/// What a stream callback returns to Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Continue,
    /// Stop the stream: it is held, or answered locally.
    Pause,
}

pub trait Host {
    /// Envoy's monotonic clock, in milliseconds: every duration is measured on it.
    fn monotonic_ms(&self) -> u64;
    /// The wall clock (ms since the Unix epoch): only for ages that people read.
    fn wall_ms(&self) -> u64;

    /// A shared-data value and its CAS; `(None, None)` if absent.
    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Writes a value if its CAS is still `cas` (any, with `None`); false on a mismatch.
    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool;

    /// Starts a call through an Envoy cluster; its token.
    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, CallError>;
    /// Up to `size` bytes of the body of the provider call that just ended.
    fn call_response_body(&self, size: usize) -> Option<Vec<u8>>;

    fn header(&self, map: Map, name: &str) -> Option<Vec<u8>>;
    fn replace_header(&self, map: Map, name: &str, value: &str);
    fn add_header(&self, map: Map, name: &str, value: &str);
    /// Answers the effective stream locally.
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &str);
    /// Lets the effective stream go on after a pause.
    fn resume_request(&self);
    /// Makes `id` the effective context; false if that context is gone.
    fn set_effective_context(&self, id: u32) -> bool;
    /// Arms the timer of the effective context's root context; 0 stops it.
    fn set_tick(&self, ms: u32);
    /// A property of the effective context by its one-element path, e.g. `plugin_name`.
    fn property(&self, name: &str) -> Option<Vec<u8>>;
    /// The plugin configuration given to `proxy_on_configure`.
    fn plugin_configuration(&self, size: usize) -> Option<Vec<u8>>;
    /// The VM's environment variables, WASI's buffer: `NAME=value`, each
    /// ended by a NUL (environ.rs reads it).
    fn environment(&self) -> Vec<u8>;

    fn log(&self, level: Level, line: &str);
    /// Whether Envoy would print a line at `level`, so a caller can skip building it.
    fn log_enabled(&self, level: Level) -> bool;

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32>;
    fn increment_metric(&self, id: u32, offset: i64);
    fn record_metric(&self, id: u32, value: u64);

    /// The VM's linear memory in bytes.
    fn memory_bytes(&self) -> u64;
}
