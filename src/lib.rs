//! header-augmenter: a proxy-wasm HTTP filter that adds headers fetched from
//! a header-providing service to every request.
//!
//! Two halves, and dependencies run one way, shim to core:
//! - `filter/`, the host-free core: every decision, over the `Host` trait,
//!   compiled everywhere and unit-tested on the host with a fake host;
//! - `shim/`, only in the `.wasm`: the ABI's imports, one `impl Host`, and
//!   the exports. From the proxy-wasm crate it uses the ABI's types and its
//!   `malloc` and ABI-version exports; the callbacks and host calls are its own.

pub mod filter;
#[cfg(target_arch = "wasm32")]
mod shim;

// The core's parsers at the crate root, for the fuzz targets and the tests.
#[cfg(any(test, feature = "fuzzing"))]
pub use filter::invariants;
pub use filter::{
    config, duration, headers, json, provider, random, schedule, store, structpb, text,
};

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
