//! The timing rules: when the poller calls the provider next, when fetched
//! headers expire, and whether they may still be served. Pure arithmetic on
//! milliseconds, so every rule is tested without a host.
//!
//! - After a good response, the next call is `header_cache_expiry` away, or
//!   90% of the provider's lifetime (`max-age` less `Age`, or an OAuth2
//!   `expires_in`) if that is sooner, and never later than a second before
//!   the lifetime ends, less a random 0-20% of that. With a lifetime, the window is anchored on
//!   the absolute expiry: pods that got one shared token refresh anywhere in
//!   the last 28% to 10% of its life, not all at once (scripts/herd.sh).
//! - The headers expire after the lifetime when the provider sent one,
//!   otherwise after `header_cache_expiry`. Past expiry plus `max_stale` they are no
//!   longer served; without `max_stale` they are served until replaced.
//! - After a failure, the retry is `retry_initial` away, doubling with each
//!   consecutive failure, capped by `retry_max` and by `header_cache_expiry`,
//!   with "equal jitter" (a random point in the upper half of the step).
//!   Retries never stop.

use super::random::Rng;

/// Refresh delays are shortened by a random amount up to this share (percent).
pub const REFRESH_JITTER_PERCENT: u64 = 20;
/// With `max-age`, the refresh comes at this share (percent) of it, before expiry.
pub const MAX_AGE_REFRESH_PERCENT: u64 = 90;
/// Least `max-age` honoured: `max-age=0` must not make the poller spin.
pub const MIN_MAX_AGE_MS: u64 = 1_000;
/// With a lifetime, the refresh comes at least this long before it ends:
/// lifetimes are whole seconds (`max-age`, `expires_in`, a JWT's `exp`), so
/// the end may come up to a second sooner than this VM's clock says.
pub const EXPIRY_MARGIN_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub refresh_ms: u64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

/// What a good response means for time: when it expires and when to refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fresh {
    pub expires_at_ms: u64,
    pub refresh_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    timing: Timing,
    failures: u32,
}

impl Schedule {
    pub fn new(timing: Timing) -> Self {
        Schedule::resume(timing, 0)
    }

    /// A schedule that continues after `failures` consecutive failures: a new
    /// poller taking over, or new timings from a reconfiguration.
    pub fn resume(timing: Timing, failures: u32) -> Self {
        Schedule { timing, failures }
    }

    /// Consecutive failed calls since the last good one.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A good response at `now`, with the provider's lifetime in seconds if it gave one.
    pub fn succeeded(&mut self, now: u64, max_age_s: Option<u64>, rng: &mut Rng) -> Fresh {
        self.failures = 0;
        let ttl = match max_age_s {
            Some(s) => s.saturating_mul(1000).max(MIN_MAX_AGE_MS),
            None => self.timing.refresh_ms,
        };
        let mut refresh = self.timing.refresh_ms;
        if max_age_s.is_some() {
            let latest = ttl.saturating_sub(EXPIRY_MARGIN_MS).max(MIN_MAX_AGE_MS / 2);
            refresh = refresh.min(ttl / 100 * MAX_AGE_REFRESH_PERCENT).min(latest);
        }
        let jitter = rng.below(refresh * REFRESH_JITTER_PERCENT / 100 + 1);
        Fresh {
            expires_at_ms: now.saturating_add(ttl),
            refresh_at_ms: now.saturating_add((refresh - jitter).max(1)),
        }
    }

    /// A failed call at `now`: when to retry.
    pub fn failed(&mut self, now: u64, rng: &mut Rng) -> u64 {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(32);
        let cap = self.timing.retry_max_ms.min(self.timing.refresh_ms);
        let step = self
            .timing
            .retry_initial_ms
            .saturating_mul(1u64 << doublings)
            .min(cap);
        now.saturating_add(step - rng.below(step / 2 + 1))
    }
}

/// Whether headers that expire at `expires_at` may be served at `now`.
pub fn servable(now: u64, expires_at: u64, max_stale_ms: Option<u64>) -> bool {
    match max_stale_ms {
        Some(stale) => now <= expires_at.saturating_add(stale),
        None => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T: Timing = Timing {
        refresh_ms: 360_000,
        retry_initial_ms: 1_000,
        retry_max_ms: 60_000,
    };

    #[test]
    fn a_short_lifetime_is_refreshed_a_second_before_it_ends() {
        let mut rng = Rng::new(3);
        let mut s = Schedule::new(T);
        for (max_age_s, earliest, latest) in [
            (3, 1_600, 2_000),
            (2, 800, 1_000),
            (1, 400, 500),
            (0, 400, 500),
            (100, 72_000, 90_000),
        ] {
            for _ in 0..200 {
                let f = s.succeeded(0, Some(max_age_s), &mut rng);
                assert!(
                    (earliest..=latest).contains(&f.refresh_at_ms),
                    "{max_age_s}s: {}",
                    f.refresh_at_ms
                );
            }
        }
    }

    #[test]
    fn a_good_response_refreshes_within_the_interval_less_jitter() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        for _ in 0..1000 {
            let f = s.succeeded(1_000, None, &mut rng);
            assert_eq!(f.expires_at_ms, 361_000);
            let delay = f.refresh_at_ms - 1_000;
            assert!((288_000..=360_000).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn jitter_spreads_refreshes() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        let delays: std::collections::BTreeSet<u64> = (0..100)
            .map(|_| s.succeeded(0, None, &mut rng).refresh_at_ms)
            .collect();
        assert!(delays.len() > 90, "{}", delays.len());
    }

    #[test]
    fn max_age_sets_expiry_and_an_earlier_refresh() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        let f = s.succeeded(0, Some(60), &mut rng);
        assert_eq!(f.expires_at_ms, 60_000);
        assert!(
            (43_200..=54_000).contains(&f.refresh_at_ms),
            "{}",
            f.refresh_at_ms
        );
        // A max-age longer than the interval extends expiry but not the refresh.
        let f = s.succeeded(0, Some(3600), &mut rng);
        assert_eq!(f.expires_at_ms, 3_600_000);
        assert!(f.refresh_at_ms <= 360_000);
    }

    #[test]
    fn max_age_zero_does_not_spin() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        let f = s.succeeded(0, Some(0), &mut rng);
        assert_eq!(f.expires_at_ms, 1_000);
        assert!(f.refresh_at_ms >= 400, "{}", f.refresh_at_ms);
    }

    #[test]
    fn pods_with_one_shared_token_spread_their_refreshes_before_its_expiry() {
        // 1,000 pods get one token at the same moment, 1h before it expires.
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(Timing {
            refresh_ms: 86_400_000,
            ..T
        });
        let at: Vec<u64> = (0..1000)
            .map(|_| s.succeeded(0, Some(3600), &mut rng).refresh_at_ms)
            .collect();
        let (first, last) = (at.iter().min().unwrap(), at.iter().max().unwrap());
        assert!(*first >= 2_592_000 && *last <= 3_240_000, "{first} {last}");
        assert!(last - first > 600_000, "spread only {}ms", last - first);
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter_up_to_the_cap() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        let mut steps = Vec::new();
        for _ in 0..10 {
            steps.push(s.failed(0, &mut rng));
        }
        let expected = [
            1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000,
        ];
        for (got, full) in steps.iter().zip(expected) {
            assert!(
                (full / 2..=full).contains(got),
                "{got} not in [{}, {full}]",
                full / 2
            );
        }
        assert_eq!(s.failures(), 10);
        for _ in 0..1000 {
            assert!(s.failed(0, &mut rng) <= 60_000); // never stops, never exceeds the cap
        }
    }

    #[test]
    fn retries_are_capped_by_the_refresh_interval() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(Timing {
            refresh_ms: 3_000,
            ..T
        });
        for _ in 0..10 {
            s.failed(0, &mut rng);
        }
        assert!(s.failed(0, &mut rng) <= 3_000);
    }

    #[test]
    fn a_success_resets_the_backoff() {
        let mut rng = Rng::new(7);
        let mut s = Schedule::new(T);
        for _ in 0..5 {
            s.failed(0, &mut rng);
        }
        s.succeeded(0, None, &mut rng);
        assert_eq!(s.failures(), 0);
        assert!(s.failed(0, &mut rng) <= 1_000);
    }

    #[test]
    fn staleness_bound() {
        assert!(servable(5_000, 1_000, None));
        assert!(servable(2_000, 1_000, Some(1_000)));
        assert!(!servable(2_001, 1_000, Some(1_000)));
        assert!(servable(u64::MAX, u64::MAX, Some(1)));
    }
}
