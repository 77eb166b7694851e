//! One configured plugin in one VM: who it is (Envoy's plugin name and root
//! id), the root contexts that configured it, where its headers go, and its
//! providers (source.rs), in order. The VM's registry (vm.rs) owns it; the
//! newest of its live root contexts drives it with its timer.

use super::config::Settings;
use super::host::Host;
use super::metrics::M;
use super::policy::Target;
use super::source::Source;

pub struct Plugin {
    /// Stays the same across reconfigurations: held requests refer to it.
    pub slot: u32,
    /// Every live root context that configured this plugin, oldest first
    /// (the last, the newest, drives it with its timer: `driver`),
    /// with its configuration as Envoy gave it: when the newest goes before an
    /// older one (a rollback, or one of two listeners removed), the older
    /// serves again. (The text, parsed again then, costs less code than a
    /// copy of each `Settings`.)
    pub roots: Vec<(u32, Vec<u8>)>,
    /// Envoy's `plugin_name` and `plugin_root_id`: together, which streams are this plugin's.
    pub name: String,
    pub root_id: String,
    pub target: Target,
    /// The providers, in the configuration's order: an earlier one wins a
    /// header name both give.
    pub sources: Vec<Source>,
    /// Whether some provider has `destinations`: only then does a request
    /// read its cluster's name.
    pub scoped: bool,
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
        settings: Settings,
        text: Vec<u8>,
    ) -> Plugin {
        let mut plugin = Plugin {
            slot,
            roots: vec![(root_context, text)],
            name,
            root_id,
            target: settings.target,
            sources: Vec::new(),
            scoped: false,
            memory_reported: 0,
        };
        plugin.drive(host, settings);
        plugin
    }

    /// The root context whose timer drives this plugin: the newest live one.
    pub fn driver(&self) -> u32 {
        self.roots.last().map_or(0, |&(root, _)| root)
    }

    /// A new configuration of this plugin, from the root context `root_context`.
    pub fn reconfigure(
        &mut self,
        host: &impl Host,
        root_context: u32,
        settings: Settings,
        text: Vec<u8>,
    ) {
        self.roots.retain(|(r, _)| *r != root_context);
        self.roots.push((root_context, text));
        self.drive(host, settings);
    }

    /// Takes `settings`, the driver's configuration, into use. A provider
    /// that stays (the same name and provider) keeps its copy, lease and
    /// schedule under its new settings; a new one starts; one no longer
    /// configured is retired.
    pub fn drive(&mut self, host: &impl Host, settings: Settings) {
        let mut old = std::mem::take(&mut self.sources);
        for config in settings.providers {
            // A grant's client and what it asks for are part of who the provider is.
            // And where its token goes; the secret's variable, so that a VM
            // with a new secret does not inherit the lease of one still
            // trying the old (its name only).
            let key = match &config.oauth2 {
                Some(o) => {
                    let prefix = o.prefix.as_deref().map_or("\0", |p| p);
                    let who = [
                        &config.name,
                        &o.client_id,
                        &o.grant,
                        &o.header,
                        prefix,
                        &o.client_secret_env,
                    ];
                    config.provider.shared_data_key(&self.name, &who)
                }
                None => config.provider.shared_data_key(&self.name, &[&config.name]),
            };
            let source = match old.iter().position(|s| s.key == key) {
                Some(i) => {
                    let mut source = old.swap_remove(i);
                    source.retake(host, config);
                    source
                }
                None => {
                    let seed = host.monotonic_ms() ^ u64::from(self.driver()) << 32;
                    let seed = seed ^ self.sources.len() as u64;
                    Source::new(host, &self.name, key, config, seed)
                }
            };
            self.sources.push(source);
        }
        for gone in old {
            gone.metrics.flush(host);
        }
        self.scoped = self.sources.iter().any(|s| s.config.destinations.is_some());
        self.target = settings.target;
    }

    /// Adds the change in this VM's linear memory to the `wasm_memory_bytes`
    /// gauge, which so sums the memory of the plugin's VMs.
    pub fn report_memory(&mut self, host: &impl Host) {
        let bytes = host.memory_bytes();
        if let Some(first) = self.sources.first() {
            let delta = bytes as i64 - self.memory_reported as i64;
            first.metrics.adjust(host, M::WasmMemoryBytes, delta);
            self.memory_reported = bytes;
        }
    }

    /// Before the registry forgets this plugin: the last counts reach Envoy,
    /// and this VM's share leaves the memory gauge.
    pub fn retire(&mut self, host: &impl Host) {
        for source in &self.sources {
            source.metrics.flush(host);
        }
        if let Some(first) = self.sources.first() {
            let share = self.memory_reported as i64;
            first.metrics.adjust(host, M::WasmMemoryBytes, -share);
        }
    }
}
