//! Header validation, on any names and values: the input split at 0x01 into
//! name, value, name, value, ...
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let parts: Vec<&str> = text.split('\u{1}').collect();
    let entries: Vec<(String, String)> =
        parts.chunks(2).map(|p| (p[0].to_string(), p.get(1).unwrap_or(&"").to_string())).collect();
    header_augmenter::invariants::header_entries(&entries);
});
