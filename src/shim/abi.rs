//! The proxy-wasm ABI's imports, and the core's `Host` over them. Every call
//! the filter makes to Envoy passes here, and none of them panics.
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

use proxy_wasm::types::{BufferType, MapType, MetricType, Status, StreamType};

use crate::filter::host::{CallError, Host, Level, Map, MetricKind};

// Envoy's clocks, through WASI: the monotonic one (id 1) is the only one
// proxy-wasm offers; `proxy_get_current_time_nanoseconds` is the wall clock.
// And the VM's environment variables (`vm_config.environment_variables`).
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(clock_id: u32, precision: u64, time: *mut u64) -> u16;
    fn environ_sizes_get(count: *mut usize, size: *mut usize) -> u16;
    fn environ_get(pointers: *mut *mut u8, buffer: *mut u8) -> u16;
}

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
const MONOTONIC: u32 = 1;

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

fn map_type(map: Map) -> u32 {
    (match map {
        Map::Request => MapType::HttpRequestHeaders,
        Map::Response => MapType::HttpResponseHeaders,
        Map::CallResponse => MapType::HttpCallResponseHeaders,
    }) as u32
}

fn buffer(kind: BufferType, max: usize) -> Option<Vec<u8>> {
    let (mut data, mut size) = (std::ptr::null_mut(), 0);
    let status = unsafe { proxy_get_buffer_bytes(kind as u32, 0, max, &mut data, &mut size) };
    owned(status, data, size)
}

/// The host: this VM's Envoy, through the ABI.
pub struct Abi;

impl Host for Abi {
    fn monotonic_ms(&self) -> u64 {
        let mut nanos = 0;
        unsafe { clock_time_get(MONOTONIC, 0, &mut nanos) };
        nanos / 1_000_000
    }

    fn wall_ms(&self) -> u64 {
        let mut nanos = 0;
        unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
        nanos / 1_000_000
    }

    fn shared_data(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
        let (mut data, mut size, mut cas) = (std::ptr::null_mut(), 0, 0);
        let status = unsafe {
            proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas)
        };
        match owned(status, data, size) {
            Some(value) => (Some(value), (cas != 0).then_some(cas)),
            None => (None, None),
        }
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
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

    fn http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u32,
    ) -> Result<u32, CallError> {
        let headers = serialize(headers);
        let mut token = 0;
        let status = unsafe {
            proxy_http_call(
                cluster.as_ptr(),
                cluster.len(),
                headers.as_ptr(),
                headers.len(),
                body.as_ptr(),
                body.len(),
                std::ptr::null(),
                0,
                timeout_ms,
                &mut token,
            )
        };
        match status {
            OK => Ok(token),
            s if s == Status::InternalFailure as u32 => Err(CallError::NotSent),
            _ => Err(CallError::UnknownCluster),
        }
    }

    fn call_response_body(&self, size: usize) -> Option<Vec<u8>> {
        buffer(BufferType::HttpCallResponseBody, size)
    }

    fn header(&self, map: Map, name: &str) -> Option<Vec<u8>> {
        let (mut data, mut size) = (std::ptr::null_mut(), 0);
        let status = unsafe {
            proxy_get_header_map_value(
                map_type(map),
                name.as_ptr(),
                name.len(),
                &mut data,
                &mut size,
            )
        };
        owned(status, data, size)
    }

    fn replace_header(&self, map: Map, name: &str, value: &str) {
        unsafe {
            proxy_replace_header_map_value(
                map_type(map),
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            )
        };
    }

    fn add_header(&self, map: Map, name: &str, value: &str) {
        unsafe {
            proxy_add_header_map_value(
                map_type(map),
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            )
        };
    }

    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &str) {
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

    fn resume_request(&self) {
        unsafe { proxy_continue_stream(StreamType::HttpRequest as u32) };
    }

    fn set_effective_context(&self, id: u32) -> bool {
        unsafe { proxy_set_effective_context(id) == OK }
    }

    fn set_tick(&self, ms: u32) {
        unsafe { proxy_set_tick_period_milliseconds(ms) };
    }

    fn property(&self, name: &str) -> Option<Vec<u8>> {
        let (mut data, mut size) = (std::ptr::null_mut(), 0);
        let status = unsafe { proxy_get_property(name.as_ptr(), name.len(), &mut data, &mut size) };
        owned(status, data, size)
    }

    fn plugin_configuration(&self, size: usize) -> Option<Vec<u8>> {
        buffer(BufferType::PluginConfiguration, size)
    }

    fn environment(&self) -> Vec<u8> {
        let (mut count, mut size) = (0, 0);
        if unsafe { environ_sizes_get(&mut count, &mut size) } != 0 || count == 0 {
            return Vec::new();
        }
        // The host writes a pointer per variable, then the strings, NUL-ended:
        // one buffer for both, the pointers first, zeroed after, which the
        // reader (environ.rs) skips as empty entries.
        let pointers = count * std::mem::size_of::<*mut u8>();
        let mut buffer = vec![0u8; pointers + size];
        let base = buffer.as_mut_ptr();
        if unsafe { environ_get(base.cast(), base.wrapping_add(pointers)) } != 0 {
            return Vec::new();
        }
        if let Some(area) = buffer.get_mut(..pointers) {
            area.fill(0);
        }
        buffer
    }

    fn log(&self, level: Level, line: &str) {
        unsafe { proxy_log(level as u32, line.as_ptr(), line.len()) };
    }

    fn log_enabled(&self, level: Level) -> bool {
        let mut current = 0;
        let status = unsafe { proxy_get_log_level(&mut current) };
        status != OK || current <= level as u32
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
        };
        let mut id = 0;
        let status =
            unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) };
        (status == OK).then_some(id)
    }

    fn increment_metric(&self, id: u32, offset: i64) {
        unsafe { proxy_increment_metric(id, offset) };
    }

    fn record_metric(&self, id: u32, value: u64) {
        unsafe { proxy_record_metric(id, value) };
    }

    fn memory_bytes(&self) -> u64 {
        core::arch::wasm32::memory_size(0) as u64 * 65_536
    }
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
