"""The shipped file itself: within the size budget, its checksum beside it,
and exactly the exports the build means to keep."""

import hashlib

from envoy import WASM

BUDGET = 100_000

# Must match the list in scripts/build.sh: a callback the code starts to rely on
# (say on_request_body) fails here until the build keeps its export.
EXPORTS = {"memory", "_initialize", "malloc", "proxy_abi_version_0_2_1", "proxy_on_context_create",
           "proxy_on_configure", "proxy_on_tick", "proxy_on_http_call_response", "proxy_on_request_headers",
           "proxy_on_response_headers", "proxy_on_delete"}


def sections(data: bytes):
    """(id, payload) of each section of a wasm module."""
    assert data[:8] == b"\0asm\x01\0\0\0"
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, pos = leb128(data, pos + 1)
        yield sid, data[pos:pos + size]
        pos += size


def leb128(data: bytes, pos: int):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def exports(data: bytes) -> set[str]:
    for sid, payload in sections(data):
        if sid == 7:
            count, pos = leb128(payload, 0)
            names = set()
            for _ in range(count):
                length, pos = leb128(payload, pos)
                names.add(payload[pos:pos + length].decode())
                _, pos = leb128(payload, pos + length + 1)  # kind byte, then index
            return names
    return set()


def test_size_is_within_budget():
    size = WASM.stat().st_size
    assert size <= BUDGET, f"{WASM} is {size} bytes, over the {BUDGET}-byte budget: see scripts/size-report.sh"


def test_checksum_file_matches():
    recorded = (WASM.parent / (WASM.name + ".sha256")).read_text().split()
    assert recorded == [hashlib.sha256(WASM.read_bytes()).hexdigest(), WASM.name]


def test_exports_are_exactly_the_kept_callbacks():
    assert exports(WASM.read_bytes()) == EXPORTS


def test_no_custom_sections_ship():
    assert [sid for sid, _ in sections(WASM.read_bytes()) if sid == 0] == []
