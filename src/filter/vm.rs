//! The registry: everything one VM knows, and the callbacks the shim forwards.
//!
//! A VM may run several plugins (two Istio WasmPlugins share a VM, and so do
//! two filters with the same `vm_id`), and Envoy starts a new root context
//! beside the old one whenever a plugin's configuration changes. So:
//!
//! - a plugin is who Envoy says it is, its `plugin_name` and `plugin_root_id`;
//!   at most one entry per pair. A new configuration of a known plugin
//!   replaces its entry (with the same provider, the copy, lease and schedule
//!   carry on), and the new root context drives it from then on. Streams that
//!   still belong to the old root context (a draining listener) get the new
//!   configuration: it is the plugin's configuration now.
//! - a stream finds its plugin without a host call when the VM has one, else
//!   by one property read (`plugin_name`; the root id too if names repeat).
//!   A stream whose plugin cannot be told apart gets no plugin's headers.
//! - each plugin keeps every live root context that configured it, newest
//!   last, which drives it. Root contexts probe the others on their ticks:
//!   if the newest goes first, the newest live one drives again with its own
//!   configuration; a plugin with none left (its filter was removed) is dropped.
//! - the held requests are one queue per VM (held.rs).

use super::config;
use super::config::MAX_PROVIDERS;
use super::held::{Entry, Held};
use super::host::{Host, Level, Verdict};
use super::metrics::M;
use super::plugin::Plugin;
use super::policy::{combine, Availability, Combined, Decision};
use super::poller;
use super::report;
use super::request::{
    self, apply, availability, carry_out, decide, has, Decisions, EVERY_PROVIDER,
};
use super::text::{line, push_quoted};

/// Longest time between two ticks of a driving root context: how stale this
/// VM's copy of the headers and Envoy's counters may be.
pub const TICK_MAX_MS: u64 = 200;
/// How often held requests are looked at.
pub const HOLD_POLL_MS: u64 = 20;
/// How often held requests that are still waiting are checked for a client
/// that went away.
pub const SWEEP_MS: u64 = 1_000;
/// How often an older root context of a plugin checks that the newest is
/// still there.
pub const STANDBY_MS: u64 = 1_000;

pub struct Vm {
    plugins: Vec<Plugin>,
    held: Held,
    next_slot: u32,
    next_sweep_ms: u64,
    /// Whether a stream that matched no plugin was reported (once per VM).
    unattributed_reported: bool,
}

impl Default for Vm {
    fn default() -> Vm {
        Vm::new()
    }
}

impl Vm {
    pub const fn new() -> Vm {
        Vm {
            plugins: Vec::new(),
            held: Held::new(),
            next_slot: 0,
            next_sweep_ms: 0,
            unattributed_reported: false,
        }
    }

    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// `proxy_on_configure`: false (and one error line) if the configuration is
    /// invalid, which fails the plugin.
    pub fn on_configure(&mut self, host: &impl Host, root_context: u32, size: usize) -> bool {
        let bytes = match size {
            0 => None,
            _ => host.plugin_configuration(size),
        };
        let settings = match config::load(bytes.as_deref().unwrap_or_default(), &host.environment())
        {
            Ok(settings) if settings.target.response() && !cfg!(feature = "response-target") => {
                host.log(
                    Level::Error,
                    "invalid configuration: target: responses need the build with the response target, \
                     header_augmenter_response.wasm; this one adds headers to requests only",
                );
                return false;
            }
            Ok(settings) => settings,
            Err(e) => {
                host.log(
                    Level::Error,
                    &line(&["invalid configuration: ", &e.message()]),
                );
                return false;
            }
        };
        for config in &settings.providers {
            let level = match config.destinations {
                Some(_) => Level::Info,
                None => Level::Warn, // its headers go everywhere
            };
            host.log(level, &report::configuration(config));
        }
        let name = property(host, "plugin_name");
        let root_id = property(host, "plugin_root_id");
        let known = self
            .plugins
            .iter()
            .position(|p| p.name == name && p.root_id == root_id);
        let index = match known {
            Some(i) => {
                if let Some(p) = self.plugins.get_mut(i) {
                    if p.driver() != root_context {
                        // Its streams and the older root contexts' cannot be
                        // told apart: all get the newest configuration.
                        host.log(
                            Level::Info,
                            "reconfigured: new requests get this configuration",
                        );
                    }
                    p.reconfigure(host, root_context, settings, bytes.unwrap_or_default());
                }
                i
            }
            None => {
                let slot = self.next_slot;
                self.next_slot = slot.wrapping_add(1);
                let text = bytes.unwrap_or_default();
                let plugin = Plugin::new(host, slot, root_context, name, root_id, settings, text);
                self.plugins.push(plugin);
                self.plugins.len() - 1
            }
        };
        for source in self
            .plugins
            .get_mut(index)
            .map_or(&mut [][..], |p| &mut p.sources)
        {
            source.ensure_lease(host);
            source.sync(host);
        }
        // The lease is sought on the first tick, not here: Envoy configures (and
        // discards) a VM of its own at start, whose timer never fires.
        host.set_tick(1);
        true
    }

    /// `proxy_on_tick` of root context `root_context`.
    pub fn on_tick(&mut self, host: &impl Host, root_context: u32) {
        let now = host.monotonic_ms();
        // First, so that a root context that takes over drives this very tick.
        self.prune(host, root_context, now);
        if let Some(plugin) = self.driven_by(root_context) {
            for source in &mut plugin.sources {
                source.sync(host);
                poller::tick(source, host, now, root_context);
                source.metrics.flush(host);
            }
            plugin.report_memory(host);
        }
        self.serve_held(host, root_context, now);
        self.arm(host, root_context, now);
    }

    /// `proxy_on_http_call_response`: the answer goes to the plugin whose
    /// call it is, whichever root context made it.
    pub fn on_http_call_response(
        &mut self,
        host: &impl Host,
        root_context: u32,
        token: u32,
        body_size: usize,
    ) {
        // Not found: a call of a configuration since replaced by another provider.
        for plugin in &mut self.plugins {
            for source in &mut plugin.sources {
                if source.poller.awaits(token) {
                    poller::on_response(source, host, token, body_size);
                }
            }
        }
        let now = host.monotonic_ms();
        self.serve_held(host, root_context, now);
        self.arm(host, root_context, now);
    }

    /// `proxy_on_request_headers` of stream `context_id`.
    pub fn on_request_headers(&mut self, host: &impl Host, context_id: u32) -> Verdict {
        let Some(plugin) = stream_plugin(&mut self.plugins, host) else {
            self.unattributed(host);
            return Verdict::Continue;
        };
        let scope = scope_of(plugin, host);
        for (i, source) in plugin.sources.iter_mut().enumerate() {
            if has(scope, i) && source.copy.record().is_none() {
                source.sync(host); // headers may have arrived since the last tick
            }
        }
        let available = availability(plugin, host, scope);
        let decisions = decide(plugin, scope, &available, None);
        let combined = combine(&decisions);
        if combined != Combined::Hold {
            return carry_out(plugin, host, &decisions, combined, false);
        }
        let entry = Entry {
            context_id,
            slot: plugin.slot,
            since_ms: host.monotonic_ms(),
            scope,
        };
        match self.held.push(entry) {
            Some(first) => {
                count(plugin, scope, M::RequestsHeld);
                if first {
                    // Held requests are looked at on ticks: make them frequent.
                    // (Armed once, when the queue fills: re-arming on every
                    // hold would keep pushing the tick away under load.)
                    host.set_tick(HOLD_POLL_MS as u32);
                }
                Verdict::Pause
            }
            None => {
                count(plugin, scope, M::RequestsHeldOverLimit);
                // Denied by the first provider that would hold it.
                let holding = decisions.iter().position(|d| *d == Some(Decision::Hold));
                let combined = Combined::Deny(holding.unwrap_or(0));
                carry_out(plugin, host, &decisions, combined, false)
            }
        }
    }

    /// `proxy_on_response_headers`, only in the build with the response target:
    /// each provider in scope adds its headers, or its static ones while it has none.
    pub fn on_response_headers(&mut self, host: &impl Host) -> Verdict {
        let Some(plugin) = stream_plugin(&mut self.plugins, host) else {
            return Verdict::Continue;
        };
        if plugin.target.response() {
            let scope = scope_of(plugin, host);
            let available = availability(plugin, host, scope);
            let mut decisions: Decisions = [None; MAX_PROVIDERS];
            for (i, (a, d)) in available.iter().zip(&mut decisions).enumerate() {
                if has(scope, i) {
                    *d = Some(match a {
                        Availability::Ready => Decision::Apply,
                        _ => Decision::Continue,
                    });
                }
            }
            apply(plugin, host, super::host::Map::Response, &decisions);
        }
        Verdict::Continue
    }
}

impl Vm {
    /// The plugin root context `root_context` drives, if any.
    fn driven_by(&mut self, root_context: u32) -> Option<&mut Plugin> {
        self.plugins.iter_mut().find(|p| p.driver() == root_context)
    }

    /// A stream that matched no plugin goes on untouched: no plugin's headers
    /// are safer than another plugin's. Reported once per VM.
    fn unattributed(&mut self, host: &impl Host) {
        if self.unattributed_reported || self.plugins.is_empty() {
            return;
        }
        self.unattributed_reported = true;
        let name = property(host, "plugin_name");
        let mut text = String::from("a request of plugin ");
        push_quoted(&mut text, &name);
        text.push_str(" matched no plugin of this VM; it went on without headers");
        host.log(Level::Warn, &text);
    }

    /// Forgets the root contexts Envoy has destroyed, found by probing each
    /// from this tick's root context. A plugin whose newest root context went
    /// is driven by its newest live one again, with that one's configuration;
    /// a plugin with none left (its filter was removed) is dropped: Envoy
    /// destroys a root context only after its last stream (each holds the
    /// plugin), so nothing it held is still waiting.
    fn prune(&mut self, host: &impl Host, root_context: u32, now: u64) {
        let roots: usize = self.plugins.iter().map(|p| p.roots.len()).sum();
        if roots < 2 {
            return;
        }
        let mut i = 0;
        while let Some(p) = self.plugins.get_mut(i) {
            let driver = p.driver();
            let sources = &mut p.sources;
            p.roots.retain(|&(r, _)| {
                let alive = r == root_context || host.set_effective_context(r);
                for source in sources.iter_mut().filter(|_| !alive) {
                    source.poller.forget_call_of(r, now);
                }
                alive
            });
            match p.roots.last() {
                Some((newest, text)) => {
                    // It parsed when it came; it still does.
                    let again = || config::load(text, &host.environment());
                    if let (true, Ok(config)) = (*newest != driver, again()) {
                        host.log(
                            Level::Info,
                            "the newest configuration's root context is gone: the one before it serves again",
                        );
                        p.drive(host, config);
                    }
                    i += 1;
                }
                None => {
                    let mut gone = self.plugins.remove(i);
                    self.held.retain(|e| {
                        if e.slot == gone.slot {
                            count(&gone, e.scope, M::RequestsHeldCancelled);
                        }
                        e.slot != gone.slot
                    });
                    let mut text = String::from("plugin ");
                    push_quoted(&mut text, &gone.name);
                    text.push_str(" was removed from this VM: its root contexts are gone");
                    host.log(Level::Info, &text);
                    gone.retire(host);
                }
            }
        }
        host.set_effective_context(root_context);
    }

    /// The held requests, each looked at once per plugin (one, usually):
    /// released when headers arrived, when its plugin's policy lets it go, or
    /// when it has waited `wait_timeout`; every `SWEEP_MS` the others are
    /// checked for a client that went away.
    fn serve_held(&mut self, host: &impl Host, root_context: u32, now: u64) {
        if self.held.is_empty() {
            return;
        }
        let sweep = now >= self.next_sweep_ms;
        if sweep {
            self.next_sweep_ms = now + SWEEP_MS;
        }
        for plugin in &self.plugins {
            // Once per plugin, not per request.
            let available = availability(plugin, host, EVERY_PROVIDER);
            self.held.retain(|e| {
                if e.slot != plugin.slot || release(plugin, host, e, &available, now) {
                    return e.slot != plugin.slot;
                }
                let alive = !sweep || host.set_effective_context(e.context_id);
                if !alive {
                    count(plugin, e.scope, M::RequestsHeldCancelled);
                }
                alive
            });
        }
        host.set_effective_context(root_context);
    }

    /// Arms the timer of `root_context`: at most `TICK_MAX_MS` away for a
    /// driving root context, sooner for a due call or refresh, every
    /// `HOLD_POLL_MS` while requests are held; an older root context of a
    /// plugin every `STANDBY_MS`, to take over should the newest go first; one
    /// the registry does not know only while requests are held.
    fn arm(&mut self, host: &impl Host, root_context: u32, now: u64) {
        let holding = !self.held.is_empty();
        let standby = (self.plugins.iter()).any(|p| p.roots.iter().any(|r| r.0 == root_context));
        let next = match self.driven_by(root_context) {
            Some(p) => {
                let mut next = TICK_MAX_MS;
                for s in &p.sources {
                    if let Some(due) = s.poller.due_ms(s.config.timeout_ms) {
                        next = next.min(due.saturating_sub(now));
                    }
                }
                match holding {
                    true => next.min(HOLD_POLL_MS),
                    false => next,
                }
            }
            None if holding => HOLD_POLL_MS,
            None if standby => STANDBY_MS,
            None => {
                host.set_tick(0);
                return;
            }
        };
        host.set_tick(next.max(1) as u32);
    }
}

/// The plugin the current stream belongs to.
fn stream_plugin<'a>(plugins: &'a mut [Plugin], host: &impl Host) -> Option<&'a mut Plugin> {
    if let [only] = plugins {
        return Some(only);
    }
    let name = host.property("plugin_name")?;
    let named = |p: &Plugin| p.name.as_bytes() == name;
    let first = plugins.iter().position(named)?;
    if !plugins.iter().skip(first + 1).any(named) {
        return plugins.get_mut(first);
    }
    // Two filters of one name in this VM: their root ids tell them apart.
    let root_id = host.property("plugin_root_id")?;
    plugins
        .iter_mut()
        .find(|p| p.name.as_bytes() == name && p.root_id.as_bytes() == root_id)
}

/// Releases one held request if every provider in its scope lets it go;
/// true if it did (or its client went away meanwhile: cancelled).
fn release(
    plugin: &Plugin,
    host: &impl Host,
    e: &Entry,
    available: &[Availability],
    now: u64,
) -> bool {
    // Its cluster is read again: a reconfiguration may have changed the destinations.
    if plugin.scoped && !alive(plugin, host, e) {
        return true;
    }
    let decisions = decide(
        plugin,
        scope_of(plugin, host),
        available,
        Some(now - e.since_ms),
    );
    let combined = combine(&decisions);
    if combined == Combined::Hold {
        return false;
    }
    if !plugin.scoped && !alive(plugin, host, e) {
        return true;
    }
    if carry_out(plugin, host, &decisions, combined, true) == Verdict::Continue {
        host.resume_request();
    }
    true
}

/// Makes the held stream the effective context; false (and counted) if its
/// client went away.
fn alive(plugin: &Plugin, host: &impl Host, e: &Entry) -> bool {
    let alive = host.set_effective_context(e.context_id);
    if !alive {
        count(plugin, e.scope, M::RequestsHeldCancelled);
    }
    alive
}

/// Counts `metric` for the providers in `scope` (bit `i` for provider `i`).
fn count(plugin: &Plugin, scope: u16, metric: M) {
    for (i, source) in plugin.sources.iter().enumerate() {
        if has(scope, i) {
            source.metrics.inc(metric);
        }
    }
}

/// The name of the cluster the effective stream is routed to, read only for
/// a plugin whose providers have `destinations`: Envoy's `xds.cluster_name`,
/// the cluster of the route. (The older `cluster_name` is empty until the
/// upstream is chosen, after the request headers have gone through.)
fn cluster(plugin: &Plugin, host: &impl Host) -> Option<Vec<u8>> {
    let cluster = plugin.scoped.then(|| host.property(CLUSTER_PROPERTY));
    cluster.flatten()
}

/// The providers the effective stream is for (request.rs `scope`).
fn scope_of(plugin: &Plugin, host: &impl Host) -> u16 {
    request::scope(plugin, cluster(plugin, host).as_deref())
}

/// `xds.cluster_name`, as a property path: its segments separated by NUL.
pub const CLUSTER_PROPERTY: &str = "xds\0cluster_name";

/// A string property of the effective context, such as `plugin_name`; empty if absent.
fn property(host: &impl Host, name: &str) -> String {
    let bytes = host.property(name).unwrap_or_default();
    super::text::utf8(&bytes).unwrap_or_default().into()
}
