"""Renames exports of a wasm module in place, rewriting its export section.

    python3 -m harness.rename_exports MODULE.wasm OLD=NEW [OLD=NEW ...]

scripts/build.sh uses it to export the filter's own stream callbacks under
the names Envoy looks up (src/shim/exports.rs says why); tests/offline/test_artifact.py
reads the exports with it. Fails if an OLD name is missing or a NEW name is
already exported, so a mistake cannot pass silently.
"""

import sys


def leb(data: bytes, pos: int):
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def sleb(data: bytes, pos: int):
    """A signed LEB128 at `pos`: its value and the position after it."""
    value, end = leb(data, pos)
    bits = 7 * (end - pos)
    return (value - (1 << bits) if data[end - 1] & 0x40 else value), end


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sections(module: bytes):
    """(id, body) of each section of a wasm module, in order."""
    assert module[:8] == b"\0asm\x01\0\0\0", "not a wasm module"
    pos = 8
    while pos < len(module):
        size, start = leb(module, pos + 1)
        yield module[pos], module[start:start + size]
        pos = start + size


def export_entries(body: bytes):
    """(name, kind and index bytes) of each export in an export section's body."""
    count, pos = leb(body, 0)
    for _ in range(count):
        length, pos = leb(body, pos)
        name = body[pos:pos + length].decode()
        pos += length
        _, end = leb(body, pos + 1)  # the kind byte, then the index
        yield name, body[pos:end]
        pos = end


def rename(module: bytes, renames: dict) -> bytes:
    out = bytearray(module[:8])
    for section_id, body in sections(module):
        if section_id == 7:
            body = rename_in_section(body, renames)
        out += bytes([section_id]) + uleb(len(body)) + body
    return bytes(out)


def rename_in_section(body: bytes, renames: dict) -> bytes:
    exports = list(export_entries(body))
    names = [name for name, _ in exports]
    for old, new in renames.items():
        if old not in names:
            sys.exit(f"error: no export {old!r} to rename")
        if new in names:
            sys.exit(f"error: {new!r} is already exported")
    out = bytearray(uleb(len(exports)))
    for name, rest in exports:
        name = renames.get(name, name).encode()
        out += uleb(len(name)) + name + rest
    return bytes(out)


if __name__ == "__main__":
    path, pairs = sys.argv[1], sys.argv[2:]
    renames = dict(pair.split("=", 1) for pair in pairs)
    with open(path, "rb") as f:
        module = f.read()
    with open(path, "wb") as f:
        f.write(rename(module, renames))
