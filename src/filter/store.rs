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
//!
//! Shared data is distrusted: anything in the VM's namespace can write it (on
//! Istio's WasmPlugin path `vm_id` is `""`, shared by every WasmPlugin of the
//! proxy). So the layout version is part of every key (a rollout that changes
//! the layout never reads, or steals, the old build's lease), and a record is
//! validated again, by the rules a provider answer passes, when it is read.
//!
//! Times are Envoy's monotonic clock in milliseconds (one clock for the whole
//! process, so every VM of an Envoy agrees), except `fetched_at_wall_ms`,
//! which only reports the age of the headers.

use super::headers::HeaderSet;

/// The layout of both values, in their keys: bumped with any change.
pub const FORMAT: &str = "v3";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub fetched_at_ms: u64,
    pub expires_at_ms: u64,
    pub refresh_at_ms: u64,
    pub fetched_at_wall_ms: u64,
    pub set: HeaderSet,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for t in [
            self.fetched_at_ms,
            self.expires_at_ms,
            self.refresh_at_ms,
            self.fetched_at_wall_ms,
        ] {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.extend_from_slice(&self.set.encode());
        out
    }

    /// Reads what `encode` wrote; `None` for anything else, including a set
    /// that would not pass validation as a provider answer.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let (fetched, rest) = bytes.split_first_chunk::<8>()?;
        let (expires, rest) = rest.split_first_chunk::<8>()?;
        let (refresh, rest) = rest.split_first_chunk::<8>()?;
        let (wall, rest) = rest.split_first_chunk::<8>()?;
        Some(Record {
            fetched_at_ms: u64::from_le_bytes(*fetched),
            expires_at_ms: u64::from_le_bytes(*expires),
            refresh_at_ms: u64::from_le_bytes(*refresh),
            fetched_at_wall_ms: u64::from_le_bytes(*wall),
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

    pub fn encode(&self) -> [u8; 12] {
        let mut out = [0u8; 12];
        let (until, failures) = out.split_at_mut(8);
        until.copy_from_slice(&self.until_ms.to_le_bytes());
        failures.copy_from_slice(&self.failures.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Lease> {
        let (until, rest) = bytes.split_first_chunk::<8>()?;
        let (failures, rest) = rest.split_first_chunk::<4>()?;
        rest.is_empty().then(|| Lease {
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
    super::text::line(&[record_key, "/poller"])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::headers::{validate, HeaderSet};
    use super::*;
    use std::borrow::Cow;

    fn record() -> Record {
        let (set, _) = validate([(Cow::Borrowed("authorization"), Cow::Borrowed("Bearer x"))]);
        Record {
            fetched_at_ms: 1,
            expires_at_ms: 2,
            refresh_at_ms: 3,
            fetched_at_wall_ms: 4,
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
        let mut other_layout = bytes.clone();
        other_layout[32] = 9; // the set's own version byte
        assert_eq!(Record::decode(&other_layout), None);
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
        assert_eq!(Lease::decode(&l.encode()[..11]), None);
        assert_eq!(Lease::decode(&[2; 13]), None);
        assert!(!l.lapsed(10));
        assert!(l.lapsed(11));
        assert!(Lease::VACANT.lapsed(1));
    }

    #[test]
    fn a_record_written_by_anyone_else_is_validated_again() {
        // Someone wrote a record whose set a provider could never have given.
        let forged = |name: &str, value: &str| {
            let mut bytes = record().encode();
            bytes.truncate(32);
            bytes.extend_from_slice(&HeaderSet::encode_unchecked(&[(name, value)]));
            Record::decode(&bytes)
        };
        assert!(forged("authorization", "Bearer x").is_some());
        assert_eq!(forged("host", "evil.example"), None);
        assert_eq!(forged("x-token", "a\r\nx-injected: 1"), None);
        assert_eq!(forged("Upper", "v"), None); // names are stored lower-cased
    }

    #[test]
    fn lease_key_sits_beside_the_record() {
        assert_eq!(
            lease_key("header_augmenter/p/0123"),
            "header_augmenter/p/0123/poller"
        );
    }
}
