//! The host-free core: every decision the filter makes, in plain Rust over
//! the `Host` trait (host.rs), unit-tested on the host with a fake
//! (fake.rs). Nothing here knows the proxy-wasm ABI.
//!
//! ```text
//! provider answer --provider::judge--> HeaderSet --poller: publish--> shared data
//!   --(each VM, when the CAS changes) copy::sync, validated again--> this VM's copy
//!   --vm: which plugin is this stream's--> policy --request--> headers on the request
//! ```

pub mod config;
pub mod copy;
pub mod destination;
pub mod duration;
pub mod environ;
pub mod form;
pub mod headers;
pub mod held;
pub mod host;
pub mod json;
pub mod metrics;
pub mod plugin;
pub mod policy;
pub mod poller;
pub mod provider;
pub mod random;
pub mod report;
pub mod request;
pub mod schedule;
pub mod source;
pub mod store;
pub mod structpb;
pub mod text;
pub mod token;
pub mod vm;

#[cfg(any(test, feature = "fuzzing"))]
pub mod invariants;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod oauth2_tests;
#[cfg(test)]
mod providers_tests;
#[cfg(test)]
mod vm_tests;
