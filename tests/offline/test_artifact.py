"""The shipped file itself: within the size budget, its checksum beside it,
and exactly the exports the build means to keep."""

import hashlib

import pytest

from harness.envoy import ROOT, WASM, WASM_RESPONSE
from harness.rename_exports import export_entries, leb, sections  # the build's own reader
from harness.strip_dead_data import data_segments

BUDGET = 100_000
# Callbacks Envoy would call on every request: each costs about a microsecond
# (src/shim/exports.rs), so no build may export one.
PER_REQUEST = {"proxy_on_context_create", "proxy_on_done", "proxy_on_delete", "proxy_on_log"}
# Host functions the filter may import: proxy-wasm's, and Envoy's clocks through WASI.
IMPORT_MODULES = {"env", "wasi_snapshot_preview1"}
WASI = {"clock_time_get", "environ_sizes_get", "environ_get"}  # the monotonic clock; the environment (secrets)


def kept(flavor: str) -> set[str]:
    """The exports scripts/lib/exports.txt (the list scripts/build.sh builds from) names for a flavor."""
    names = set()
    for line in (ROOT / "scripts" / "lib" / "exports.txt").read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and (len(fields) < 3 or fields[2] == flavor):
            names.add(fields[1] if len(fields) > 1 else fields[0])
    return names


ARTIFACTS = {WASM: kept("request"), WASM_RESPONSE: kept("response")}


def exports(module: bytes) -> set[str]:
    return {name for sid, body in sections(module) if sid == 7 for name, _ in export_entries(body)}


def imports(module: bytes) -> set[tuple[str, str]]:
    """(module, name) of each import."""
    found = set()
    for sid, body in sections(module):
        if sid != 2:
            continue
        count, pos = leb(body, 0)
        for _ in range(count):
            names = []
            for _ in range(2):
                length, pos = leb(body, pos)
                names.append(body[pos:pos + length].decode())
                pos += length
            assert body[pos] == 0, "only functions are imported"
            _, pos = leb(body, pos + 1)
            found.add(tuple(names))
    return found


each = pytest.mark.parametrize("wasm", list(ARTIFACTS), ids=lambda p: p.name)


@each
def test_size_is_within_budget(wasm):
    size = wasm.stat().st_size
    assert size <= BUDGET, f"{wasm} is {size} bytes, over the {BUDGET}-byte budget: see scripts/size-report.sh"


@each
def test_checksum_file_matches(wasm):
    recorded = (wasm.parent / (wasm.name + ".sha256")).read_text().split()
    assert recorded == [hashlib.sha256(wasm.read_bytes()).hexdigest(), wasm.name]


@each
def test_exports_are_exactly_the_kept_callbacks(wasm):
    assert exports(wasm.read_bytes()) == ARTIFACTS[wasm]
    assert {"proxy_on_configure", "proxy_on_request_headers", "memory"} <= ARTIFACTS[wasm]
    assert not ARTIFACTS[wasm] & PER_REQUEST


@each
def test_imports_are_the_abi_the_wasi_clock_and_environment(wasm):
    found = imports(wasm.read_bytes())
    assert {m for m, _ in found} <= IMPORT_MODULES, found
    assert {n for m, n in found if m == "wasi_snapshot_preview1"} == WASI
    assert ("env", "proxy_set_effective_context") in found


@each
def test_no_custom_sections_ship(wasm):
    assert [sid for sid, _ in sections(wasm.read_bytes()) if sid == 0] == []


@each
def test_no_data_of_snipped_code_ships(wasm):
    """What snipped panics and formatting left in the data segments is gone
    (harness/strip_dead_data.py): no source path, no panic message."""
    module = wasm.read_bytes()
    data = b"".join(content for sid, body in sections(module) if sid == 11
                    for _, content in data_segments(body))
    for left in (b"/rustc/", b"src/filter/", b".cargo/registry", b"called `Result::unwrap()`",
                 b"out of range for slice", b"invalid context_id"):
        assert left not in data, left
    assert b"the configuration is not valid JSON: " in data, "the filter's own messages stay"
