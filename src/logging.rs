//! Log lines to Envoy's `wasm` log component, without the `log` crate's
//! formatting machinery. Envoy prefixes each line with the plugin's name.
//!
//! Header values from the provider are credentials: no function here is ever
//! given one. Lines carry header names, counts, durations and reasons only.

use proxy_wasm::types::LogLevel;

use crate::host;

pub fn error(line: &str) {
    host::log(LogLevel::Error, line);
}

pub fn warn(line: &str) {
    host::log(LogLevel::Warn, line);
}

pub fn info(line: &str) {
    host::log(LogLevel::Info, line);
}

pub fn debug(line: &str) {
    host::log(LogLevel::Debug, line);
}

/// Whether Envoy would print a line at `level`, so a caller can skip building it.
pub fn enabled(level: LogLevel) -> bool {
    host::log_enabled(level)
}
