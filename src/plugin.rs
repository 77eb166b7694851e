//! One configured plugin in one VM: its configuration, its shared-data keys,
//! its metrics, this VM's decoded copy of the published record, and the
//! requests this VM holds. The root context owns it; every HTTP context holds
//! a reference to it.
//!
//! The request path reads this VM's copy only. The root context brings the
//! copy up to date (`sync`) on its tick, at least every 200 ms, and at once
//! after publishing; a request that finds no headers in it syncs once itself.

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use proxy_wasm::types::MapType;

use crate::config::Config;
use crate::headers::HeaderSet;
use crate::host;
use crate::metrics::Metrics;
use crate::policy::{Availability, Denial};
use crate::schedule::servable;
use crate::store::{lease_key, Lease, Record};

pub struct Plugin {
    pub config: Config,
    /// Envoy's root id for this plugin, to find it from a stream if need be.
    pub root_id: String,
    pub key: String,
    pub lease_key: String,
    pub metrics: Metrics,
    pub held: Rc<Held>,
    cache: RefCell<Cache>,
}

/// This VM's copy of the record in shared data, and the CAS it was read at.
#[derive(Default)]
struct Cache {
    cas: Option<u32>,
    record: Option<Record>,
    /// The record's set with the static headers added: what requests get.
    merged: HeaderSet,
}

/// Requests this VM holds, waiting for headers: (HTTP context id, deadline).
/// Shared by every configuration of one root context, so a reconfiguration
/// never strands a held request.
#[derive(Default)]
pub struct Held(RefCell<Vec<(u32, u64)>>);

impl Held {
    /// Adds a request; true if it is the first one held.
    pub fn push(&self, context_id: u32, until_ms: u64) -> bool {
        let mut held = self.0.borrow_mut();
        held.push((context_id, until_ms));
        held.len() == 1
    }

    /// Removes a request; true if it was held.
    pub fn remove(&self, context_id: u32) -> bool {
        let mut held = self.0.borrow_mut();
        let before = held.len();
        held.retain(|&(id, _)| id != context_id);
        held.len() != before
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    pub fn snapshot(&self) -> Vec<(u32, u64)> {
        self.0.borrow().clone()
    }
}

impl Plugin {
    pub fn new(config: Config, name: &str, root_id: String, held: Rc<Held>) -> Plugin {
        let key = config.provider.shared_data_key(name);
        Plugin {
            root_id,
            lease_key: lease_key(&key),
            key,
            metrics: Metrics::define(name),
            held,
            config,
            cache: RefCell::default(),
        }
    }

    /// Brings this VM's copy up to date with shared data, decoding the record
    /// again only when its CAS has changed since this VM last read it.
    pub fn sync(&self) {
        let Ok(mut cache) = self.cache.try_borrow_mut() else {
            return;
        };
        let (data, cas) = host::shared_data(&self.key);
        {
            if cas != cache.cas {
                cache.cas = cas;
                // A record another build of the filter wrote (another layout
                // version) does not decode; this VM keeps what it had.
                if let Some(record) = data.as_deref().and_then(Record::decode) {
                    let mut merged = record.set.clone();
                    merged.fill_from(&self.config.static_headers);
                    cache.merged = merged;
                    cache.record = Some(record);
                }
            }
        }
    }

    fn current(&self) -> Option<Ref<'_, Cache>> {
        self.cache.try_borrow().ok()
    }

    /// This VM's view of the published headers, for one request (or one pass
    /// over the held requests). No host call.
    pub fn view(&self) -> View<'_> {
        View {
            plugin: self,
            cache: self.current(),
        }
    }

    /// When the current record was fetched, expires and is due for refresh.
    pub fn record_times(&self) -> Option<(u64, u64, u64)> {
        let cache = self.current()?;
        let r = cache.record.as_ref()?;
        Some((r.fetched_at_ms, r.expires_at_ms, r.refresh_at_ms))
    }

    /// How many provider headers the current record holds.
    pub fn current_len(&self) -> usize {
        self.current()
            .and_then(|c| c.record.as_ref().map(|r| r.set.len()))
            .unwrap_or(0)
    }

    pub fn same_names(&self, set: &HeaderSet) -> bool {
        self.current()
            .and_then(|c| c.record.as_ref().map(|r| r.set.names().eq(set.names())))
            .unwrap_or(false)
    }

    /// Answers the current request locally, saying why.
    pub fn deny(&self, why: Denial) {
        let headers = [
            ("x-header-augmenter-denied", why.code()),
            ("content-type", "text/plain"),
        ];
        host::send_response(self.config.deny_status, &headers, why.body());
    }

    /// The poller lease as it stands, with its CAS.
    pub fn lease_with_cas(&self) -> (Option<Lease>, Option<u32>) {
        let (data, cas) = host::shared_data(&self.lease_key);
        (data.as_deref().and_then(Lease::decode), cas)
    }

    /// Writes the lease if its CAS is still `cas`; returns the new CAS.
    pub fn write_lease(&self, lease: Lease, cas: Option<u32>) -> Option<u32> {
        if !host::set_shared_data(&self.lease_key, &lease.encode(), cas) {
            return None;
        }
        self.lease_with_cas().1
    }

    /// Creates the lease, vacant, if this Envoy has none for this key yet.
    /// Creation cannot be conditional in shared data, so it happens here: all
    /// configurations run on Envoy's main thread before any worker's VM ticks.
    pub fn ensure_lease(&self) {
        if let (None, None) = self.lease_with_cas() {
            host::set_shared_data(&self.lease_key, &Lease::VACANT.encode(), None);
        }
    }

    /// Makes `record` the published record for every VM of this Envoy.
    pub fn publish(&self, record: &Record) -> bool {
        host::set_shared_data(&self.key, &record.encode(), None)
    }
}

/// The published headers as this VM has them, for one request.
pub struct View<'a> {
    plugin: &'a Plugin,
    cache: Option<Ref<'a, Cache>>,
}

impl View<'_> {
    /// Whether this VM's copy holds a record at all.
    pub fn has_record(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.record.is_some())
    }

    /// What there is to add now. `now` is asked for only when a staleness
    /// bound needs it.
    pub fn availability(&self, now: impl FnOnce() -> u64) -> Availability {
        let record = self.cache.as_ref().and_then(|c| c.record.as_ref());
        match record {
            // The clock is a host call: read only when a staleness bound needs it.
            Some(r) => match self.plugin.config.max_stale_ms {
                Some(stale) if !servable(now(), r.expires_at_ms, Some(stale)) => {
                    Availability::Expired
                }
                _ => Availability::Ready,
            },
            // A first fetch is pending until the poller reports a failure.
            None => {
                let lease = self.plugin.lease_with_cas().0;
                Availability::NotFetched {
                    pending: lease.is_none_or(|l| l.failures == 0),
                }
            }
        }
    }

    /// Adds the headers to one header map: the fetched set with the static
    /// headers, or the static headers alone. `overwrite` replaces what the map
    /// has; otherwise only absent names are added.
    pub fn apply(&self, map: MapType, with_provider: bool) {
        let config = &self.plugin.config;
        let set = match (&self.cache, with_provider) {
            (Some(cache), true) => &cache.merged,
            _ => &config.static_headers,
        };
        for (name, value) in set.iter() {
            if config.overwrite {
                host::replace_header(map, name, value);
            } else if host::header(map, name).is_none() {
                host::add_header(map, name, value);
            }
        }
    }
}
