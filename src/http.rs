//! The HTTP context: adds the published headers to each request. No parsing,
//! validation, logging or allocation of its own: the set was validated when it
//! was fetched, and this VM keeps it decoded.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::plugin::Plugin;

pub struct Augmenter {
    /// `None` only if Envoy creates a stream for a plugin whose configuration
    /// failed, which it does not; the request then passes untouched.
    pub plugin: Option<Rc<Plugin>>,
}

impl Context for Augmenter {}

impl HttpContext for Augmenter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(plugin) = &self.plugin {
            augment(plugin, MapType::HttpRequestHeaders);
        }
        Action::Continue
    }
}

/// Adds the set to one header map: replacing what is there when `overwrite`,
/// otherwise only where the map has no header of that name.
fn augment(plugin: &Plugin, map: MapType) {
    let overwrite = plugin.config.overwrite;
    let applied = plugin.with_current(|set| {
        for (name, value) in set.iter() {
            if overwrite {
                let _ = hostcalls::set_map_value(map, name, Some(value));
            } else if let Ok(None) = hostcalls::get_map_value_bytes(map, name) {
                let _ = hostcalls::add_map_value(map, name, value);
            }
        }
        !set.is_empty()
    });
    if applied == Some(true) {
        plugin.metrics.requests_augmented.inc();
    } else {
        plugin.metrics.requests_without_headers.inc();
    }
}
