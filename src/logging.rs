//! Log lines to Envoy's `wasm` log component, without the `log` crate's
//! formatting machinery. Envoy prefixes each line with the plugin's name.
//!
//! Header values from the provider are credentials: no function here is ever
//! given one. Lines carry header names, counts, durations and reasons only.

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;

pub fn error(line: &str) {
    let _ = hostcalls::log(LogLevel::Error, line);
}

pub fn warn(line: &str) {
    let _ = hostcalls::log(LogLevel::Warn, line);
}

pub fn info(line: &str) {
    let _ = hostcalls::log(LogLevel::Info, line);
}

pub fn debug(line: &str) {
    let _ = hostcalls::log(LogLevel::Debug, line);
}

/// Whether Envoy would print a line at `level`, so a caller can skip building it.
pub fn enabled(level: LogLevel) -> bool {
    hostcalls::get_log_level().map_or(true, |current| current as u32 <= level as u32)
}
