//! The JSON scanner, header validation and provider judging, on any body.
#![no_main]
libfuzzer_sys::fuzz_target!(|body: &[u8]| header_augmenter::invariants::provider_body(body));
