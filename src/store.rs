//! What lives in proxy-wasm shared data, per plugin and provider:
//!
//! - the **record** at the plugin's key: the header set the poller fetched,
//!   with when it was fetched, when it expires and when it is due for refresh.
//!   Every VM serves from it; a failed fetch leaves it as it is.
//! - the **lease** at `<key>/poller`: which makes one VM of the Envoy the
//!   poller. It lapses unless renewed, so another VM takes over when the
//!   holder's VM goes away. It also carries the poller's count of consecutive
//!   failures, so every VM knows whether a first fetch is still pending.
//!
//! Shared data outlives VMs (it belongs to Envoy, per `vm_id`), so a reloaded
//! configuration or a restarted VM serves the existing record at once.

use crate::headers::HeaderSet;

/// First byte of a record: bumped with its layout, so a VM of another build
/// of the filter ignores what it cannot read.
const RECORD_VERSION: u8 = 2;
const LEASE_VERSION: u8 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub fetched_at_ms: u64,
    pub expires_at_ms: u64,
    pub refresh_at_ms: u64,
    pub set: HeaderSet,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        for t in [self.fetched_at_ms, self.expires_at_ms, self.refresh_at_ms] {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&self.set.encode());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (&[version], rest) = bytes.split_first_chunk::<1>()?;
        if version != RECORD_VERSION {
            return None;
        }
        let (fetched, rest) = rest.split_first_chunk::<8>()?;
        let (expires, rest) = rest.split_first_chunk::<8>()?;
        let (refresh, rest) = rest.split_first_chunk::<8>()?;
        Some(Record {
            fetched_at_ms: u64::from_le_bytes(*fetched),
            expires_at_ms: u64::from_le_bytes(*expires),
            refresh_at_ms: u64::from_le_bytes(*refresh),
            set: HeaderSet::decode(rest)?,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lease {
    /// The holder must renew before this time; after it, any VM may take over.
    pub until_ms: u64,
    /// The holder's consecutive failed fetches.
    pub failures: u32,
}

impl Lease {
    /// What `on_configure` writes when the key does not exist yet: held by nobody.
    pub const VACANT: Lease = Lease {
        until_ms: 0,
        failures: 0,
    };

    pub fn encode(&self) -> [u8; 13] {
        let mut out = [0u8; 13];
        let (version, rest) = out.split_at_mut(1);
        let (until, failures) = rest.split_at_mut(8);
        version.copy_from_slice(&[LEASE_VERSION]);
        until.copy_from_slice(&self.until_ms.to_le_bytes());
        failures.copy_from_slice(&self.failures.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Lease> {
        let (&[version], rest) = bytes.split_first_chunk::<1>()?;
        let (until, rest) = rest.split_first_chunk::<8>()?;
        let (failures, rest) = rest.split_first_chunk::<4>()?;
        (version == LEASE_VERSION && rest.is_empty()).then(|| Lease {
            until_ms: u64::from_le_bytes(*until),
            failures: u32::from_le_bytes(*failures),
        })
    }

    /// Whether another VM may take the lease at `now`.
    pub fn lapsed(&self, now: u64) -> bool {
        self.until_ms < now
    }
}

/// The lease's key, beside the record's.
pub fn lease_key(record_key: &str) -> String {
    crate::text::line(&[record_key, "/poller"])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::headers::validate;
    use std::borrow::Cow;

    fn record() -> Record {
        let (set, _) = validate([(Cow::Borrowed("authorization"), Cow::Borrowed("Bearer x"))]);
        Record {
            fetched_at_ms: 1,
            expires_at_ms: 2,
            refresh_at_ms: 3,
            set,
        }
    }

    #[test]
    fn records_round_trip() {
        let r = record();
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(
            Record::decode(&Record::default().encode()),
            Some(Record::default())
        );
    }

    #[test]
    fn records_refuse_anything_else() {
        let bytes = record().encode();
        for cut in 0..bytes.len() {
            assert_eq!(Record::decode(&bytes[..cut]), None, "{cut}");
        }
        let mut old = bytes.clone();
        old[0] = 1;
        assert_eq!(Record::decode(&old), None);
        // An encoded bare HeaderSet (the first build's format) is not a record.
        assert_eq!(Record::decode(&record().set.encode()), None);
    }

    #[test]
    fn leases_round_trip_and_lapse() {
        let l = Lease {
            until_ms: 10,
            failures: 3,
        };
        assert_eq!(Lease::decode(&l.encode()), Some(l));
        assert_eq!(Lease::decode(&l.encode()[..12]), None);
        assert_eq!(Lease::decode(&[2; 13]), None);
        assert!(!l.lapsed(10));
        assert!(l.lapsed(11));
        assert!(Lease::VACANT.lapsed(1));
    }

    #[test]
    fn lease_key_sits_beside_the_record() {
        assert_eq!(
            lease_key("header_augmenter/p/0123"),
            "header_augmenter/p/0123/poller"
        );
    }
}
