//! Property tests, on stable: the invariants of src/invariants.rs (the same
//! the fuzz targets check) over generated inputs, run by `cargo test`.
#![allow(clippy::unwrap_used)]

use header_augmenter::invariants;
use proptest::prelude::*;

/// Header names: mostly tokens, sometimes anything.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,24}",
        1 => "(host|Host|content-length|connection|te|upgrade|x-envoy-[a-z]{1,8}|:path|:authority)",
        1 => any::<String>(),
    ]
}

/// Header values: mostly field values, sometimes with control characters,
/// surrounding space, non-ASCII, or nothing.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[ -~]{1,64}",
        1 => "[\\x00-\\x1f\\x7f]{0,4}[a-z]{0,8}",
        1 => any::<String>(),
        1 => Just(String::new()),
        1 => "[a-z]{1,8}[^\\x00-\\x7f]{1,4}",
    ]
}

fn entries() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..80)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The filter's UTF-8 check (text.rs) accepts and refuses what the
    /// standard library does, refusing at the same byte: it vouches for
    /// the `str` it hands out.
    #[test]
    fn utf8_is_checked_as_the_standard_library_does(
        bytes in proptest::collection::vec(prop_oneof![any::<u8>(), 0x80u8..0xc0, 0xc2u8..0xf5], 0..24)
    ) {
        let ours = header_augmenter::text::utf8(&bytes);
        prop_assert_eq!(ours, std::str::from_utf8(&bytes).map_err(|e| e.valid_up_to()));
    }

    #[test]
    fn any_bytes_as_a_provider_body(body in prop::collection::vec(any::<u8>(), 0..512)) {
        invariants::provider_body(&body);
    }

    #[test]
    fn json_objects_as_a_provider_body(entries in entries()) {
        // Encoded by another JSON implementation than the scanner's.
        let object: serde_json::Map<String, serde_json::Value> =
            entries.iter().map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone()))).collect();
        let body = serde_json::to_vec(&object).unwrap();
        invariants::provider_body(&body);
        // And the scanner reads back exactly what was encoded.
        let accepted = header_augmenter::provider::judge(Some(b"200"), body.len(), || Some(body.clone()), None);
        let pairs = object.iter().map(|(n, v)| (n.as_str().into(), v.as_str().unwrap().into()));
        let (expected, _) = header_augmenter::headers::validate(pairs);
        match accepted {
            Ok((a, _)) => prop_assert_eq!(a.set, expected),
            Err(_) => prop_assert!(expected.is_empty() && !object.is_empty()),
        }
    }

    #[test]
    fn provider_entries(entries in entries()) {
        invariants::header_entries(&entries);
    }

    #[test]
    fn any_bytes_as_a_token_response(body in prop::collection::vec(any::<u8>(), 0..512)) {
        invariants::token_response(&body);
    }

    #[test]
    fn token_responses(
        token in "[ -~]{0,40}",
        kind in prop::option::of("[A-Za-z]{0,8}"),
        expires in prop::option::of("-?[0-9]{1,6}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?"),
        extra in prop::collection::vec(("[a-z_]{1,8}", config_value()), 0..4),
    ) {
        let mut object = serde_json::Map::new();
        for (k, v) in extra {
            object.insert(k, v);
        }
        object.insert("access_token".into(), token.into());
        if let Some(kind) = kind {
            object.insert("token_type".into(), kind.into());
        }
        let mut body = serde_json::Value::Object(object).to_string();
        if let Some(expires) = expires {
            body.insert_str(body.len() - 1, &format!(r#","expires_in":{expires}"#));
        }
        invariants::token_response(body.as_bytes());
    }

    #[test]
    fn any_bytes_as_shared_data(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        invariants::shared_data(&bytes);
    }

    #[test]
    fn any_bytes_as_a_configuration(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        invariants::configuration(&bytes);
    }

    #[test]
    fn configuration_objects(fields in prop::collection::vec((config_field(), config_value()), 0..8)) {
        let object: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
        invariants::configuration(&serde_json::to_vec(&object).unwrap());
    }

    #[test]
    fn any_duration_text(text in "\\PC{0,16}|[0-9.]{1,12}(ms|s|m|h|d|us|)([0-9]{1,3}(ms|s|m|h))?") {
        invariants::duration_text(&text);
    }

    #[test]
    fn durations_written_as_logs_write_them(ms in 1..=header_augmenter::duration::MAX_MS) {
        invariants::duration_round_trip(ms);
    }
}

fn config_field() -> impl Strategy<Value = String> {
    let known: Vec<String> = [
        "header_providing_service_cluster",
        "header_providing_service_authority",
        "header_providing_service_path",
        "header_cache_expiry",
        "header_providing_service_timeout",
        "overwrite",
        "retry_initial",
        "retry_max",
        "max_stale",
        "on_missing",
        "deny_status",
        "wait_timeout",
        "static_headers",
        "target",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![9 => prop::sample::select(known), 1 => "[a-z_]{1,20}"]
}

fn config_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (400..600i64).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[0-9]{1,4}(ms|s|m|h)".prop_map(Value::String),
        "/[a-z/]{0,12}".prop_map(Value::String),
        "(continue|deny|wait|request|response|both)".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
