//! A mesh-scale simulation of the refresh schedule (scripts/herd.sh runs it):
//! the provider's load when many pods poll it through the filter's own
//! `Schedule` (no Envoy, no network, simulated time).
//!
//! - `PODS` pods (one poller each: one per Envoy) start within
//!   `ROLLOUT_S` of each other, as a rollout starts them;
//! - the provider hands out one shared token: it lives `TOKEN_S`, a new one
//!   is minted when the current has less than `MINT_BEFORE_S` left, and every
//!   answer says `Cache-Control: max-age=<the token's remaining lifetime>`;
//! - from `OUTAGE_AT_S` for `OUTAGE_S` the provider answers 503, then recovers.
//!
//! Prints the provider's calls per second: peak and mean, overall and in the
//! steady state, the outage and the recovery.
//!
//!     cargo run --release --example herd -- [pods]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use header_augmenter::random::Rng;
use header_augmenter::schedule::{Schedule, Timing};

const ROLLOUT_S: u64 = 30;
const TOKEN_S: u64 = 3_600;
const MINT_BEFORE_S: u64 = 300;
const OUTAGE_AT_S: u64 = 3 * 3_600;
const OUTAGE_S: u64 = 600;
const END_S: u64 = 5 * 3_600;

/// The filter's defaults: header_cache_expiry 6m, retry_initial 1s, retry_max 60s.
const TIMING: Timing = Timing {
    refresh_ms: 360_000,
    retry_initial_ms: 1_000,
    retry_max_ms: 60_000,
};

fn main() {
    let pods: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut rng = Rng::new(42);
    let mut schedules: Vec<Schedule> = (0..pods).map(|_| Schedule::new(TIMING)).collect();
    // (next call at ms, pod), earliest first.
    let mut due: BinaryHeap<Reverse<(u64, usize)>> = (0..pods)
        .map(|pod| Reverse((rng.below(ROLLOUT_S * 1000), pod)))
        .collect();
    let mut per_second = vec![0u32; END_S as usize];
    let mut token_expires_ms = TOKEN_S * 1000;
    while let Some(Reverse((now, pod))) = due.pop() {
        if now >= END_S * 1000 {
            break;
        }
        if let Some(n) = per_second.get_mut((now / 1000) as usize) {
            *n += 1;
        }
        let Some(schedule) = schedules.get_mut(pod) else {
            continue;
        };
        let outage = (OUTAGE_AT_S * 1000..(OUTAGE_AT_S + OUTAGE_S) * 1000).contains(&now);
        let next = if outage {
            schedule.failed(now, &mut rng)
        } else {
            if token_expires_ms.saturating_sub(now) < MINT_BEFORE_S * 1000 {
                token_expires_ms = now + TOKEN_S * 1000;
            }
            let max_age_s = (token_expires_ms - now) / 1000;
            schedule
                .succeeded(now, Some(max_age_s), &mut rng)
                .refresh_at_ms
        };
        due.push(Reverse((next, pod)));
    }
    println!("{pods} pods, a shared {TOKEN_S}s token (new one {MINT_BEFORE_S}s before expiry), provider down {OUTAGE_S}s at {OUTAGE_AT_S}s");
    println!("provider calls per second       peak     mean");
    let phases = [
        ("whole run", 0, END_S),
        ("steady state (after the first hour)", 3_600, OUTAGE_AT_S),
        ("outage", OUTAGE_AT_S, OUTAGE_AT_S + OUTAGE_S),
        (
            "recovery (5 minutes)",
            OUTAGE_AT_S + OUTAGE_S,
            OUTAGE_AT_S + OUTAGE_S + 300,
        ),
    ];
    for (name, from, to) in phases {
        let window = per_second
            .get(from as usize..to as usize)
            .unwrap_or_default();
        let peak = window.iter().max().copied().unwrap_or(0);
        let mean = f64::from(window.iter().sum::<u32>()) / window.len().max(1) as f64;
        println!("  {name:<36} {peak:>6} {mean:>8.1}");
    }
}
