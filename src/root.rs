//! The root context, one per plugin per VM. Every VM's root context:
//!
//! - keeps or seeks the poller lease: exactly one VM of an Envoy calls the
//!   provider; if its VM goes away, the lease lapses and another takes over;
//! - as the poller, calls the provider on the schedule, judges each response,
//!   publishes the record and reports its outcome in the lease;
//! - looks at the requests this VM holds, releasing them when headers arrive,
//!   when the policy says so, or when they have waited `wait_timeout`.
//!
//! All of it runs on the root context's timer: every 200 ms at least (bringing
//! this VM's copy of the headers up to date and adding its counts to Envoy's
//! counters), sooner when a call or a refresh is due, every 20 ms while
//! requests are held.

use std::rc::Rc;

use proxy_wasm::types::{BufferType, LogLevel, MapType};

use crate::config::{self, Config};
use crate::headers::{HeaderSet, Refused};
use crate::host::{self, now_ms, set_tick};
use crate::http::{self, carry_out};
use crate::logging;
use crate::metrics::M;
use crate::plugin::{Held, Plugin};
use crate::policy;
use crate::provider::{self, Accepted, Failure};
use crate::random::Rng;
use crate::schedule::Schedule;
use crate::store::{Lease, Record};
use crate::text::{line, push_duration, push_quoted, push_u64};

/// How long a lease lasts unless renewed. The poller renews it every tick
/// (at least every `TICK_MAX_MS`), so it lapses only when its VM is gone.
const LEASE_MS: u64 = 3_000;
/// Longest time between two ticks: how stale this VM's copy of the headers
/// and Envoy's counters may be.
const TICK_MAX_MS: u64 = 200;
/// How often held requests are looked at.
pub const HOLD_POLL_MS: u64 = 20;
/// How long past its timeout a call may stay unanswered before the poller
/// gives up on it. Envoy always answers by the timeout; this guards the schedule.
const WATCHDOG_GRACE_MS: u64 = 1_000;
/// Most refused header names listed in one log line.
const REFUSED_LISTED: usize = 10;

pub struct Root {
    /// This root context's id: the effective context to return to after
    /// acting on a held request.
    id: u32,
    plugin: Option<Rc<Plugin>>,
    held: Rc<Held>,
    /// Present while this VM holds the poller lease.
    poller: Option<Poller>,
    rng: Rng,
    /// Whether the last fetch failed, so a recovery is logged once.
    failing: bool,
    /// The last refused-headers line logged as a warning: a provider that keeps
    /// sending the same bad header is reported once, then at debug level.
    refused_line: String,
    /// This VM's linear memory as last added to the `wasm_memory_bytes` gauge.
    memory_reported: u64,
}

struct Poller {
    /// The CAS of this VM's last write of the lease: while it is current, the
    /// lease is ours.
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
}

impl Root {
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn new(id: u32) -> Root {
        Root {
            id,
            plugin: None,
            held: Rc::default(),
            poller: None,
            rng: Rng::new(now_ms() ^ u64::from(id) << 32),
            failing: false,
            refused_line: String::new(),
            memory_reported: 0,
        }
    }
}

impl Root {
    /// A provider call ended: judge the response, publish or back off.
    pub fn on_http_call_response(&mut self, token: u32, body_size: usize) {
        let Some(plugin) = self.plugin.clone() else {
            return;
        };
        let Some(call) = self
            .poller
            .as_mut()
            .and_then(|p| p.call.filter(|c| c.token == token))
        else {
            return; // a call made before a reconfiguration, or by a lease since lost
        };
        if let Some(p) = self.poller.as_mut() {
            p.call = None;
        }
        let header = |name| host::header(MapType::HttpCallResponseHeaders, name);
        let read_body = || host::buffer(BufferType::HttpCallResponseBody, 0, body_size);
        let now = now_ms();
        match provider::judge(header(":status").as_deref(), body_size, read_body) {
            Ok(accepted) => {
                let max_age = header("cache-control")
                    .as_deref()
                    .and_then(provider::max_age);
                self.succeeded(&plugin, accepted, max_age, now);
            }
            Err(failure) => {
                let failure = explain(failure, call, now, plugin.config.timeout_ms);
                self.failed(&plugin, failure, now);
            }
        }
        self.serve_held(&plugin, now);
        self.arm_timer(now);
    }

    /// The plugin's configuration, new or changed: false (and one error line)
    /// if it is invalid, which fails the plugin.
    pub fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match size {
            0 => None,
            _ => host::buffer(BufferType::PluginConfiguration, 0, size),
        };
        let config = match config::parse(bytes.as_deref().unwrap_or_default()) {
            Ok(config) if config.target.response() && !cfg!(feature = "response-target") => {
                logging::error(
                    "invalid configuration: target: responses need the build with the response target, \
                     header_augmenter_response.wasm; this one adds headers to requests only",
                );
                return false;
            }
            Ok(config) => config,
            Err(e) => {
                logging::error(&line(&["invalid configuration: ", &e.message()]));
                return false;
            }
        };
        logging::info(&describe(&config));
        let plugin = Plugin::new(
            config,
            &property("plugin_name"),
            property("plugin_root_id"),
            Rc::clone(&self.held),
        );
        let same_key = self.plugin.as_ref().is_some_and(|p| p.key == plugin.key);
        match self.poller.as_mut() {
            // Reconfigured, same provider: keep polling, with the new timings.
            Some(p) if same_key => {
                p.schedule = Schedule::resume(plugin.config.timing(), p.schedule.failures())
            }
            // Another provider: its lease is another key; this one lapses.
            _ => self.poller = None,
        }
        plugin.ensure_lease();
        plugin.sync();
        let plugin = Rc::new(plugin);
        http::register(self.id, Rc::clone(&plugin));
        self.plugin = Some(plugin);
        // The lease is sought on the first tick, not here: Envoy configures (and
        // discards) a VM of its own at start, whose timer never fires.
        set_tick(1);
        true
    }

    pub fn on_tick(&mut self) {
        let Some(plugin) = self.plugin.clone() else {
            return;
        };
        let now = now_ms();
        plugin.sync();
        self.keep_lease(&plugin, now);
        self.poll(&plugin, now);
        self.serve_held(&plugin, now);
        plugin.metrics.flush();
        self.report_memory(&plugin);
        if self.poller.is_some() {
            if let Some((fetched_at, _, _)) = plugin.record_times() {
                let age_s = now.saturating_sub(fetched_at) / 1000;
                plugin.metrics.set(M::CacheAgeSeconds, age_s);
            }
        }
        self.arm_timer(now);
    }
}

impl Root {
    /// Renews the lease this VM holds, notices it was lost, or takes a lapsed one.
    fn keep_lease(&mut self, plugin: &Plugin, now: u64) {
        let (lease, cas) = plugin.lease_with_cas();
        let Some(cas) = cas else {
            plugin.ensure_lease(); // never expected after on_configure; taken next tick
            return;
        };
        if let Some(p) = self.poller.as_mut() {
            let renewed = Lease {
                until_ms: now + LEASE_MS,
                failures: p.schedule.failures(),
            };
            match (cas == p.lease_cas)
                .then(|| plugin.write_lease(renewed, Some(cas)))
                .flatten()
            {
                Some(new_cas) => p.lease_cas = new_cas,
                None => {
                    logging::info("another VM of this Envoy took over polling the provider");
                    self.poller = None;
                }
            }
            return;
        }
        let lease = lease.unwrap_or(Lease::VACANT);
        if !lease.lapsed(now) {
            return;
        }
        let taken = Lease {
            until_ms: now + LEASE_MS,
            failures: lease.failures,
        };
        let Some(lease_cas) = plugin.write_lease(taken, Some(cas)) else {
            return; // another VM took it first
        };
        if lease != Lease::VACANT {
            logging::info("took over polling the provider: the previous poller's lease lapsed");
        }
        // Continue the schedule where the record says it stands.
        let refresh_at = plugin
            .record_times()
            .map_or(now, |(_, _, refresh_at)| refresh_at);
        self.poller = Some(Poller {
            lease_cas,
            schedule: Schedule::resume(plugin.config.timing(), lease.failures),
            next_fetch_ms: refresh_at.max(now),
            call: None,
        });
    }

    /// As the poller: gives up on a call past its timeout, or starts one when due.
    fn poll(&mut self, plugin: &Plugin, now: u64) {
        let Some(p) = self.poller.as_mut() else {
            return;
        };
        match p.call {
            Some(call) if now >= call.started_ms + plugin.config.timeout_ms + WATCHDOG_GRACE_MS => {
                p.call = None;
                let timeout_ms = plugin.config.timeout_ms;
                self.failed(plugin, Failure::TimedOut { timeout_ms }, now);
            }
            None if now >= p.next_fetch_ms => self.fetch(plugin, now),
            _ => {}
        }
    }

    fn fetch(&mut self, plugin: &Plugin, now: u64) {
        let config = &plugin.config;
        let headers = vec![
            (":method", "GET"),
            (":path", config.provider.path.as_str()),
            (":authority", config.provider.authority.as_str()),
            ("accept", "application/json"),
        ];
        plugin.metrics.inc(M::ProviderCalls);
        match host::http_call(&config.provider.cluster, &headers, config.timeout_ms) {
            Some(token) => {
                if let Some(p) = self.poller.as_mut() {
                    p.call = Some(Call {
                        token,
                        started_ms: now,
                    });
                }
            }
            None => {
                let cluster = config.provider.cluster.clone();
                self.failed(plugin, Failure::NotDispatched { cluster }, now);
            }
        }
    }

    fn succeeded(&mut self, plugin: &Plugin, accepted: Accepted, max_age_s: Option<u64>, now: u64) {
        let Some(p) = self.poller.as_mut() else {
            return;
        };
        let fresh = p.schedule.succeeded(now, max_age_s, &mut self.rng);
        p.next_fetch_ms = fresh.refresh_at_ms;
        let metrics = &plugin.metrics;
        self.report_refused(plugin, &accepted.refused);
        let changed = !plugin.same_names(&accepted.set);
        let mut text = String::from("fetched ");
        describe_set(&mut text, &accepted.set);
        if let Some(s) = max_age_s {
            text.push_str(", max-age ");
            push_u64(&mut text, s);
            text.push('s');
        }
        text.push_str("; next refresh in ");
        push_duration(&mut text, fresh.refresh_at_ms - now);
        metrics.set(M::HeadersCurrent, accepted.set.len() as u64);
        metrics.set(M::CacheAgeSeconds, 0);
        let record = Record {
            fetched_at_ms: now,
            expires_at_ms: fresh.expires_at_ms,
            refresh_at_ms: fresh.refresh_at_ms,
            set: accepted.set,
        };
        if !plugin.publish(&record) {
            // Shared data refuses only a CAS mismatch, and none is given here.
            logging::error("could not publish the headers to shared data");
        }
        plugin.sync();
        metrics.inc(M::FetchesSucceeded);
        self.report(plugin, now);
        if changed || self.failing {
            logging::info(&text);
        } else if logging::enabled(LogLevel::Debug) {
            logging::debug(&text);
        }
        self.failing = false;
    }

    /// Counts refused provider headers and logs them by name: as a warning
    /// when the list changed, at debug level when a provider keeps sending
    /// the same bad headers.
    fn report_refused(&mut self, plugin: &Plugin, refused: &[Refused]) {
        plugin.metrics.add(M::HeadersRefused, refused.len() as u64);
        let refused_line = describe_refused(refused);
        if refused_line != self.refused_line {
            if !refused_line.is_empty() {
                logging::warn(&refused_line);
            }
            self.refused_line = refused_line;
        } else if !refused_line.is_empty() && logging::enabled(LogLevel::Debug) {
            logging::debug(&refused_line);
        }
    }

    fn failed(&mut self, plugin: &Plugin, failure: Failure, now: u64) {
        if let Failure::AllRefused(refused) = &failure {
            self.report_refused(plugin, refused);
        }
        let Some(p) = self.poller.as_mut() else {
            return;
        };
        p.next_fetch_ms = p.schedule.failed(now, &mut self.rng);
        let delay = p.next_fetch_ms - now;
        plugin.metrics.inc(M::FetchesFailed);
        // Let every VM know at once, so requests waiting for a first fetch are released.
        self.report(plugin, now);
        let mut text = String::from("header fetch failed: ");
        failure.describe(&mut text);
        match (plugin.current_len(), plugin.record_times()) {
            (n, Some((fetched_at, expires_at, _))) => {
                text.push_str("; keeping the last good headers (");
                push_u64(&mut text, n as u64);
                text.push_str(", fetched ");
                push_duration(
                    &mut text,
                    (now.saturating_sub(fetched_at) / 1000).max(1) * 1000,
                );
                text.push_str(if now > expires_at {
                    " ago, expired)"
                } else {
                    " ago)"
                });
            }
            _ => text.push_str("; no headers to keep yet"),
        }
        text.push_str("; retrying in ");
        push_duration(&mut text, delay);
        logging::warn(&text);
        self.failing = true;
    }

    /// Writes the lease now, with the poller's failure count, renewing it.
    fn report(&mut self, plugin: &Plugin, now: u64) {
        if let Some(p) = self.poller.as_mut() {
            let lease = Lease {
                until_ms: now + LEASE_MS,
                failures: p.schedule.failures(),
            };
            match plugin.write_lease(lease, Some(p.lease_cas)) {
                Some(cas) => p.lease_cas = cas,
                None => self.poller = None, // lost meanwhile; the new poller reports
            }
        }
    }

    /// Adds the change in this VM's linear memory to the `wasm_memory_bytes`
    /// gauge, which so sums the memory of the plugin's VMs. (A VM a reload
    /// discards keeps its last share: Envoy does not tell a module it is going.)
    fn report_memory(&mut self, plugin: &Plugin) {
        let bytes = core::arch::wasm32::memory_size(0) as u64 * 65_536;
        plugin.metrics.adjust(
            M::WasmMemoryBytes,
            bytes as i64 - self.memory_reported as i64,
        );
        self.memory_reported = bytes;
    }

    /// Releases the held requests whose wait is over: headers arrived, the
    /// policy releases them, or `wait_timeout` passed.
    fn serve_held(&self, plugin: &Plugin, now: u64) {
        if self.held.is_empty() {
            return;
        }
        let available = plugin.view().availability(|| now);
        let mut acted = false;
        for (context_id, until) in self.held.snapshot() {
            let timed_out = now >= until;
            let Some(decision) = policy::on_held(available, plugin.config.on_missing, timed_out)
            else {
                continue;
            };
            self.held.remove(context_id);
            let metrics = &plugin.metrics;
            if !host::set_effective_context(context_id) {
                metrics.inc(M::RequestsHeldCancelled); // the client went away meanwhile
                continue;
            }
            acted = true;
            match decision {
                policy::Decision::Apply => metrics.inc(M::RequestsHeldResumed),
                policy::Decision::Continue => metrics.inc(M::RequestsHeldContinued),
                _ => metrics.inc(M::RequestsHeldDenied),
            }
            if carry_out(plugin, decision) == proxy_wasm::types::Action::Continue {
                host::resume_request();
            }
        }
        if acted {
            host::set_effective_context(self.id);
        }
    }

    /// The next tick: at most a second away, sooner for a due call or
    /// refresh, every 20 ms while requests are held.
    fn arm_timer(&self, now: u64) {
        let mut next = TICK_MAX_MS;
        if let (Some(p), Some(plugin)) = (&self.poller, &self.plugin) {
            let due = match p.call {
                Some(call) => call.started_ms + plugin.config.timeout_ms + WATCHDOG_GRACE_MS,
                None => p.next_fetch_ms,
            };
            next = next.min(due.saturating_sub(now));
        }
        if !self.held.is_empty() {
            next = next.min(HOLD_POLL_MS);
        }
        set_tick(next);
    }
}

/// A call that ended without a response, or with Envoy's 504, is a timeout
/// when it lasted as long as the timeout allows. (Envoy times the call on its
/// monotonic clock, the filter on the wall clock: 10 ms of slack.)
fn explain(failure: Failure, call: Call, now: u64, timeout_ms: u64) -> Failure {
    let lasted = now.saturating_sub(call.started_ms);
    match failure {
        Failure::NoResponse | Failure::Status(504) if lasted + 10 >= timeout_ms => {
            Failure::TimedOut { timeout_ms }
        }
        other => other,
    }
}

/// The configuration as one log line: names and timings, never header values.
fn describe(config: &Config) -> String {
    let p = &config.provider;
    let mut text = String::from("configured: provider cluster ");
    push_quoted(&mut text, &p.cluster);
    text.push_str(", authority ");
    push_quoted(&mut text, &p.authority);
    text.push_str(", path ");
    push_quoted(&mut text, &p.path);
    text.push_str("; refresh every ");
    push_duration(&mut text, config.refresh_ms);
    text.push_str(", timeout ");
    push_duration(&mut text, config.timeout_ms);
    text.push_str(if config.overwrite {
        ", overwrite"
    } else {
        ", keep the request's own values"
    });
    if !config.static_headers.is_empty() {
        text.push_str("; static ");
        describe_set(&mut text, &config.static_headers);
    }
    text
}

/// "2 headers (authorization, x-tenant)": names only, never values.
fn describe_set(out: &mut String, set: &HeaderSet) {
    push_u64(out, set.len() as u64);
    out.push_str(if set.len() == 1 {
        " header ("
    } else {
        " headers ("
    });
    for (i, name) in set.names().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out.push(')');
}

/// `refused 2 provider headers: "host" (reserved name: ...), ...`; empty if none.
fn describe_refused(refused: &[Refused]) -> String {
    let mut text = String::new();
    if refused.is_empty() {
        return text;
    }
    text.push_str("refused ");
    push_u64(&mut text, refused.len() as u64);
    text.push_str(if refused.len() == 1 {
        " provider header: "
    } else {
        " provider headers: "
    });
    for (i, r) in refused.iter().take(REFUSED_LISTED).enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        push_quoted(&mut text, &r.name);
        text.push_str(" (");
        text.push_str(r.why.reason());
        text.push(')');
    }
    if refused.len() > REFUSED_LISTED {
        text.push_str(", and ");
        push_u64(&mut text, (refused.len() - REFUSED_LISTED) as u64);
        text.push_str(" more");
    }
    text
}

/// A string property of the plugin, such as `plugin_name`; empty if absent.
fn property(name: &str) -> String {
    host::property(name)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}
