//! One configured plugin in one VM: who it is (Envoy's plugin name and root
//! id), the root contexts that configured it, its configuration, its
//! shared-data keys, its metrics, this VM's copy of its record, and its
//! poller. The VM's registry (vm.rs) owns it; the newest of its live root
//! contexts drives it with its timer.

use super::config::Config;
use super::copy::Copy;
use super::host::Host;
use super::metrics::{Metrics, M};
use super::poller::Poller;
use super::store::{lease_key, Lease, Record};

pub struct Plugin {
    /// Stays the same across reconfigurations: held requests refer to it.
    pub slot: u32,
    /// Every live root context that configured this plugin, oldest first
    /// (the last, the newest, drives it with its timer: `driver`),
    /// with its configuration as Envoy gave it: when the newest goes before an
    /// older one (a rollback, or one of two listeners removed), the older
    /// serves again. (The text, parsed again then, costs less code than a
    /// copy of each `Config`.)
    pub roots: Vec<(u32, Vec<u8>)>,
    /// Envoy's `plugin_name` and `plugin_root_id`: together, which streams are this plugin's.
    pub name: String,
    pub root_id: String,
    pub config: Config,
    pub key: String,
    pub lease_key: String,
    pub metrics: Metrics,
    pub copy: Copy,
    pub poller: Poller,
    /// This VM's linear memory as last added to the `wasm_memory_bytes` gauge.
    pub memory_reported: u64,
}

impl Plugin {
    pub fn new(
        host: &impl Host,
        slot: u32,
        root_context: u32,
        name: String,
        root_id: String,
        config: Config,
        text: Vec<u8>,
    ) -> Plugin {
        let mut plugin = Plugin {
            slot,
            roots: vec![(root_context, text)],
            // Set by `drive`, as for any new provider.
            key: String::new(),
            lease_key: String::new(),
            metrics: Metrics::define(host, &name),
            copy: Copy::default(),
            poller: Poller::new(0),
            memory_reported: 0,
            name,
            root_id,
            config: Config::default(),
        };
        plugin.drive(host, config);
        plugin
    }

    /// The root context whose timer drives this plugin: the newest live one.
    pub fn driver(&self) -> u32 {
        self.roots.last().map_or(0, |&(root, _)| root)
    }

    /// A new configuration of this plugin, from the root context
    /// `root_context`. With the same provider, the copy, the lease and the
    /// schedule carry on under the new settings; with another, they start over.
    pub fn reconfigure(
        &mut self,
        host: &impl Host,
        root_context: u32,
        config: Config,
        text: Vec<u8>,
    ) {
        self.roots.retain(|(r, _)| *r != root_context);
        self.roots.push((root_context, text));
        self.drive(host, config);
    }

    /// Takes `config`, the driver's configuration, into use.
    pub fn drive(&mut self, host: &impl Host, config: Config) {
        let key = config.provider.shared_data_key(&self.name);
        if key == self.key {
            self.poller.retime(config.timing(), host.monotonic_ms());
            self.copy.invalidate(); // the static headers may have changed
        } else {
            self.poller = Poller::new(host.monotonic_ms() ^ u64::from(self.driver()) << 32);
            self.copy = Copy::default();
            self.lease_key = lease_key(&key);
            self.key = key;
        }
        self.config = config;
    }

    pub fn sync(&mut self, host: &impl Host) {
        self.copy.sync(host, &self.key, &self.config.static_headers);
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

    /// Adds the change in this VM's linear memory to the `wasm_memory_bytes`
    /// gauge, which so sums the memory of the plugin's VMs.
    pub fn report_memory(&mut self, host: &impl Host) {
        let bytes = host.memory_bytes();
        let delta = bytes as i64 - self.memory_reported as i64;
        self.metrics.adjust(host, M::WasmMemoryBytes, delta);
        self.memory_reported = bytes;
    }

    /// Before the registry forgets this plugin: the last counts reach Envoy,
    /// and this VM's share leaves the memory gauge.
    pub fn retire(&mut self, host: &impl Host) {
        self.metrics.flush(host);
        let share = self.memory_reported as i64;
        self.metrics.adjust(host, M::WasmMemoryBytes, -share);
    }
}
