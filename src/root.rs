//! The root context: reads the configuration, calls the provider on the
//! refresh schedule, judges each response and publishes the accepted set.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel, MapType};

use crate::clock::{now_ms, set_tick};
use crate::config::{self, Config};
use crate::headers::{HeaderSet, Refused};
use crate::http::Augmenter;
use crate::logging;
use crate::plugin::Plugin;
use crate::provider::{self, Accepted, Failure};
use crate::schedule::Schedule;
use crate::text::{line, push_duration, push_quoted, push_u64};

/// How long past its timeout a call may stay unanswered before the tick gives
/// up on it. Envoy always answers by the timeout; this only guards the schedule.
const WATCHDOG_GRACE_MS: u64 = 1_000;

/// Most refused header names listed in one log line.
const REFUSED_LISTED: usize = 10;

#[derive(Default)]
pub struct Root {
    plugin: Option<Rc<Plugin>>,
    schedule: Option<Schedule>,
    call: Option<Call>,
    /// Whether the last fetch failed, so a recovery is logged once.
    failing: bool,
    /// The last refused-headers line logged as a warning: a provider that keeps
    /// sending the same bad header is reported once, then at debug level.
    refused_line: String,
}

/// The provider call in flight.
#[derive(Clone, Copy)]
struct Call {
    token: u32,
    started_ms: u64,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(call) = self.call.filter(|c| c.token == token) else {
            return; // a call made before a reconfiguration
        };
        self.call = None;
        let status = hostcalls::get_map_value_bytes(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten();
        let read_body = || {
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
        };
        match provider::judge(status.as_deref(), body_size, read_body) {
            Ok(accepted) => self.succeeded(accepted),
            Err(failure) => self.failed(self.explain(failure, call)),
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match size {
            0 => None,
            _ => hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size)
                .ok()
                .flatten(),
        };
        let config = match config::parse(bytes.as_deref().unwrap_or_default()) {
            Ok(config) => config,
            Err(e) => {
                logging::error(&line(&["invalid configuration: ", &e.message()]));
                return false;
            }
        };
        logging::info(&describe(&config));
        self.schedule = Some(Schedule::new(config.refresh_ms));
        self.plugin = Some(Rc::new(Plugin::new(config, &plugin_name())));
        self.call = None; // a response to a call made under the old configuration is ignored
        self.fetch();
        true
    }

    fn on_tick(&mut self) {
        if let (Some(call), Some(plugin)) = (self.call, &self.plugin) {
            let waited = now_ms().saturating_sub(call.started_ms);
            if waited < plugin.config.timeout_ms + WATCHDOG_GRACE_MS {
                return;
            }
            self.call = None;
            let timeout_ms = plugin.config.timeout_ms;
            self.failed(Failure::TimedOut { timeout_ms });
            return;
        }
        self.fetch();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Augmenter {
            plugin: self.plugin.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl Root {
    /// Starts a provider call; the tick becomes a watchdog until it is answered.
    fn fetch(&mut self) {
        let Some(plugin) = &self.plugin else { return };
        let config = &plugin.config;
        let headers = vec![
            (":method", "GET"),
            (":path", config.provider.path.as_str()),
            (":authority", config.provider.authority.as_str()),
            ("accept", "application/json"),
        ];
        let timeout = Duration::from_millis(config.timeout_ms);
        match hostcalls::dispatch_http_call(
            &config.provider.cluster,
            headers,
            None,
            vec![],
            timeout,
        ) {
            Ok(token) => {
                self.call = Some(Call {
                    token,
                    started_ms: now_ms(),
                });
                set_tick(config.timeout_ms + WATCHDOG_GRACE_MS);
            }
            Err(_) => {
                let cluster = config.provider.cluster.clone();
                self.failed(Failure::NotDispatched { cluster });
            }
        }
    }

    /// A call that ended without a response, or with Envoy's 504, is a timeout
    /// when it lasted as long as the timeout allows.
    fn explain(&self, failure: Failure, call: Call) -> Failure {
        let timeout_ms = self.plugin.as_ref().map_or(0, |p| p.config.timeout_ms);
        let lasted = now_ms().saturating_sub(call.started_ms);
        match failure {
            Failure::NoResponse | Failure::Status(504) if lasted >= timeout_ms => {
                Failure::TimedOut { timeout_ms }
            }
            other => other,
        }
    }

    fn succeeded(&mut self, accepted: Accepted) {
        let (Some(plugin), Some(schedule)) = (&self.plugin, &mut self.schedule) else {
            return;
        };
        let metrics = &plugin.metrics;
        metrics.headers_refused.add(accepted.refused.len() as u64);
        let refused_line = describe_refused(&accepted.refused);
        if refused_line != self.refused_line {
            if !refused_line.is_empty() {
                logging::warn(&refused_line);
            }
            self.refused_line = refused_line;
        } else if !refused_line.is_empty() && logging::enabled(LogLevel::Debug) {
            logging::debug(&refused_line);
        }
        let changed = plugin
            .with_current(|old| !same_names(old, &accepted.set))
            .unwrap_or(true);
        if plugin.publish(&accepted.set).is_err() {
            // Shared data refuses only a CAS mismatch, and none is given here.
            logging::error("could not publish the headers to shared data");
        }
        metrics.fetches_succeeded.inc();
        metrics.headers_current.set(accepted.set.len() as u64);
        let delay = schedule.succeeded();
        let mut text = String::from("fetched ");
        describe_set(&mut text, &accepted.set);
        text.push_str("; next refresh in ");
        push_duration(&mut text, delay);
        if changed || self.failing {
            logging::info(&text);
        } else if logging::enabled(LogLevel::Debug) {
            logging::debug(&text);
        }
        self.failing = false;
        set_tick(delay);
    }

    fn failed(&mut self, failure: Failure) {
        let (Some(plugin), Some(schedule)) = (&self.plugin, &mut self.schedule) else {
            return;
        };
        plugin.metrics.fetches_failed.inc();
        let delay = schedule.failed();
        let mut text = String::from("header fetch failed: ");
        failure.describe(&mut text);
        match plugin.current_len() {
            0 => text.push_str("; no headers to keep yet"),
            n => {
                text.push_str("; keeping the last good headers (");
                push_u64(&mut text, n as u64);
                text.push(')');
            }
        }
        text.push_str("; retrying in ");
        push_duration(&mut text, delay);
        logging::warn(&text);
        self.failing = true;
        set_tick(delay);
    }
}

/// The configuration as one log line (no secrets in it: names and timings only).
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

fn same_names(a: &HeaderSet, b: &HeaderSet) -> bool {
    a.names().eq(b.names())
}

fn plugin_name() -> String {
    hostcalls::get_property(vec!["plugin_name"])
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}
