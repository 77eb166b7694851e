//! One provider of a plugin in one VM: its configuration, its shared-data
//! keys, its metrics, this VM's copy of its record, and its poller. A plugin
//! (plugin.rs) has one per entry of `providers`, or one for the top-level form.

use super::config::Config;
use super::copy::Copy;
use super::host::{Host, Level};
use super::metrics::Metrics;
use super::poller::Poller;
use super::store::{lease_key, Lease, Record};
use super::text::push_quoted;

pub struct Source {
    pub config: Config,
    pub key: String,
    pub lease_key: String,
    pub metrics: Metrics,
    pub copy: Copy,
    pub poller: Poller,
}

impl Source {
    /// `plugin` is the plugin's name, `key` the provider's record key;
    /// `seed` starts the poller's jitter.
    pub fn new(host: &impl Host, plugin: &str, key: String, config: Config, seed: u64) -> Source {
        Source {
            lease_key: lease_key(&key),
            key,
            metrics: Metrics::define(host, plugin, &config.name),
            copy: Copy::default(),
            poller: Poller::new(seed),
            config,
        }
    }

    /// A new configuration for the same provider (the same key): the copy,
    /// the lease and the schedule carry on under the new settings.
    pub fn retake(&mut self, host: &impl Host, config: Config) {
        self.poller.retime(config.timing(), host.monotonic_ms());
        self.config = config;
    }

    /// Logs `text`, prefixed with the provider's name when it has one.
    pub fn log(&self, host: &impl Host, level: Level, text: &str) {
        if self.config.name.is_empty() {
            return host.log(level, text);
        }
        let mut line = String::from("provider ");
        push_quoted(&mut line, &self.config.name);
        line.push_str(": ");
        line.push_str(text);
        host.log(level, &line);
    }

    pub fn sync(&mut self, host: &impl Host) {
        self.copy.sync(host, &self.key);
    }

    /// The poller lease as it stands: decoded if it decodes, and its CAS.
    pub fn lease(&self, host: &impl Host) -> (Option<Lease>, Option<u32>) {
        let (data, cas) = host.shared_data(&self.lease_key);
        (data.as_deref().and_then(Lease::decode), cas)
    }

    /// Writes the lease if its CAS is still `cas`; returns the new CAS.
    pub fn write_lease(&self, host: &impl Host, lease: Lease, cas: Option<u32>) -> Option<u32> {
        if !host.set_shared_data(&self.lease_key, &lease.encode(), cas) {
            return None;
        }
        self.lease(host).1
    }

    /// Creates the lease, vacant, if this Envoy has none for this key yet.
    /// Creation cannot be conditional in shared data. Envoy configures the
    /// main thread's VM first, so the key normally exists before any worker
    /// ticks; if a worker's VM creates it as another takes the lease, the
    /// taker finds its CAS gone, says another VM took over, and the lease is
    /// taken again on the next tick: one spurious line, no lasting harm.
    pub fn ensure_lease(&self, host: &impl Host) {
        if let (None, None) = self.lease(host) {
            host.set_shared_data(&self.lease_key, &Lease::VACANT.encode(), None);
        }
    }

    /// Makes `record` the published record for every VM of this Envoy.
    pub fn publish(&self, host: &impl Host, record: &Record) -> bool {
        host.set_shared_data(&self.key, &record.encode(), None)
    }
}
