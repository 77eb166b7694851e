//! Decoding what another VM (or another build of the filter) put in shared data.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| header_augmenter::invariants::shared_data(bytes));
