//! The requests this VM holds while they wait for headers (`on_missing:
//! wait`, or the first fetch at start-up). One queue per VM, whatever the
//! plugin, so a reconfiguration or a plugin's root context going away never
//! strands a held request: entries name their plugin by its registry slot.
//!
//! Bounded: at most `MAX_HELD` per VM; over it a request is denied at once.
//! Each pass over the queue looks at every entry once (vm.rs).

/// Most requests one VM holds at a time. Each costs 16 bytes here, and Envoy
/// keeps the paused stream; past this a burst is denied rather than queued.
pub const MAX_HELD: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub context_id: u32,
    /// The registry slot of the plugin that holds it.
    pub slot: u32,
    /// When it was held, by the monotonic clock: each of its providers
    /// lets it go once it has waited that provider's `wait_timeout`.
    pub since_ms: u64,
    /// Which of the plugin's providers (bit `i` for provider `i`) counted
    /// it as held: they count how it ends.
    pub scope: u16,
}

#[derive(Default)]
pub struct Held {
    entries: Vec<Entry>,
}

impl Held {
    pub const fn new() -> Held {
        Held {
            entries: Vec::new(),
        }
    }

    /// Adds a request; `None` if the queue is full, else whether it was empty.
    pub fn push(&mut self, entry: Entry) -> Option<bool> {
        if self.entries.len() >= MAX_HELD {
            return None;
        }
        self.entries.push(entry);
        Some(self.entries.len() == 1)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// One pass: `keep` sees every entry once and says whether it stays.
    pub fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        self.entries.retain(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded() {
        let mut held = Held::new();
        let entry = |i| Entry {
            context_id: i,
            slot: 0,
            since_ms: 0,
            scope: 1,
        };
        assert_eq!(held.push(entry(0)), Some(true));
        for i in 1..MAX_HELD as u32 {
            assert_eq!(held.push(entry(i)), Some(false));
        }
        assert_eq!(held.push(entry(9999)), None);
        assert_eq!(held.len(), MAX_HELD);
        held.retain(|e| e.context_id % 2 == 0);
        assert_eq!(held.len(), MAX_HELD / 2);
    }
}
