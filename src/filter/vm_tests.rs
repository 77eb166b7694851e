//! The core in the shapes a mesh gives it, on the scripted Envoy of fake.rs:
//! several VMs, lease takeover, reconfiguration in a live VM, several plugins
//! in one VM, clock steps, held-request bounds, distrusted shared data.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::fake::{Answer, World};
use super::held::MAX_HELD;
use super::host::{CallError, Verdict};
use super::poller::{LEASE_MS, MAX_CALL_TIMEOUT_MS};

const TOKEN: &str = r#"{"authorization": "Bearer t1"}"#;

fn token(n: u32) -> Answer {
    Answer::json(&format!(r#"{{"authorization": "Bearer t{n}"}}"#))
}

/// A world of `vms` VMs, each with plugin `p` configured by `json`; the roots.
fn started(vms: usize, json: &str) -> (World, Vec<u32>) {
    let mut w = World::new(vms);
    let roots = (0..vms).map(|vm| w.configure(vm, "p", "", json)).collect();
    (w, roots)
}

#[test]
fn one_vm_polls_for_the_envoy_and_another_takes_over_when_it_goes() {
    let (mut w, roots) = started(2, r#"{"header_cache_expiry": "10s"}"#);
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    assert_eq!(w.calls(), 1);
    for (vm, &root) in roots.iter().enumerate() {
        let (id, verdict) = w.request(vm, root, &[]);
        assert_eq!(verdict, Verdict::Continue);
        assert_eq!(
            w.sent(vm, id, "authorization").as_deref(),
            Some("Bearer t1")
        );
    }
    w.run(30_000);
    assert!(
        (3..=5).contains(&w.calls()),
        "{} calls in 31s at 10s",
        w.calls()
    );
    let poller = w.last_call().vm;
    w.destroy_root(poller, roots[poller]);
    let before = w.calls();
    w.run(LEASE_MS + 11_000);
    assert!(w.calls() > before, "nobody polls after the poller went");
    assert_eq!(w.last_call().vm, 1 - poller);
    assert_eq!(w.process.logged("took over polling the provider"), 1);
}

#[test]
fn a_new_configuration_in_a_live_vm_applies_at_once_and_polling_goes_on() {
    let mut w = World::new(1);
    let old = w.configure(0, "p", "", r#"{"static_headers": {"x-generation": "1"}}"#);
    w.provider = Some(token(1));
    w.run(500);
    let (id, _) = w.request(0, old, &[]);
    assert_eq!(w.sent(0, id, "x-generation").as_deref(), Some("1"));
    // Envoy starts a new root context beside the old one: same VM, same plugin.
    let new = w.configure(
        0,
        "p",
        "",
        r#"{"static_headers": {"x-generation": "2"}, "header_cache_expiry": "1s"}"#,
    );
    let calls = w.calls();
    w.run(10);
    for root in [new, old] {
        // The old listener's streams too: it drains with the plugin's new configuration.
        let (id, _) = w.request(0, root, &[]);
        assert_eq!(w.sent(0, id, "x-generation").as_deref(), Some("2"));
    }
    assert_eq!(w.calls(), calls, "the same provider: no extra call");
    // The old listener drains; its root context goes. The token rotates.
    w.destroy_root(0, old);
    w.provider = Some(token(2));
    w.run(5_000);
    assert!(w.calls() >= calls + 4, "polling at the new 1s interval");
    let (id, _) = w.request(0, new, &[]);
    assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer t2"));
    assert_eq!(w.vms[0].vm.plugins().len(), 1);
    // Every request is counted exactly once, across both configurations.
    w.run(300);
    assert_eq!(w.process.metric("p.requests_augmented"), 4);
}

#[test]
fn a_new_provider_in_a_reconfiguration_starts_over_with_it() {
    let mut w = World::new(1);
    let old = w.configure(0, "p", "", "{}");
    w.provider = Some(token(1));
    w.run(500);
    let new = w.configure(0, "p", "", r#"{"header_providing_service_path": "/v2"}"#);
    w.provider = Some(token(2));
    w.run(500);
    let call = w.last_call();
    assert!(call.headers.contains(&(":path".into(), "/v2".into())));
    for root in [old, new] {
        let (id, _) = w.request(0, root, &[]);
        assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer t2"));
    }
}

#[test]
fn held_requests_of_a_replaced_configuration_are_released_by_the_new_one() {
    let mut w = World::new(1);
    let old = w.configure(
        0,
        "p",
        "",
        r#"{"on_missing": "wait", "wait_timeout": "1m"}"#,
    );
    w.run(10);
    let (held, verdict) = w.request(0, old, &[]); // the first fetch is pending
    assert_eq!(verdict, Verdict::Pause);
    w.configure(
        0,
        "p",
        "",
        r#"{"on_missing": "wait", "wait_timeout": "1m"}"#,
    );
    w.answer(w.last_call().token, Answer::json(TOKEN));
    w.run(100);
    assert!(w.stream(0, held, |s| s.resumed));
    assert_eq!(
        w.sent(0, held, "authorization").as_deref(),
        Some("Bearer t1")
    );
    assert_eq!(w.held(0), 0);
}

#[test]
fn plugins_sharing_a_vm_and_a_root_id_get_their_own_headers() {
    for root_id in ["", "shared"] {
        let mut w = World::new(1);
        let first = w.configure(
            0,
            "first",
            root_id,
            r#"{"static_headers": {"x-plugin": "first"}}"#,
        );
        let second = w.configure(
            0,
            "second",
            root_id,
            r#"{"static_headers": {"x-plugin": "second"}, "header_providing_service_cluster": "other"}"#,
        );
        w.provider = Some(Answer::json(TOKEN));
        w.run(1_000);
        assert_eq!(w.calls(), 2, "one poller per plugin");
        for (root, name) in [(first, "first"), (second, "second"), (first, "first")] {
            let (id, _) = w.request(0, root, &[]);
            assert_eq!(
                w.sent(0, id, "x-plugin").as_deref(),
                Some(name),
                "{root_id:?}"
            );
        }
        w.run(300);
        assert_eq!(w.process.metric("first.requests_augmented"), 2);
        assert_eq!(w.process.metric("second.requests_augmented"), 1);
    }
}

#[test]
fn a_stream_whose_plugin_cannot_be_told_apart_gets_no_plugins_headers() {
    let mut w = World::new(1);
    // A root context whose plugin the registry does not know (here: forgotten).
    let stranger = w.configure(0, "third", "", "{}");
    w.vms[0].vm = Default::default();
    for name in ["first", "second"] {
        let json = format!(r#"{{"static_headers": {{"x-plugin": "{name}"}}}}"#);
        w.configure(0, name, "", &json);
    }
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    let (id, verdict) = w.request(0, stranger, &[]);
    assert_eq!(verdict, Verdict::Continue);
    assert_eq!(w.sent(0, id, "x-plugin"), None);
    assert_eq!(w.sent(0, id, "authorization"), None);
    assert_eq!(w.process.logged("matched no plugin of this VM"), 1);
}

#[test]
fn a_plugin_whose_filter_was_removed_is_forgotten() {
    let mut w = World::new(1);
    let kept = w.configure(0, "kept", "", "{}");
    let removed = w.configure(0, "removed", "", "{}");
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    w.destroy_root(0, removed);
    w.run(300);
    let names: Vec<_> = w.vms[0]
        .vm
        .plugins()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(
        w.process
            .logged("plugin \"removed\" was removed from this VM"),
        1
    );
    // Its share of the memory gauge left with it.
    assert_eq!(w.process.metric("removed.wasm_memory_bytes"), 0);
    assert_eq!(w.process.metric("kept.wasm_memory_bytes"), 65_536);
    let (id, _) = w.request(0, kept, &[]);
    assert!(w.sent(0, id, "authorization").is_some());
}

#[test]
fn stepping_the_wall_clock_moves_no_deadline() {
    let json = r#"{"header_cache_expiry": "10s", "max_stale": "5s", "on_missing": "wait",
                   "wait_timeout": "30s"}"#;
    for step in [-600_000, 60_000] {
        let (mut w, roots) = started(2, json);
        w.provider = Some(Answer::json(TOKEN));
        w.run(1_000);
        assert_eq!(w.calls(), 1);
        w.step_wall_clock(step);
        // Refreshes go on every 10s, from the same poller.
        w.run(25_000);
        assert_eq!(w.calls(), 3, "step {step}");
        assert_eq!(w.process.logged("took over"), 0, "step {step}");
        // Served, not expired: no denial.
        let (id, verdict) = w.request(1, roots[1], &[]);
        assert_eq!(verdict, Verdict::Continue, "step {step}");
        assert!(w.sent(1, id, "authorization").is_some());
        // A held request waits its whole wait_timeout.
        w.provider = None;
        w.run(20_000); // the headers expire and pass max_stale: requests wait
        let (held, verdict) = w.request(0, roots[0], &[]);
        assert_eq!(verdict, Verdict::Pause);
        w.step_wall_clock(step);
        w.run(29_000);
        assert_eq!(w.stream(0, held, |s| s.local_reply), None, "step {step}");
        w.run(1_100);
        assert_eq!(w.stream(0, held, |s| s.local_reply), Some(503));
    }
}

#[test]
fn the_cache_age_gauge_follows_the_wall_clock() {
    let (mut w, _) = started(1, r#"{"header_cache_expiry": "1h"}"#);
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    w.run(60_000);
    assert_eq!(w.process.metric("p.cache_age_seconds"), 60);
}

#[test]
fn held_requests_are_capped_and_released_in_one_pass() {
    let (mut w, roots) = started(1, r#"{"on_missing": "wait", "wait_timeout": "1m"}"#);
    w.run(10);
    let token = w.last_call().token;
    let mut held = Vec::new();
    for _ in 0..MAX_HELD {
        let (id, verdict) = w.request(0, roots[0], &[]);
        assert_eq!(verdict, Verdict::Pause);
        held.push(id);
    }
    let (over, verdict) = w.request(0, roots[0], &[]);
    assert_eq!(verdict, Verdict::Pause);
    assert_eq!(w.stream(0, over, |s| s.local_reply), Some(503));
    let reason = w.stream(0, over, |s| s.response.clone());
    assert!(reason.contains(&("x-header-augmenter-denied".into(), "held-limit".into())));
    w.cancel(0, held[7]);
    w.answer(token, Answer::json(TOKEN));
    assert_eq!(w.held(0), 0, "released in the answer's pass");
    w.run(300);
    assert_eq!(
        w.process.metric("p.requests_held_resumed"),
        MAX_HELD as i64 - 1
    );
    assert_eq!(w.process.metric("p.requests_held_cancelled"), 1);
    assert_eq!(w.process.metric("p.requests_held_over_limit"), 1);
    assert_eq!(w.process.metric("p.requests_denied"), 1);
    assert!(w.stream(0, held[0], |s| s.resumed));
}

#[test]
fn held_requests_whose_client_left_are_dropped_while_waiting() {
    let (mut w, roots) = started(1, r#"{"on_missing": "wait", "wait_timeout": "1m"}"#);
    w.run(10);
    let (id, _) = w.request(0, roots[0], &[]);
    w.cancel(0, id);
    w.run(1_100);
    assert_eq!(w.held(0), 0);
    w.run(300);
    assert_eq!(w.process.metric("p.requests_held_cancelled"), 1);
}

#[test]
fn an_unreadable_lease_counts_as_held_until_nobody_renews_it() {
    let mut w = World::new(1);
    // Something else in the namespace wrote the lease key first.
    let key = {
        let config = crate::config::parse(b"{}").unwrap();
        super::store::lease_key(&config.providers[0].provider.shared_data_key("p", &[""]))
    };
    w.process.write(&key, b"not a lease");
    w.configure(0, "p", "", "{}");
    w.provider = Some(Answer::json(TOKEN));
    w.run(LEASE_MS - 500);
    assert_eq!(w.calls(), 0, "an unreadable lease is held, not vacant");
    w.run(1_000);
    assert_eq!(w.calls(), 1, "unchanged for a whole lease: taken");
}

#[test]
fn shared_data_keys_carry_the_format_version() {
    let (w, _) = started(1, "{}");
    let keys = w.process.keys();
    assert!(
        keys.iter().all(|k| k.starts_with("header_augmenter/v3/p/")),
        "{keys:?}"
    );
}

#[test]
fn a_forged_record_is_refused_and_the_good_one_kept() {
    let (mut w, roots) = started(1, r#"{"header_cache_expiry": "1h"}"#);
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    let key = w.vms[0].vm.plugins()[0].sources[0].key.clone();
    let mut forged = vec![0u8; 32];
    forged.extend(crate::headers::HeaderSet::encode_unchecked(&[(
        "host", "evil",
    )]));
    w.process.write(&key, &forged);
    w.run(500);
    let (id, _) = w.request(0, roots[0], &[]);
    assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer t1"));
    assert_eq!(w.sent(0, id, "host"), None);
}

#[test]
fn refused_calls_say_why_and_are_counted_apart() {
    for (error, metric, words) in [
        (
            CallError::UnknownCluster,
            "p.provider_unknown_cluster",
            "Envoy has no cluster \"sidecar\"",
        ),
        (
            CallError::NotSent,
            "p.provider_not_sent",
            "no healthy upstream, or an open circuit breaker",
        ),
    ] {
        let (mut w, _) = started(1, "{}");
        w.vms[0].host.call_error.set(Some(error));
        w.run(300); // the first call; the retry comes 500 ms-1 s later
        assert_eq!(w.process.metric(metric), 1, "{metric}");
        assert_eq!(w.process.metric("p.fetches_failed"), 1);
        assert_eq!(w.process.logged(words), 1, "{words}");
    }
}

#[test]
fn a_timeout_is_capped_to_what_envoy_accepts() {
    let (mut w, _) = started(1, r#"{"header_providing_service_timeout": "600h"}"#);
    w.run(10);
    assert_eq!(u64::from(w.last_call().timeout_ms), MAX_CALL_TIMEOUT_MS);
}

#[test]
fn age_shortens_the_lifetime() {
    let (mut w, _) = started(1, r#"{"header_cache_expiry": "1h"}"#);
    w.provider = Some(
        Answer::json(TOKEN)
            .with_header("cache-control", "max-age=100")
            .with_header("age", "90"),
    );
    w.run(10);
    let record = w.vms[0].vm.plugins()[0].sources[0]
        .copy
        .record()
        .unwrap()
        .clone();
    assert_eq!(record.expires_at_ms - record.fetched_at_ms, 10_000);
    assert!(record.refresh_at_ms - record.fetched_at_ms <= 9_000);
}

#[test]
fn the_query_string_of_the_path_is_never_logged() {
    let (w, _) = started(
        1,
        r#"{"header_providing_service_path": "/token?api_key=k3y"}"#,
    );
    assert_eq!(w.process.logged("k3y"), 0);
    assert_eq!(
        w.process
            .logged("path \"/token\" with a query string (not logged)"),
        1
    );
}

// Root contexts going in an order Envoy allows but a naive registry forgets.

#[test]
fn when_the_newest_root_context_goes_first_the_older_one_serves_its_own_configuration() {
    let mut w = World::new(1);
    w.configure(0, "a", "", r#"{"static_headers": {"x-plugin": "a"}}"#);
    let b1 = w.configure(
        0,
        "b",
        "",
        r#"{"static_headers": {"x-plugin": "b1"}, "header_providing_service_cluster": "other"}"#,
    );
    let b2 = w.configure(
        0,
        "b",
        "",
        r#"{"static_headers": {"x-plugin": "b2"}, "header_providing_service_cluster": "other"}"#,
    );
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    // b2 (a rollback, or the second of two listeners removed) goes while b1 lives.
    w.destroy_root(0, b2);
    w.run(1_000);
    assert_eq!(
        w.vms[0].vm.plugins().len(),
        2,
        "b is still configured by b1"
    );
    let (id, _) = w.request(0, b1, &[]);
    assert_eq!(
        w.sent(0, id, "x-plugin").as_deref(),
        Some("b1"),
        "never plugin a's headers"
    );
    assert_eq!(w.process.logged("the one before it serves again"), 1);
}

#[test]
fn a_plugin_whose_newest_root_context_went_first_keeps_polling() {
    let mut w = World::new(1);
    let x = w.configure(0, "p", "", r#"{"header_cache_expiry": "10s"}"#);
    let d = w.configure(
        0,
        "p",
        "",
        r#"{"header_cache_expiry": "10s", "static_headers": {"x-g": "2"}}"#,
    );
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    let before = w.calls();
    w.destroy_root(0, d);
    w.run(30_000);
    assert!(
        w.calls() >= before + 2,
        "{} calls after {before}",
        w.calls()
    );
    let (id, _) = w.request(0, x, &[]);
    assert_eq!(w.sent(0, id, "x-g"), None, "x's own configuration");
    assert!(w.sent(0, id, "authorization").is_some());
}

#[test]
fn a_held_request_of_an_older_root_context_is_served_when_the_newest_goes() {
    let mut w = World::new(1);
    let wait = r#"{"on_missing": "wait", "wait_timeout": "5s"}"#;
    let b1 = w.configure(0, "b", "", wait);
    let b2 = w.configure(0, "b", "", wait);
    w.run(10); // b2 drives: its first call is out, unanswered
    let (held, verdict) = w.request(0, b1, &[]);
    assert_eq!(verdict, Verdict::Pause);
    w.destroy_root(0, b2); // Envoy cancels b2's call
    w.provider = Some(Answer::json(TOKEN));
    w.run(2_000);
    assert!(w.stream(0, held, |s| s.resumed), "held request answered");
    assert_eq!(
        w.sent(0, held, "authorization").as_deref(),
        Some("Bearer t1")
    );
}

#[test]
fn a_call_cancelled_with_its_root_context_is_made_again_at_once_without_a_failure() {
    let mut w = World::new(1);
    let config = r#"{"header_providing_service_timeout": "30s", "on_missing": "deny"}"#;
    let x = w.configure(0, "p", "", config);
    w.run(10); // x's call in flight
    let calls = w.calls();
    w.configure(0, "p", "", config);
    w.destroy_root(0, x);
    w.provider = Some(Answer::json(TOKEN));
    w.run(1_000);
    assert_eq!(
        w.calls(),
        calls + 1,
        "a new call within a second, not after the 31 s watchdog"
    );
    w.run(300);
    assert_eq!(w.process.metric("p.fetches_failed"), 0);
    assert_eq!(w.process.metric("p.fetches_succeeded"), 1);
}
