//! No input makes a parser allocate or recurse without bound: the worst
//! inputs of each kind, at the largest size the filter reads, parsed on a
//! thread with a small stack, while a counting allocator records the peak of
//! what the parse holds. The fuzz targets check the same over random inputs,
//! but only against libFuzzer's 128 MB per-allocation limit; this states the
//! bound the filter actually keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use header_augmenter::{config, duration, provider, store::Record, structpb};

/// Counts the bytes the current thread holds, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note(grow: usize, shrink: usize) {
    // `try_with`: the allocator also runs while a thread's locals are torn down.
    let _ = LIVE.try_with(|live| {
        let now = (live.get() + grow).saturating_sub(shrink);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, layout.size());
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size, layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The wasm32 build runs on a 64 KiB shadow stack (.cargo/config.toml); a
/// host frame is larger than a wasm one, so 256 KiB here is no looser. A
/// parser recursing once per nesting level would overflow it long before
/// 30,000 levels.
const STACK: usize = 256 * 1024;

/// The most a parse may hold at once, linear in its input: the body as read,
/// the decoded strings, and per member its slot in the list of entries and,
/// if refused, in the list of refusals. The worst case, a body of 8,000
/// repeated 8-byte members, holds about 11 times the body (730 KB for the
/// largest, 64 KiB body); the bound leaves room above that for how `Vec`s
/// grow, and still fails a parser that grew superlinearly.
fn bound(input: usize) -> usize {
    16 * input + 64 * 1024
}

/// Runs `parse` on a small stack and returns the peak bytes it held.
fn peak_of(parse: impl FnOnce() + Send + 'static) -> usize {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || {
            let start = LIVE.with(Cell::get);
            PEAK.with(|peak| peak.set(start));
            parse();
            PEAK.with(Cell::get) - start
        })
        .unwrap()
        .join()
        .expect("the parse overflowed its stack or panicked")
}

/// The worst provider bodies and configurations: deep nesting, many small
/// members, escapes that expand, long strings, each just under `limit`.
fn hostile_json(limit: usize) -> Vec<(&'static str, Vec<u8>)> {
    let depth = (limit - 8) / 2;
    let fill = |unit: &str, open: &str, close: &str| {
        let n = (limit - open.len() - close.len()) / unit.len();
        [open, &unit.repeat(n), close].concat().into_bytes()
    };
    let mut many_members = fill("\"x\":\"v\",", "{", "\"y\":\"v\"}");
    many_members.truncate(limit);
    vec![
        (
            "arrays nested",
            [
                b"{\"a\":".as_slice(),
                &b"[".repeat(depth),
                &b"]".repeat(depth),
                b"}",
            ]
            .concat(),
        ),
        (
            "objects nested",
            [
                &b"{\"a\":".repeat(depth / 5),
                b"1".as_slice(),
                &b"}".repeat(depth / 5),
            ]
            .concat(),
        ),
        ("unclosed nesting", b"[".repeat(limit)),
        ("many members", fill("\"x\":\"v\",", "{", "\"y\":\"v\"}")),
        ("many distinct headers", {
            let mut body = b"{".to_vec();
            let mut i = 0;
            while body.len() < limit - 32 {
                body.extend_from_slice(format!("\"x-{i}\":\"v\",").as_bytes());
                i += 1;
            }
            body.extend_from_slice(b"\"z\":\"v\"}");
            body
        }),
        ("escapes", fill("\\u00e9", "{\"x\":\"", "\"}")),
        (
            "surrogate pairs",
            fill("\\ud83d\\ude00", "{\"x\":\"", "\"}"),
        ),
        ("one long string", fill("a", "{\"x\":\"", "\"}")),
        ("long numbers", fill("1", "{\"deny_status\":", "}")),
        ("white space", fill(" ", "{", "}")),
    ]
}

#[test]
fn provider_bodies_are_parsed_in_bounded_memory_without_recursion() {
    let limit = provider::MAX_BODY_BYTES;
    for (what, body) in hostile_json(limit) {
        assert!(body.len() <= limit, "{what}: {} bytes", body.len());
        let len = body.len();
        let peak = peak_of(move || {
            let _ = provider::judge(Some(b"200"), body.len(), || Some(body.clone()), None);
        });
        eprintln!("provider body, {what}: {len} bytes, peak {peak} bytes held");
        assert!(
            peak <= bound(len),
            "{what}: {peak} bytes held for a {len}-byte body"
        );
    }
}

#[test]
fn configurations_are_parsed_in_bounded_memory_without_recursion() {
    // Inside `static_headers`, the one field whose value is an open object.
    let limit = config::MAX_CONFIG_BYTES;
    let field = b"{\"static_headers\":";
    for (what, value) in hostile_json(limit - field.len() - 1) {
        let text = [field.as_slice(), &value, b"}"].concat();
        let len = text.len();
        let peak = peak_of(move || {
            let _ = config::parse(&text);
        });
        eprintln!("configuration, {what}: {len} bytes, peak {peak} bytes held");
        assert!(
            peak <= bound(len),
            "{what}: {peak} bytes held for a {len}-byte configuration"
        );
    }
}

#[test]
fn struct_configurations_are_converted_in_bounded_memory_without_recursion() {
    // A google.protobuf.Struct nested as deep as 64 KiB allows: each level
    // a map entry (field 1) whose value (2) is a Value holding a struct (5).
    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![number << 3 | 2];
        let mut n = payload.len();
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        [out.as_slice(), payload].concat()
    }
    let mut nested = Vec::new();
    loop {
        let entry = [field(1, b"a"), field(2, &field(5, &nested))].concat();
        let next = field(1, &entry);
        if next.len() > config::MAX_CONFIG_BYTES {
            break;
        }
        nested = next;
    }
    let strings = [0x0a, 0x00].repeat(config::MAX_CONFIG_BYTES / 2);
    for (what, bytes) in [("nested structs", nested), ("many empty entries", strings)] {
        let len = bytes.len();
        let peak = peak_of(move || {
            let _ = structpb::to_json(&bytes).map(|json| config::parse(json.as_bytes()));
        });
        assert!(
            peak <= bound(len),
            "{what}: {peak} bytes held for {len} bytes"
        );
    }
}

#[test]
fn durations_and_shared_data_are_read_in_bounded_memory() {
    let long = "1h".repeat(4096);
    let peak = peak_of(move || {
        let _ = duration::parse_ms(&long);
    });
    assert!(peak <= bound(8192), "a long duration: {peak} bytes");
    let record = vec![0xffu8; 65_536];
    let peak = peak_of(move || {
        let _ = Record::decode(&record);
    });
    assert!(peak <= bound(65_536), "a hostile record: {peak} bytes");
}
