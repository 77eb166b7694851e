//! Several providers in one plugin, each scoped to its destinations, on the
//! scripted Envoy of fake.rs: who gets which header, how policies combine,
//! what is counted, and what a reconfiguration keeps.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::fake::{Answer, World};
use super::host::{Level, Verdict};

const LEGACY: &str = "legacy_api";
const API: &str = "outbound|443||api.example.com";

/// Provider `a` for `legacy_api`, provider `b` for `*.example.com`.
const TWO: &str = r#"{"providers": [
    {"name": "a", "header_providing_service_cluster": "idp_a", "header_cache_expiry": "10s",
     "destinations": ["legacy_api"]},
    {"name": "b", "header_providing_service_cluster": "idp_b", "header_cache_expiry": "10s",
     "destinations": ["*.example.com"], "static_headers": {"x-b": "static"}}
]}"#;

fn bearer(token: &str) -> Answer {
    Answer::json(&format!(r#"{{"authorization": "Bearer {token}"}}"#))
}

/// `vms` VMs with plugin `p` configured by `json`, providers `idp_a` and
/// `idp_b` answering tokens `ta` and `tb`; the roots.
fn world(vms: usize, json: &str) -> (World, Vec<u32>) {
    let mut w = World::new(vms);
    w.by_cluster.insert("idp_a".into(), bearer("ta"));
    w.by_cluster.insert("idp_b".into(), bearer("tb"));
    let roots = (0..vms).map(|vm| w.configure(vm, "p", "", json)).collect();
    (w, roots)
}

fn calls_to(w: &World, cluster: &str) -> usize {
    let calls = w.process.calls.borrow();
    calls.iter().filter(|c| c.cluster == cluster).count()
}

/// The `authorization` a request routed to `cluster` carried upstream.
fn sent_to(w: &mut World, vm: usize, root: u32, cluster: Option<&str>) -> Option<String> {
    let (id, verdict) = w.request_to(vm, root, cluster, &[]);
    assert_eq!(verdict, Verdict::Continue);
    w.sent(vm, id, "authorization")
}

#[test]
fn each_destination_gets_only_its_own_providers_token() {
    let (mut w, roots) = world(2, TWO);
    w.run(1_000);
    for (vm, &root) in roots.iter().enumerate() {
        assert_eq!(
            sent_to(&mut w, vm, root, Some(LEGACY)).as_deref(),
            Some("Bearer ta")
        );
        assert_eq!(
            sent_to(&mut w, vm, root, Some(API)).as_deref(),
            Some("Bearer tb")
        );
        assert_eq!(
            sent_to(&mut w, vm, root, Some("outbound|8080|v1|x.example.com")).as_deref(),
            Some("Bearer tb")
        );
        for other in [
            Some("other"),
            Some("example.com"),
            Some("PassthroughCluster"),
            None,
        ] {
            let (id, _) = w.request_to(vm, root, other, &[("host", "api.example.com")]);
            assert_eq!(w.sent(vm, id, "authorization"), None, "{other:?}");
            assert_eq!(w.sent(vm, id, "x-b"), None, "{other:?}");
        }
    }
    // One poller per provider for the whole Envoy.
    assert_eq!((calls_to(&w, "idp_a"), calls_to(&w, "idp_b")), (1, 1));
    w.run(30_000);
    let (a, b) = (calls_to(&w, "idp_a"), calls_to(&w, "idp_b"));
    assert!(
        (3..=5).contains(&a) && (3..=5).contains(&b),
        "{a} and {b} calls in 31s at 10s"
    );
    let m = |name: &str| w.process.metric(name);
    assert_eq!(m("p.a.requests_augmented"), 2);
    assert_eq!(m("p.b.requests_augmented"), 4);
    assert_eq!(m("p.a.requests_out_of_scope"), 2 * 6);
    assert_eq!(m("p.b.requests_out_of_scope"), 2 * 5);
    assert_eq!(m("p.a.fetches_succeeded") as usize, a);
    assert_eq!(
        m("p.requests_augmented"),
        0,
        "a named provider's metrics carry its name"
    );
    assert_eq!(
        m("p.wasm_memory_bytes"),
        2 * 65_536,
        "the memory gauge stays the plugin's"
    );
    assert_eq!(w.process.logged("no destinations"), 0);
}

#[test]
fn one_providers_outage_leaves_the_other_alone_and_its_policy_decides_for_its_destinations() {
    let json = TWO.replace(
        r#""static_headers": {"x-b": "static"}"#,
        r#""on_missing": "deny", "deny_status": 401"#,
    );
    let (mut w, roots) = world(1, &json);
    w.by_cluster.insert(
        "idp_b".into(),
        Answer {
            status: 500,
            ..bearer("x")
        },
    );
    w.run(1_000);
    assert_eq!(
        sent_to(&mut w, 0, roots[0], Some(LEGACY)).as_deref(),
        Some("Bearer ta")
    );
    let (id, verdict) = w.request_to(0, roots[0], Some(API), &[]);
    assert_eq!(verdict, Verdict::Pause);
    assert_eq!(w.stream(0, id, |s| s.local_reply), Some(401));
    w.run(500);
    assert_eq!(w.process.metric("p.b.requests_denied"), 1);
    assert_eq!(w.process.metric("p.a.requests_denied"), 0);
    let failed = w.process.metric("p.b.fetches_failed");
    assert!(
        (1..=2).contains(&failed),
        "{failed} in 1.5s, the first retry after 1s"
    );
    assert_eq!(
        w.process.logged("provider \"b\": header fetch failed") as i64,
        failed
    );
    assert_eq!(w.process.metric("p.a.fetches_failed"), 0);
}

#[test]
fn in_the_scope_of_two_providers_a_request_gets_both_and_the_first_wins_a_clash() {
    let json = r#"{"providers": [
        {"name": "a", "header_providing_service_cluster": "idp_a",
         "static_headers": {"x-a": "1", "authorization": "static"}},
        {"name": "b", "header_providing_service_cluster": "idp_b", "static_headers": {"x-b": "2"}}
    ]}"#;
    let (mut w, roots) = world(1, json);
    w.run(1_000);
    let (id, _) = w.request(0, roots[0], &[]);
    assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer ta"));
    assert_eq!(w.sent(0, id, "x-a").as_deref(), Some("1"));
    assert_eq!(w.sent(0, id, "x-b").as_deref(), Some("2"));
    w.run(500);
    assert_eq!(w.process.metric("p.b.header_clashes"), 1);
    assert_eq!(
        w.process.metric("p.a.header_clashes"),
        0,
        "a's own static value yields to its fetched one"
    );
    assert_eq!(w.process.metric("p.b.requests_augmented"), 1);
    let unscoped =
        |name: &str| format!("configured: provider \"{name}\" at cluster \"idp_{name}\"");
    for name in ["a", "b"] {
        assert_eq!(w.process.logged_at(Level::Warn, &unscoped(name)), 1);
        assert_eq!(w.process.logged_at(Level::Warn, super::report::UNSCOPED), 2);
    }
}

#[test]
fn a_request_waits_for_every_waiting_provider_and_the_first_denial_decides() {
    // a waits up to 5s, b (ready) applies: the request is held until a has headers.
    let json = r#"{"providers": [
        {"name": "a", "header_providing_service_cluster": "idp_a", "on_missing": "wait", "wait_timeout": "5s"},
        {"name": "b", "header_providing_service_cluster": "idp_b", "static_headers": {"x-b": "2"}}
    ]}"#;
    let mut w = World::new(1);
    w.by_cluster
        .insert("idp_b".into(), Answer::json(r#"{"x-token-b": "tb"}"#));
    let root = w.configure(0, "p", "", json);
    w.run(1_000); // idp_a never answers: a's first fetch stays out
    let (held, verdict) = w.request(0, root, &[]);
    assert_eq!(verdict, Verdict::Pause);
    w.run(2_000);
    assert!(!w.stream(0, held, |s| s.resumed));
    let a_call = w
        .process
        .calls
        .borrow()
        .iter()
        .find(|c| c.cluster == "idp_a")
        .unwrap()
        .token;
    w.answer(a_call, bearer("ta"));
    w.run(100);
    assert!(w.stream(0, held, |s| s.resumed));
    assert_eq!(
        w.sent(0, held, "authorization").as_deref(),
        Some("Bearer ta")
    );
    assert_eq!(w.sent(0, held, "x-token-b").as_deref(), Some("tb"));
    w.run(500);
    assert_eq!(w.process.metric("p.a.requests_held_resumed"), 1);
    assert_eq!(w.process.metric("p.b.requests_held_resumed"), 1);

    // a wait that times out denies with a's status, whatever b has.
    let (mut w, roots) = world(
        1,
        &json.replace(
            r#""wait_timeout": "5s""#,
            r#""wait_timeout": "1s", "deny_status": 429"#,
        ),
    );
    w.by_cluster.remove("idp_a");
    w.run(1_000);
    let (held, _) = w.request(0, roots[0], &[]);
    w.run(1_100);
    assert_eq!(w.stream(0, held, |s| s.local_reply), Some(429));
    w.run(500);
    assert_eq!(w.process.metric("p.a.requests_held_denied"), 1);
    assert_eq!(w.process.metric("p.b.requests_held_denied"), 1);
}

#[test]
fn a_reconfiguration_keeps_a_provider_that_stays_and_starts_one_that_is_new() {
    let one = r#"{"providers": [{"name": "a", "header_providing_service_cluster": "idp_a", "header_cache_expiry": "1h"}]}"#;
    let (mut w, _) = world(1, one);
    w.run(1_000);
    assert_eq!(calls_to(&w, "idp_a"), 1);
    let two = r#"{"providers": [
        {"name": "a", "header_providing_service_cluster": "idp_a", "header_cache_expiry": "1h", "destinations": ["legacy_api"]},
        {"name": "b", "header_providing_service_cluster": "idp_b", "destinations": ["outbound|443||api.example.com"]}
    ]}"#;
    let root = w.configure(0, "p", "", two);
    w.run(1_000);
    assert_eq!(
        calls_to(&w, "idp_a"),
        1,
        "a's headers carry on: no new call"
    );
    assert_eq!(calls_to(&w, "idp_b"), 1);
    assert_eq!(
        sent_to(&mut w, 0, root, Some(LEGACY)).as_deref(),
        Some("Bearer ta")
    );
    assert_eq!(
        sent_to(&mut w, 0, root, Some(API)).as_deref(),
        Some("Bearer tb")
    );
    // Back to the top-level form: provider "default", its own key and metrics.
    let root = w.configure(
        0,
        "p",
        "",
        r#"{"header_providing_service_cluster": "idp_b"}"#,
    );
    w.run(1_000);
    assert_eq!(
        sent_to(&mut w, 0, root, Some(LEGACY)).as_deref(),
        Some("Bearer tb")
    );
    w.run(500);
    assert_eq!(w.process.metric("p.requests_augmented"), 1);
    let line = "configured: provider cluster \"idp_b\"";
    assert_eq!(
        w.process.logged_at(Level::Warn, line),
        1,
        "the top-level provider is unscoped"
    );
}
