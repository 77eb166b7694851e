//! What Envoy calls in this module, and why so little.
//!
//! Envoy calls into the VM once per callback the module exports, and on the
//! request path each call costs about a microsecond, more than everything the
//! filter does for a request. The proxy-wasm SDK's dispatcher exports every
//! callback and keeps an object per stream, which takes three calls per
//! request (context create, request headers, delete). So the module has its
//! own, few callbacks (scripts/build.sh exports them under the proxy-wasm
//! names, in place of the SDK's; the list is scripts/lib/exports.txt):
//!
//! - on the request path only `proxy_on_request_headers`, and
//!   `proxy_on_response_headers` in the build with the response target;
//! - no `proxy_on_context_create`, `proxy_on_done`, `proxy_on_delete`: a
//!   stream keeps no state in the VM, a plugin is registered by its first
//!   `proxy_on_configure`, and a root context that Envoy destroyed is found
//!   by probing it (src/filter/vm.rs);
//! - the root contexts' timer and provider calls.
//!
//! Each callback hands its arguments to the core (src/filter/vm.rs) with the
//! ABI as its host; no decision is made here.

use std::cell::RefCell;

use proxy_wasm::types::Action;

use super::abi::Abi;
use crate::filter::host::Verdict;
use crate::filter::vm::Vm;

thread_local! {
    static VM: RefCell<Vm> = const { RefCell::new(Vm::new()) };
}

/// Runs `f` on this VM's registry. A callback never re-enters another, so
/// the borrow always succeeds; if it did not, the callback does nothing.
fn with_vm<R>(f: impl FnOnce(&mut Vm) -> R) -> Option<R> {
    VM.with(|vm| vm.try_borrow_mut().ok().map(|mut vm| f(&mut vm)))
}

fn action(verdict: Option<Verdict>) -> Action {
    match verdict {
        Some(Verdict::Pause) => Action::Pause,
        _ => Action::Continue,
    }
}

/// Exported as `proxy_on_configure`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_configure(root_id: u32, configuration_size: usize) -> bool {
    with_vm(|vm| vm.on_configure(&Abi, root_id, configuration_size)).unwrap_or(false)
}

/// Exported as `proxy_on_tick`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_tick(root_id: u32) {
    with_vm(|vm| vm.on_tick(&Abi, root_id));
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
    with_vm(|vm| vm.on_http_call_response(&Abi, root_id, token, body_size));
}

/// Exported as `proxy_on_request_headers`.
#[no_mangle]
pub extern "C" fn header_augmenter_on_request_headers(
    context_id: u32,
    _headers: usize,
    _eos: bool,
) -> Action {
    action(with_vm(|vm| vm.on_request_headers(&Abi, context_id)))
}

/// Exported as `proxy_on_response_headers`, only in the build with the
/// response target: every other build spares Envoy this call per request.
#[cfg(feature = "response-target")]
#[no_mangle]
pub extern "C" fn header_augmenter_on_response_headers(
    _context_id: u32,
    _headers: usize,
    _eos: bool,
) -> Action {
    action(with_vm(|vm| vm.on_response_headers(&Abi)))
}
