//! The configuration parser, on any bytes: JSON text or a protobuf Struct.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| header_augmenter::invariants::configuration(bytes));
