//! The HTTP context: carries out the decision for each request (add the
//! headers, forward without them, deny, or hold) and adds the headers to the
//! response when the target says so. No parsing, validation or logging here:
//! the set was validated when it was fetched, and this VM keeps it decoded.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::clock::{now_ms, set_tick};
use crate::metrics::M;
use crate::plugin::Plugin;
use crate::policy::{self, Decision};
use crate::root::HOLD_POLL_MS;

pub struct Augmenter {
    pub context_id: u32,
    /// `None` only if Envoy creates a stream for a plugin whose configuration
    /// failed, which it does not; the request then passes untouched.
    pub plugin: Option<Rc<Plugin>>,
}

impl Context for Augmenter {}

impl HttpContext for Augmenter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        let Some(plugin) = &self.plugin else {
            return Action::Continue;
        };
        let view = plugin.view();
        let decision = policy::on_request(view.availability(now_ms), plugin.config.on_missing);
        if decision != Decision::Hold {
            drop(view);
            return carry_out(plugin, decision);
        }
        let until = now_ms().saturating_add(plugin.config.wait_timeout_ms);
        plugin.metrics.inc(M::RequestsHeld);
        if plugin.held.push(self.context_id, until) {
            // The root context looks at held requests on its ticks: make them frequent.
            set_tick(HOLD_POLL_MS);
        }
        Action::Pause
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(plugin) = self.plugin.as_ref().filter(|p| p.config.target.response()) {
            let view = plugin.view();
            let ready = view.availability(now_ms) == policy::Availability::Ready;
            view.apply(MapType::HttpResponseHeaders, ready);
        }
        Action::Continue
    }
}

impl Drop for Augmenter {
    /// A request still held when its stream ends (the client went away) is
    /// forgotten here, so nothing is left behind.
    fn drop(&mut self) {
        if let Some(plugin) = &self.plugin {
            if plugin.held.remove(self.context_id) {
                plugin.metrics.inc(M::RequestsHeldCancelled);
            }
        }
    }
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
