//! The OAuth2 token-response parser, error codes and token judging, on any body.
#![no_main]
libfuzzer_sys::fuzz_target!(|body: &[u8]| header_augmenter::invariants::token_response(body));
