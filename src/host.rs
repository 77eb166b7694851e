//! Every call the filter makes to Envoy, as plain functions that never panic.
//!
//! The proxy-wasm SDK's own wrappers (`proxy_wasm::hostcalls`) panic on any
//! status they do not expect, and Envoy does return such statuses: reading a
//! provider call's response headers after the call was reset answers
//! `BadArgument`. A panic traps the VM, and a trapped VM stops filtering. So
//! the filter declares the ABI's imports itself and treats every status but
//! `Ok` as "no result".
//!
//! Buffers the host returns were allocated through the module's `malloc`
//! (the SDK's, which allocates exactly the size asked for), so a `Vec` takes
//! ownership of them.

use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream: *const u8,
        upstream_size: usize,
        headers: *const u8,
        headers_size: usize,
        body: *const u8,
        body_size: usize,
        trailers: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
}

const OK: u32 = Status::Ok as u32;

// SAFETY (for every `unsafe` block below): the pointers passed point into
// live Rust values for the duration of the call, with their true lengths; the
// host writes only through the out-pointers given, each to a local.

/// Takes ownership of a buffer the host allocated with the module's `malloc`.
fn owned(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    match (status, data.is_null()) {
        (OK, false) => Some(unsafe { Vec::from_raw_parts(data, size, size) }),
        (OK, true) => Some(Vec::new()),
        _ => None,
    }
}

pub fn log(level: LogLevel, line: &str) {
    unsafe { proxy_log(level as u32, line.as_ptr(), line.len()) };
}

/// Whether Envoy would print a line at `level`, so a caller can skip building it.
pub fn log_enabled(level: LogLevel) -> bool {
    let mut current = 0;
    let status = unsafe { proxy_get_log_level(&mut current) };
    status != OK || current <= level as u32
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub fn now_ms() -> u64 {
    let mut nanos = 0;
    unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    nanos / 1_000_000
}

/// Arms the current root context's timer to fire every `ms` (at least 1 ms:
/// 0 would stop it). From a stream, it is the stream's root context's timer.
pub fn set_tick(ms: u64) {
    let ms = ms.clamp(1, u64::from(u32::MAX)) as u32;
    unsafe { proxy_set_tick_period_milliseconds(ms) };
}

/// `max` bytes of a host buffer from `start`.
pub fn buffer(kind: BufferType, start: usize, max: usize) -> Option<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0);
    let status = unsafe { proxy_get_buffer_bytes(kind as u32, start, max, &mut data, &mut size) };
    owned(status, data, size)
}

/// One header's value; `None` if absent or the map is not available.
pub fn header(map: MapType, name: &str) -> Option<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0);
    let status = unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), &mut data, &mut size)
    };
    owned(status, data, size)
}

/// Sets a header, replacing any value it has.
pub fn replace_header(map: MapType, name: &str, value: &str) {
    unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    };
}

/// Adds a header value beside any it has.
pub fn add_header(map: MapType, name: &str, value: &str) {
    unsafe {
        proxy_add_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    };
}

/// A property of the current context, by its one-element path (e.g. `plugin_name`).
pub fn property(name: &str) -> Option<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0);
    let status = unsafe { proxy_get_property(name.as_ptr(), name.len(), &mut data, &mut size) };
    owned(status, data, size)
}

/// A shared-data value and its CAS; `(None, None)` if absent.
pub fn shared_data(key: &str) -> (Option<Vec<u8>>, Option<u32>) {
    let (mut data, mut size, mut cas) = (std::ptr::null_mut(), 0, 0);
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match owned(status, data, size) {
        Some(value) => (Some(value), (cas != 0).then_some(cas)),
        None => (None, None),
    }
}

/// Writes a shared-data value, if its CAS is still `cas` (any, with `None`).
/// Creating a key succeeds whatever `cas` says. False on a CAS mismatch.
pub fn set_shared_data(key: &str, value: &[u8], cas: Option<u32>) -> bool {
    let status = unsafe {
        proxy_set_shared_data(
            key.as_ptr(),
            key.len(),
            value.as_ptr(),
            value.len(),
            cas.unwrap_or(0),
        )
    };
    status == OK
}

/// Starts an HTTP call through an Envoy cluster; its token, or `None` if
/// Envoy refused to start it (an unknown cluster, say).
pub fn http_call(cluster: &str, headers: &[(&str, &str)], timeout_ms: u64) -> Option<u32> {
    let headers = serialize(headers);
    let timeout = timeout_ms.min(u64::from(u32::MAX)) as u32;
    let mut token = 0;
    let status = unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            timeout,
            &mut token,
        )
    };
    (status == OK).then_some(token)
}

/// Answers the current request locally.
pub fn send_response(status: u32, headers: &[(&str, &str)], body: &str) {
    let headers = serialize(headers);
    unsafe {
        proxy_send_local_response(
            status,
            std::ptr::null(),
            0,
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    };
}

/// Lets the current request go on after a pause.
pub fn resume_request() {
    unsafe { proxy_continue_stream(StreamType::HttpRequest as u32) };
}

/// Makes the context `id` the one later host calls act on; false if it is gone.
pub fn set_effective_context(id: u32) -> bool {
    unsafe { proxy_set_effective_context(id) == OK }
}

pub fn define_metric(kind: MetricType, name: &str) -> Option<u32> {
    let mut id = 0;
    let status = unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment_metric(id: u32, offset: i64) {
    unsafe { proxy_increment_metric(id, offset) };
}

pub fn record_metric(id: u32, value: u64) {
    unsafe { proxy_record_metric(id, value) };
}

/// A header map in the ABI's layout: the count, each name's and value's
/// length, then each name and value followed by a NUL.
fn serialize(headers: &[(&str, &str)]) -> Vec<u8> {
    let size: usize = 4 + headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 10)
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}
