//! The schedule's two host facilities: the time in milliseconds and the root
//! context's timer. Direct imports, because the SDK's versions go through
//! `SystemTime` and `Duration`, whose overflow checks bring std's time code and
//! its panic messages into the binary for what is one integer division.

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub fn now_ms() -> u64 {
    let mut nanos: u64 = 0;
    // SAFETY: the host writes one u64 through the pointer, which outlives the call.
    unsafe { proxy_get_current_time_nanoseconds(&mut nanos) };
    nanos / 1_000_000
}

/// Arms the root context's timer to fire every `ms`; 0 would stop it, so the
/// least is 1 ms.
pub fn set_tick(ms: u64) {
    let ms = ms.clamp(1, u64::from(u32::MAX)) as u32;
    // SAFETY: plain integer argument; the status is always Ok for a root context.
    unsafe { proxy_set_tick_period_milliseconds(ms) };
}
