//! The poller: exactly one VM of an Envoy calls a plugin's provider.
//!
//! Every VM's driving root context, on its tick:
//! - keeps or seeks the poller lease in shared data; if the holder's VM goes
//!   away the lease lapses (`LEASE_MS`) and another VM takes over;
//! - as the poller, calls the provider on the schedule, judges each answer,
//!   publishes the record and reports its outcome in the lease.
//!
//! All times are Envoy's monotonic clock: stepping the wall clock moves none
//! of them.

use super::host::{CallError, Host, Level, Map};
use super::metrics::M;
use super::provider::{self, Accepted, Failure};
use super::random::Rng;
use super::report;
use super::schedule::{Schedule, Timing};
use super::source::Source;
use super::store::{Lease, Record};
use super::text::{push_duration, push_u64};

/// How long a lease lasts unless renewed. The poller renews it every tick
/// (at least every `TICK_MAX_MS`), so it lapses only when its VM is gone.
pub const LEASE_MS: u64 = 3_000;
/// How long past its timeout a call may stay unanswered before the poller
/// gives up on it. Envoy always answers by the timeout; this guards the schedule.
pub const WATCHDOG_GRACE_MS: u64 = 1_000;
/// Longest timeout Envoy takes: it reads the call's timeout as an `int` of milliseconds.
pub const MAX_CALL_TIMEOUT_MS: u64 = i32::MAX as u64;

pub struct Poller {
    /// Present while this VM holds the lease.
    holding: Option<Holding>,
    rng: Rng,
    /// Whether the last fetch failed, so a recovery is logged once.
    failing: bool,
    /// The last refused-headers line logged as a warning: a provider that keeps
    /// sending the same bad header is reported once, then at debug level.
    refused_line: String,
    /// A lease that does not decode (someone else wrote it) counts as held;
    /// it lapses like any lease once its CAS stays put for `LEASE_MS`.
    foreign: Option<(u32, u64)>,
}

struct Holding {
    /// The CAS of this VM's last write of the lease: while it is current, the lease is ours.
    lease_cas: u32,
    schedule: Schedule,
    next_fetch_ms: u64,
    call: Option<Call>,
}

/// The provider call in flight.
#[derive(Clone, Copy)]
struct Call {
    token: u32,
    started_ms: u64,
    /// The root context that made it: Envoy cancels the call, without an
    /// answer, if that root context is destroyed.
    root: u32,
}

impl Poller {
    pub fn new(seed: u64) -> Poller {
        Poller {
            holding: None,
            rng: Rng::new(seed),
            failing: false,
            refused_line: String::new(),
            foreign: None,
        }
    }

    pub fn is_polling(&self) -> bool {
        self.holding.is_some()
    }

    /// New timings from a reconfiguration: the backoff goes on, and a refresh
    /// due later than the new interval allows comes sooner.
    pub fn retime(&mut self, timing: Timing, now: u64) {
        if let Some(h) = self.holding.as_mut() {
            h.schedule = Schedule::resume(timing, h.schedule.failures());
            h.next_fetch_ms = h.next_fetch_ms.min(now.saturating_add(timing.refresh_ms));
        }
    }

    /// When this VM next needs its tick for the poller: a call's watchdog or the next fetch.
    pub fn due_ms(&self, timeout_ms: u64) -> Option<u64> {
        let h = self.holding.as_ref()?;
        Some(match h.call {
            Some(call) => call.started_ms + timeout_ms + WATCHDOG_GRACE_MS,
            None => h.next_fetch_ms,
        })
    }

    /// Forgets the call in flight if root context `gone` made it (Envoy
    /// cancelled it, and will never answer): no failure, and a new call at once.
    pub fn forget_call_of(&mut self, gone: u32, now: u64) {
        if let Some(h) = self.holding.as_mut() {
            if h.call.is_some_and(|c| c.root == gone) {
                h.call = None;
                h.next_fetch_ms = now;
            }
        }
    }

    /// Whether `token` is the call in flight.
    pub fn awaits(&self, token: u32) -> bool {
        self.holding
            .as_ref()
            .and_then(|h| h.call)
            .is_some_and(|c| c.token == token)
    }
}

/// The poller's share of a tick: the lease, then a due call or a lost one.
/// `root` is the root context whose tick this is.
pub fn tick(source: &mut Source, host: &impl Host, now: u64, root: u32) {
    keep_lease(source, host, now);
    let timeout_ms = source.config.timeout_ms;
    let Some(h) = source.poller.holding.as_mut() else {
        return;
    };
    match h.call {
        Some(call) if now >= call.started_ms + timeout_ms + WATCHDOG_GRACE_MS => {
            h.call = None;
            failed(source, host, Failure::TimedOut { timeout_ms }, now);
        }
        None if now >= h.next_fetch_ms => fetch(source, host, now, root),
        _ => {}
    }
    if source.poller.is_polling() {
        if let Some(r) = source.copy.record() {
            let age_s = host.wall_ms().saturating_sub(r.fetched_at_wall_ms) / 1000;
            source.metrics.set(host, M::CacheAgeSeconds, age_s);
        }
    }
}

/// Renews the lease this VM holds, notices it was lost, or takes a lapsed one.
fn keep_lease(source: &mut Source, host: &impl Host, now: u64) {
    let (lease, cas) = source.lease(host);
    let Some(cas) = cas else {
        source.ensure_lease(host); // never expected after on_configure; taken next tick
        return;
    };
    if let Some(h) = source.poller.holding.as_ref() {
        let renewed = Lease {
            until_ms: now + LEASE_MS,
            failures: h.schedule.failures(),
        };
        let ours = cas == h.lease_cas;
        match ours.then(|| source.write_lease(host, renewed, Some(cas))) {
            Some(Some(new_cas)) => {
                if let Some(h) = source.poller.holding.as_mut() {
                    h.lease_cas = new_cas;
                }
            }
            _ => {
                source.log(
                    host,
                    Level::Info,
                    "another VM of this Envoy took over polling the provider",
                );
                source.poller.holding = None;
            }
        }
        return;
    }
    let lease = match lease {
        Some(lease) => {
            source.poller.foreign = None;
            lease
        }
        None => match source.poller.foreign {
            // Unreadable, and unchanged for a whole lease: nobody renews it.
            Some((seen, since)) if seen == cas && now >= since + LEASE_MS => Lease::VACANT,
            Some((seen, _)) if seen == cas => return,
            _ => {
                source.poller.foreign = Some((cas, now));
                return;
            }
        },
    };
    if !lease.lapsed(now) {
        return;
    }
    let taken = Lease {
        until_ms: now + LEASE_MS,
        failures: lease.failures,
    };
    let Some(lease_cas) = source.write_lease(host, taken, Some(cas)) else {
        return; // another VM took it first
    };
    if lease != Lease::VACANT {
        source.log(
            host,
            Level::Info,
            "took over polling the provider: the previous poller's lease lapsed",
        );
    }
    // Continue the schedule where the record says it stands (no later than
    // one interval from now: the record's times are shared data too).
    let latest = now.saturating_add(source.config.refresh_ms);
    let refresh_at = source
        .copy
        .record()
        .map_or(now, |r| r.refresh_at_ms.min(latest));
    source.poller.holding = Some(Holding {
        lease_cas,
        schedule: Schedule::resume(source.config.timing(), lease.failures),
        next_fetch_ms: refresh_at.max(now),
        call: None,
    });
}

fn fetch(source: &mut Source, host: &impl Host, now: u64, root: u32) {
    let config = &source.config;
    let method = match config.oauth2 {
        Some(_) => "POST",
        None => "GET",
    };
    let mut headers = vec![
        (":method", method),
        (":path", config.provider.path.as_str()),
        (":authority", config.provider.authority.as_str()),
        ("accept", "application/json"),
    ];
    let mut body = &[][..];
    if let Some(o) = &config.oauth2 {
        // The token request: its body and Basic credentials hold the secret.
        headers.push(("content-type", "application/x-www-form-urlencoded"));
        if let Some(basic) = &o.basic {
            headers.push(("authorization", basic));
        }
        body = o.body.as_bytes();
    }
    source.metrics.inc(M::ProviderCalls);
    let timeout = config.timeout_ms.min(MAX_CALL_TIMEOUT_MS) as u32;
    match host.http_call(&config.provider.cluster, &headers, body, timeout) {
        Ok(token) => {
            if let Some(h) = source.poller.holding.as_mut() {
                h.call = Some(Call {
                    token,
                    started_ms: now,
                    root,
                });
            }
        }
        Err(error) => {
            let (metric, cluster) = match error {
                CallError::UnknownCluster => {
                    (M::CallsUnknownCluster, config.provider.cluster.clone())
                }
                CallError::NotSent => (M::CallsNotSent, config.provider.cluster.clone()),
            };
            source.metrics.inc(metric);
            failed(source, host, Failure::NotStarted { error, cluster }, now);
        }
    }
}

/// The provider call `token` ended: judge the answer, publish or back off.
/// False if it was not this plugin's call in flight.
pub fn on_response(source: &mut Source, host: &impl Host, token: u32, body_size: usize) -> bool {
    let Some(h) = source.poller.holding.as_mut() else {
        return false;
    };
    let Some(call) = h.call.filter(|c| c.token == token) else {
        return false;
    };
    h.call = None;
    let now = host.monotonic_ms();
    let header = |name| host.header(Map::CallResponse, name);
    let read_body = || host.call_response_body(body_size);
    let status = header(":status");
    let oauth2 = source.config.oauth2.as_ref();
    let judged = provider::judge(status.as_deref(), body_size, read_body, oauth2);
    match judged {
        Ok((accepted, expires_in)) => {
            // A token's lifetime is its `expires_in`; a provider's, its
            // `Cache-Control` (a token endpoint's says `no-store`).
            let lifetime_s = expires_in.or_else(|| {
                if oauth2.is_some() {
                    return None;
                }
                let cache_control = header("cache-control")?;
                provider::lifetime_s(&cache_control, header("age").as_deref())
            });
            succeeded(source, host, accepted, lifetime_s, now)
        }
        Err(failure) => {
            let failure = explain(failure, call, now, source.config.timeout_ms);
            failed(source, host, failure, now);
        }
    }
    true
}

fn succeeded(
    source: &mut Source,
    host: &impl Host,
    accepted: Accepted,
    lifetime_s: Option<u64>,
    now: u64,
) {
    let Some(h) = source.poller.holding.as_mut() else {
        return;
    };
    let fresh = h
        .schedule
        .succeeded(now, lifetime_s, &mut source.poller.rng);
    h.next_fetch_ms = fresh.refresh_at_ms;
    report_refused(source, host, &accepted.refused);
    let changed = source
        .copy
        .record()
        .is_none_or(|r| !r.set.names().eq(accepted.set.names()));
    let mut text = String::from("fetched ");
    report::push_set(&mut text, &accepted.set);
    if let Some(s) = lifetime_s {
        text.push_str(match source.config.oauth2 {
            Some(_) => ", expires_in ",
            None => ", max-age ",
        });
        push_u64(&mut text, s);
        text.push('s');
    }
    text.push_str("; next refresh in ");
    push_duration(&mut text, fresh.refresh_at_ms - now);
    source
        .metrics
        .set(host, M::HeadersCurrent, accepted.set.len() as u64);
    source.metrics.set(host, M::CacheAgeSeconds, 0);
    let record = Record {
        fetched_at_ms: now,
        expires_at_ms: fresh.expires_at_ms,
        refresh_at_ms: fresh.refresh_at_ms,
        fetched_at_wall_ms: host.wall_ms(),
        set: accepted.set,
    };
    if !source.publish(host, &record) {
        // Shared data refuses only a CAS mismatch, and none is given here.
        source.log(
            host,
            Level::Error,
            "could not publish the headers to shared data",
        );
    }
    source.sync(host);
    source.metrics.inc(M::FetchesSucceeded);
    report_lease(source, host, now);
    if changed || source.poller.failing {
        source.log(host, Level::Info, &text);
    } else if host.log_enabled(Level::Debug) {
        source.log(host, Level::Debug, &text);
    }
    source.poller.failing = false;
}

/// Counts refused provider headers and logs them by name: as a warning
/// when the list changed, at debug level when a provider keeps sending
/// the same bad headers.
fn report_refused(source: &mut Source, host: &impl Host, refused: &[super::headers::Refused]) {
    source.metrics.add(M::HeadersRefused, refused.len() as u64);
    let refused_line = report::refused(refused);
    if refused_line != source.poller.refused_line {
        if !refused_line.is_empty() {
            source.log(host, Level::Warn, &refused_line);
        }
        source.poller.refused_line = refused_line;
    } else if !refused_line.is_empty() && host.log_enabled(Level::Debug) {
        source.log(host, Level::Debug, &refused_line);
    }
}

fn failed(source: &mut Source, host: &impl Host, failure: Failure, now: u64) {
    if let Failure::AllRefused(refused) = &failure {
        report_refused(source, host, refused);
    }
    let Some(h) = source.poller.holding.as_mut() else {
        return;
    };
    h.next_fetch_ms = h.schedule.failed(now, &mut source.poller.rng);
    let delay = h.next_fetch_ms - now;
    source.metrics.inc(M::FetchesFailed);
    // Let every VM know at once, so requests waiting for a first fetch are released.
    report_lease(source, host, now);
    let mut text = String::from("header fetch failed: ");
    failure.describe(&mut text);
    match source.copy.record() {
        Some(r) => {
            text.push_str("; keeping the last good headers (");
            push_u64(&mut text, r.set.len() as u64);
            text.push_str(", fetched ");
            let ago_s = (now.saturating_sub(r.fetched_at_ms) / 1000).max(1);
            push_duration(&mut text, ago_s * 1000);
            text.push_str(match now > r.expires_at_ms {
                true => " ago, expired)",
                false => " ago)",
            });
        }
        None => text.push_str("; no headers to keep yet"),
    }
    text.push_str("; retrying in ");
    push_duration(&mut text, delay);
    source.log(host, Level::Warn, &text);
    source.poller.failing = true;
}

/// Writes the lease now, with the poller's failure count, renewing it.
fn report_lease(source: &mut Source, host: &impl Host, now: u64) {
    let Some(h) = source.poller.holding.as_ref() else {
        return;
    };
    let lease = Lease {
        until_ms: now + LEASE_MS,
        failures: h.schedule.failures(),
    };
    let written = source.write_lease(host, lease, Some(h.lease_cas));
    match (written, source.poller.holding.as_mut()) {
        (Some(cas), Some(h)) => h.lease_cas = cas,
        _ => source.poller.holding = None, // lost meanwhile; the new poller reports
    }
}

/// A call that ended without a response, or with Envoy's 504, is a timeout
/// when it lasted as long as the timeout allows (10 ms of slack for Envoy's
/// own timer).
fn explain(failure: Failure, call: Call, now: u64, timeout_ms: u64) -> Failure {
    let lasted = now.saturating_sub(call.started_ms);
    match failure {
        Failure::NoResponse | Failure::Status(504) if lasted + 10 >= timeout_ms => {
            Failure::TimedOut { timeout_ms }
        }
        other => other,
    }
}
