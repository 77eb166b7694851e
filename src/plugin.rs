//! One configured plugin in one VM: its configuration, its shared-data key,
//! its metrics, and this VM's decoded copy of the published header set. The
//! root context owns it; every HTTP context holds a reference to it.

use std::cell::RefCell;

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

use crate::config::Config;
use crate::headers::HeaderSet;
use crate::metrics::Metrics;

pub struct Plugin {
    pub config: Config,
    pub key: String,
    pub metrics: Metrics,
    cache: RefCell<Cache>,
}

/// This VM's copy of the set in shared data, and the CAS it was read at.
#[derive(Default)]
struct Cache {
    cas: Option<u32>,
    set: HeaderSet,
}

impl Plugin {
    pub fn new(config: Config, name: &str) -> Plugin {
        Plugin {
            key: config.provider.shared_data_key(name),
            metrics: Metrics::define(name),
            config,
            cache: RefCell::default(),
        }
    }

    /// Runs `f` on the currently published set.
    pub fn with_current<R>(&self, f: impl FnOnce(&HeaderSet) -> R) -> Option<R> {
        self.current().map(|cache| f(&cache.set))
    }

    /// This VM's cache, brought up to date. Shared data is decoded again only
    /// when its CAS has changed since this VM last read it. Not generic, so the
    /// read-and-decode code exists once however many callers there are.
    fn current(&self) -> Option<std::cell::RefMut<'_, Cache>> {
        let mut cache = self.cache.try_borrow_mut().ok()?;
        if let Ok((data, cas)) = hostcalls::get_shared_data(&self.key) {
            if cas != cache.cas {
                cache.cas = cas;
                // Bytes another build of the filter wrote (a different encoding
                // version) do not decode; this VM keeps what it had.
                if let Some(set) = data.as_deref().and_then(HeaderSet::decode) {
                    cache.set = set;
                }
            }
        }
        Some(cache)
    }

    /// How many headers are published now.
    pub fn current_len(&self) -> usize {
        self.with_current(HeaderSet::len).unwrap_or(0)
    }

    /// Makes `set` the published set for every VM of this Envoy.
    pub fn publish(&self, set: &HeaderSet) -> Result<(), Status> {
        hostcalls::set_shared_data(&self.key, Some(&set.encode()), None)
    }
}
