//! The HTTP streams: the decision for each request (add the headers, forward
//! without them, deny, or hold) and the headers on the response when the
//! target says so. Called from the module's exports (exports.rs); a stream
//! keeps no state in the VM.
//!
//! No parsing, validation or logging here: the set was validated when it was
//! fetched, and this VM keeps it decoded.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::types::{Action, MapType};

use crate::host::{self, now_ms, set_tick};
use crate::metrics::M;
use crate::plugin::Plugin;
use crate::policy::{self, Decision};
use crate::root::HOLD_POLL_MS;

thread_local! {
    /// The configured plugins of this VM, by root context id.
    static PLUGINS: RefCell<Vec<(u32, Rc<Plugin>)>> = const { RefCell::new(Vec::new()) };
}

/// Makes `plugin` the one that streams of root context `root_id` use.
pub fn register(root_id: u32, plugin: Rc<Plugin>) {
    PLUGINS.with(|plugins| {
        let mut plugins = plugins.borrow_mut();
        plugins.retain(|(id, _)| *id != root_id);
        plugins.push((root_id, plugin));
    });
}

/// The plugin the current stream belongs to: the only one, usually; when a VM
/// runs several, the one whose root id the host names for the stream.
fn current_plugin() -> Option<Rc<Plugin>> {
    PLUGINS.with(|plugins| match plugins.borrow().as_slice() {
        [] => None,
        [(_, only)] => Some(Rc::clone(only)),
        several => {
            let root_id = host::property("plugin_root_id")?;
            several
                .iter()
                .find(|(_, p)| p.root_id.as_bytes() == root_id)
                .map(|(_, p)| Rc::clone(p))
        }
    })
}

pub fn on_request_headers(context_id: u32) -> Action {
    let Some(plugin) = current_plugin() else {
        return Action::Continue;
    };
    if !plugin.view().has_record() {
        plugin.sync(); // headers may have arrived since the last tick
    }
    let available = plugin.view().availability(now_ms);
    let decision = policy::on_request(available, plugin.config.on_missing);
    if decision != Decision::Hold {
        return carry_out(&plugin, decision);
    }
    let until = now_ms().saturating_add(plugin.config.wait_timeout_ms);
    plugin.metrics.inc(M::RequestsHeld);
    if plugin.held.push(context_id, until) {
        // The root context looks at held requests on its ticks: make them frequent.
        set_tick(HOLD_POLL_MS);
    }
    Action::Pause
}

#[cfg(feature = "response-target")]
pub fn on_response_headers(_context_id: u32) -> Action {
    if let Some(plugin) = current_plugin().filter(|p| p.config.target.response()) {
        let view = plugin.view();
        let ready = view.availability(now_ms) == policy::Availability::Ready;
        view.apply(MapType::HttpResponseHeaders, ready);
    }
    Action::Continue
}

/// Carries out a decision other than holding on the current request, and
/// counts it. Also used by the root context for requests it releases.
pub fn carry_out(plugin: &Plugin, decision: Decision) -> Action {
    let metrics = &plugin.metrics;
    match decision {
        Decision::Apply | Decision::Continue => {
            let with_provider = decision == Decision::Apply;
            if plugin.config.target.request() {
                plugin
                    .view()
                    .apply(MapType::HttpRequestHeaders, with_provider);
            }
            match with_provider {
                true => metrics.inc(M::RequestsAugmented),
                false => metrics.inc(M::RequestsWithoutHeaders),
            }
            Action::Continue
        }
        Decision::Deny(why) => {
            plugin.deny(why);
            metrics.inc(M::RequestsDenied);
            Action::Pause
        }
        Decision::Hold => Action::Pause,
    }
}
