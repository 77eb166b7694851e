//! The duration parser, on any text.
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        header_augmenter::invariants::duration_text(text);
    }
});
