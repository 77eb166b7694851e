//! What Envoy calls in this module, and why so little.
//!
//! Envoy calls into the VM once per callback the module exports, and on the
//! request path each call costs about a microsecond, more than everything the
//! filter does for a request. The proxy-wasm SDK's dispatcher exports every
//! callback and keeps an object per stream, which takes three calls per
//! request (context create, request headers, delete). So the module has its
//! own, few callbacks (scripts/build.sh exports them under the proxy-wasm
//! names, in place of the SDK's):
//!
//! - on the request path only `proxy_on_request_headers`, and
//!   `proxy_on_response_headers` in the build with the response target;
//! - no `proxy_on_context_create`: a root context is made when its first
//!   callback, `proxy_on_configure`, arrives; a stream keeps no state in the
//!   VM, so there is nothing to create or delete;
//! - the root contexts' timer and provider calls, which the filter serves
//!   itself, through host calls that never panic (host.rs).

use std::cell::RefCell;

use proxy_wasm::types::Action;

use crate::http;
use crate::root::Root;

thread_local! {
    /// This VM's root contexts, by id: one per plugin (root id) in the VM.
    static ROOTS: RefCell<Vec<Root>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on the root context `id`; `make` says whether to create it first.
fn with_root<R>(id: u32, make: bool, f: impl FnOnce(&mut Root) -> R) -> Option<R> {
    ROOTS.with(|roots| {
        let mut roots = roots.try_borrow_mut().ok()?;
        if make && !roots.iter().any(|r| r.id() == id) {
            roots.push(Root::new(id));
        }
        roots.iter_mut().find(|r| r.id() == id).map(f)
    })
}

/// Exported as `proxy_on_configure`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_configure(root_id: u32, configuration_size: usize) -> bool {
    with_root(root_id, true, |root| root.on_configure(configuration_size)).unwrap_or(false)
}

/// Exported as `proxy_on_tick`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_tick(root_id: u32) {
    with_root(root_id, false, Root::on_tick);
}

/// Exported as `proxy_on_http_call_response`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_http_call_response(
    root_id: u32,
    token: u32,
    _headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    with_root(root_id, false, |root| {
        root.on_http_call_response(token, body_size)
    });
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
