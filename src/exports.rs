//! What Envoy calls in this module, and why so little.
//!
//! Envoy calls into the VM for every stream, once per callback the module
//! exports, and each call costs about a microsecond, more than everything the
//! filter does for a request. The proxy-wasm SDK exports them all and keeps an
//! object per stream, which takes three calls per request (create, request
//! headers, delete) plus any response callback. This module exports, on the
//! request path, only `proxy_on_request_headers`, and
//! `proxy_on_response_headers` in the build with the response target:
//!
//! - the functions below are exported under the names Envoy looks up
//!   (scripts/build.sh renames them and drops the SDK's own);
//! - `proxy_on_context_create` is not exported at all, so Envoy calls nothing
//!   when a stream starts; a root context is created in the SDK when its first
//!   callback, `on_configure`, arrives, and from then on the SDK's dispatcher
//!   serves the root contexts (timer, provider calls) as usual;
//! - a stream keeps no state in the VM, so there is nothing to delete.

use std::cell::RefCell;

use proxy_wasm::types::Action;

use crate::http;

extern "C" {
    /// The SDK's own callbacks, called as the host would call them.
    #[link_name = "proxy_on_context_create"]
    fn sdk_on_context_create(context_id: u32, root_context_id: u32);
    #[link_name = "proxy_on_configure"]
    fn sdk_on_configure(context_id: u32, plugin_configuration_size: usize) -> bool;
}

thread_local! {
    /// The root contexts created in the SDK so far.
    static ROOTS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Exported as `proxy_on_configure`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_configure(
    root_context_id: u32,
    configuration_size: usize,
) -> bool {
    let created = ROOTS.with(|roots| {
        let mut roots = roots.borrow_mut();
        let known = roots.contains(&root_context_id);
        if !known {
            roots.push(root_context_id);
        }
        known
    });
    // SAFETY: the SDK's exports, called in the order the host would call them.
    unsafe {
        if !created {
            sdk_on_context_create(root_context_id, 0);
        }
        sdk_on_configure(root_context_id, configuration_size)
    }
}

/// Exported as `proxy_on_request_headers`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_request_headers(
    context_id: u32,
    _headers: usize,
    _eos: bool,
) -> Action {
    http::on_request_headers(context_id)
}

/// Exported as `proxy_on_response_headers`, only in the build with the
/// response target: every other build spares Envoy this call per request.
#[cfg(feature = "response-target")]
#[no_mangle]
pub extern "C" fn header_augmenter_on_response_headers(
    context_id: u32,
    _headers: usize,
    _eos: bool,
) -> Action {
    http::on_response_headers(context_id)
}
