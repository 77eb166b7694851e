//! header-augmenter: a proxy-wasm HTTP filter that adds headers fetched from
//! a header-providing service to every request.
//!
//! The pure core (parsing, validation, scheduling) compiles everywhere and is
//! unit-tested on the host; the host adapter (exports, host calls, contexts,
//! logging, metrics) exists only in the `.wasm`. From the proxy-wasm crate it
//! uses the ABI's types and its `malloc` and ABI-version exports; the
//! callbacks and host calls are its own (exports.rs and host.rs say why).
//!
//! ```text
//! provider body --provider::judge--> HeaderSet --encode--> shared data
//!     --(each VM, when the CAS changes) decode--> per-VM cache --http--> request
//! ```

pub mod config;
pub mod duration;
pub mod headers;
pub mod json;
pub mod policy;
pub mod provider;
pub mod random;
pub mod schedule;
pub mod store;
pub mod structpb;
pub mod text;

#[cfg(any(test, feature = "fuzzing"))]
pub mod invariants;

#[cfg(target_arch = "wasm32")]
mod exports;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod logging;
#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod plugin;
#[cfg(target_arch = "wasm32")]
mod root;

#[cfg(all(target_arch = "wasm32", feature = "wee_alloc"))]
#[global_allocator]
static ALLOCATOR: wee_alloc::WeeAlloc = wee_alloc::WeeAlloc::INIT;

#[cfg(all(target_arch = "wasm32", feature = "lol_alloc"))]
#[global_allocator]
// SAFETY: a proxy-wasm VM is single-threaded.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(all(target_arch = "wasm32", feature = "talc"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
