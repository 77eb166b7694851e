//! This VM's decoded copy of a plugin's published record: what the request
//! path reads, so a request makes no shared-data call and decodes nothing.
//!
//! The root context brings the copy up to date (`sync`) on its tick, at least
//! every 200 ms, and at once after publishing; a request that finds no
//! headers in it syncs once itself.

use super::host::Host;
use super::policy::Availability;
use super::schedule::servable;
use super::store::{Lease, Record};

#[derive(Default)]
pub struct Copy {
    /// The CAS the record was read at: decoding happens only when it changes.
    cas: Option<u32>,
    record: Option<Record>,
}

impl Copy {
    /// Reads the record at `key` again if its CAS changed since the last read.
    /// A record that does not decode, or whose headers would not pass
    /// validation, is ignored: this VM keeps what it had.
    pub fn sync(&mut self, host: &impl Host, key: &str) {
        let (data, cas) = host.shared_data(key);
        if cas == self.cas {
            return;
        }
        self.cas = cas;
        if let Some(record) = data.as_deref().and_then(Record::decode) {
            self.record = Some(record);
        }
    }

    pub fn record(&self) -> Option<&Record> {
        self.record.as_ref()
    }

    /// What there is to add now. The clock is read only when a staleness
    /// bound needs it, and the lease only while nothing was ever fetched.
    pub fn availability(
        &self,
        host: &impl Host,
        max_stale_ms: Option<u64>,
        lease_key: &str,
    ) -> Availability {
        match &self.record {
            Some(r) => match max_stale_ms {
                Some(stale) if !servable(host.monotonic_ms(), r.expires_at_ms, Some(stale)) => {
                    Availability::Expired
                }
                _ => Availability::Ready,
            },
            // A first fetch is pending until the poller reports a failure.
            None => {
                let lease = host.shared_data(lease_key).0;
                let failures = lease.as_deref().and_then(Lease::decode).map(|l| l.failures);
                Availability::NotFetched {
                    pending: failures.is_none_or(|f| f == 0),
                }
            }
        }
    }
}
