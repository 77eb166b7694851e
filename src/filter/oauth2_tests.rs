//! An `oauth2` provider on the scripted Envoy of fake.rs: the token request
//! it makes, the token it adds, the refresh its `expires_in` brings, and an
//! error answer that keeps the last good token and names its code, never a
//! secret.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::fake::{Answer, World};
use super::form;

const SECRET: &str = "s3cr3t+/=";

fn config(client_auth: &str) -> String {
    format!(
        r#"{{"header_providing_service_cluster": "idp", "header_providing_service_authority": "idp.example",
            "header_providing_service_path": "/oauth2/token", "header_cache_expiry": "1h",
            "oauth2": {{"client_id": "app", "client_secret_env": "IDP_SECRET", "client_auth": "{client_auth}",
                       "scopes": ["orders.read"], "resource": "https://orders"}}}}"#
    )
}

fn token(access: &str, expires_in: u32) -> Answer {
    Answer::json(&format!(
        r#"{{"access_token": "{access}", "token_type": "bearer", "expires_in": {expires_in}, "scope": "orders.read"}}"#
    ))
}

fn world(client_auth: &str) -> (World, u32) {
    let mut w = World::new(1);
    *w.process.environment.borrow_mut() = format!("HOME=/\0IDP_SECRET={SECRET}\0").into_bytes();
    let root = w.configure(0, "p", "", &config(client_auth));
    (w, root)
}

fn header<'a>(call: &'a super::fake::Call, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_token_request_is_a_form_post_with_basic_or_body_credentials() {
    let (mut w, _) = world("basic");
    w.run(500);
    let call = w.last_call();
    assert_eq!(header(&call, ":method"), Some("POST"));
    assert_eq!(header(&call, ":path"), Some("/oauth2/token"));
    assert_eq!(header(&call, ":authority"), Some("idp.example"));
    assert_eq!(
        header(&call, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(header(&call, "accept"), Some("application/json"));
    let basic = form::basic_credentials("app", SECRET);
    assert_eq!(header(&call, "authorization"), Some(basic.as_str()));
    assert_eq!(
        String::from_utf8(call.body).unwrap(),
        "grant_type=client_credentials&scope=orders.read&resource=https%3A%2F%2Forders"
    );

    let (mut w, _) = world("body");
    w.run(500);
    let call = w.last_call();
    assert_eq!(header(&call, "authorization"), None);
    assert_eq!(
        String::from_utf8(call.body).unwrap(),
        "grant_type=client_credentials&scope=orders.read&resource=https%3A%2F%2Forders\
         &client_id=app&client_secret=s3cr3t%2B%2F%3D"
    );
}

#[test]
fn the_token_goes_in_as_bearer_and_is_refreshed_before_it_expires() {
    let (mut w, root) = world("basic");
    w.provider = Some(token("t1", 100));
    w.run(500);
    let (id, _) = w.request(0, root, &[]);
    assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer t1"));
    // expires_in 100 s: refreshed at 72-90 s, although header_cache_expiry is 1h.
    w.provider = Some(token("t2", 100));
    w.run(71_000);
    assert_eq!(w.calls(), 1);
    w.run(19_000);
    assert_eq!(w.calls(), 2);
    let (id, _) = w.request(0, root, &[]);
    assert_eq!(w.sent(0, id, "authorization").as_deref(), Some("Bearer t2"));
}

#[test]
fn a_token_without_expires_in_lasts_header_cache_expiry_whatever_its_cache_control() {
    // Token endpoints send `Cache-Control: no-store` (RFC 6749 §5.1), and
    // some `max-age=0` besides: that is no lifetime for the token.
    let (mut w, _) = world("basic");
    w.provider = Some(Answer {
        status: 200,
        headers: vec![(
            "cache-control".into(),
            "no-cache, no-store, max-age=0, must-revalidate".into(),
        )],
        body: r#"{"access_token": "t1", "token_type": "Bearer"}"#.into(),
    });
    w.run(500);
    assert_eq!(w.calls(), 1);
    w.run(600_000);
    assert_eq!(
        w.calls(),
        1,
        "not refetched within 10 minutes of a 1h expiry"
    );
}

#[test]
fn an_error_answer_keeps_the_last_token_and_names_its_code_only() {
    let (mut w, root) = world("basic");
    w.provider = Some(token("t1", 10));
    w.run(500);
    w.provider = Some(Answer {
        status: 401,
        headers: Vec::new(),
        body: format!(
            r#"{{"error": "invalid_client", "error_description": "bad secret {SECRET}"}}"#
        ),
    });
    w.run(10_000);
    let (id, _) = w.request(0, root, &[]);
    assert_eq!(
        w.sent(0, id, "authorization").as_deref(),
        Some("Bearer t1"),
        "the last good token"
    );
    let failed = w.process.metric("p.fetches_failed");
    assert!(failed >= 1, "{failed}");
    assert!(
        w.process
            .logged("the provider call returned HTTP 401, error \"invalid_client\"")
            >= 1
    );
    let logs = w.process.logs.borrow();
    for (_, _, line) in logs.iter() {
        assert!(
            !line.contains(SECRET) && !line.contains("czNjcjN0") && !line.contains("t1"),
            "{line}"
        );
    }
    assert!(logs
        .iter()
        .any(|(_, _, l)| l.contains("oauth2 client \"app\"")));
}

#[test]
fn a_missing_secret_fails_the_configuration_naming_the_variable() {
    let mut w = World::new(1);
    assert!(!w.try_configure(0, "p", "", &config("basic")).1);
    let expected = "invalid configuration: oauth2.client_secret_env: the environment variable \"IDP_SECRET\" is not set, or empty";
    assert_eq!(w.process.logged(expected), 1);
}
