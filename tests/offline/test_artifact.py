"""The shipped file itself: within the size budget, its checksum beside it,
and exactly the exports the build means to keep."""

import hashlib

import pytest

from harness.envoy import WASM, WASM_RESPONSE
from harness.rename_exports import export_entries, sections  # the build's own reader

BUDGET = 100_000

# Must match the lists in scripts/build.sh: a callback the code starts to rely on
# (say on_request_body) fails here until the build keeps its export. No
# proxy_on_context_create, proxy_on_delete, proxy_on_done or proxy_on_log: each
# would be a call into the VM on every request (src/exports.rs).
EXPORTS = {"memory", "malloc", "proxy_abi_version_0_2_1", "proxy_on_configure", "proxy_on_tick",
           "proxy_on_http_call_response", "proxy_on_request_headers"}
ARTIFACTS = {WASM: EXPORTS, WASM_RESPONSE: EXPORTS | {"proxy_on_response_headers"}}


def exports(module: bytes) -> set[str]:
    return {name for sid, body in sections(module) if sid == 7 for name, _ in export_entries(body)}


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


@each
def test_no_custom_sections_ship(wasm):
    assert [sid for sid, _ in sections(wasm.read_bytes()) if sid == 0] == []
