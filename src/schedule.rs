//! When to call the provider next. Pure arithmetic on milliseconds, so every
//! timing rule is tested without a host.
//!
//! After a good response the next call is one refresh interval away. After a
//! failure it is a retry delay away: 1s, doubling per consecutive failure, at
//! most 60s and never more than the refresh interval, so a failure is always
//! retried sooner than a success would be refreshed.

pub const RETRY_INITIAL_MS: u64 = 1_000;
pub const RETRY_MAX_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    refresh_ms: u64,
    failures: u32,
}

impl Schedule {
    pub fn new(refresh_ms: u64) -> Self {
        Schedule {
            refresh_ms,
            failures: 0,
        }
    }

    /// Consecutive failed fetches since the last good one.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A good response: the delay until the next call.
    pub fn succeeded(&mut self) -> u64 {
        self.failures = 0;
        self.refresh_ms
    }

    /// A failed call: the delay until the retry.
    pub fn failed(&mut self) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(32);
        RETRY_INITIAL_MS
            .saturating_mul(1u64 << doublings)
            .min(RETRY_MAX_MS)
            .min(self.refresh_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_waits_one_refresh_interval() {
        let mut s = Schedule::new(360_000);
        assert_eq!(s.succeeded(), 360_000);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let mut s = Schedule::new(360_000);
        let delays: Vec<u64> = (0..9).map(|_| s.failed()).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(s.failures(), 9);
        for _ in 0..100 {
            assert_eq!(s.failed(), 60_000);
        }
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let mut s = Schedule::new(360_000);
        s.failed();
        s.failed();
        s.succeeded();
        assert_eq!(s.failures(), 0);
        assert_eq!(s.failed(), 1_000);
    }

    #[test]
    fn retries_never_wait_longer_than_a_refresh() {
        let mut s = Schedule::new(3_000);
        let delays: Vec<u64> = (0..4).map(|_| s.failed()).collect();
        assert_eq!(delays, [1_000, 2_000, 3_000, 3_000]);
    }
}
