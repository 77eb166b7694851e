"""Renames exports of a wasm module in place, rewriting its export section.

    python3 rename_exports.py MODULE.wasm OLD=NEW [OLD=NEW ...]

scripts/build.sh uses it to export the filter's own stream callbacks under
the names Envoy looks up (src/http.rs says why). Fails if an OLD name is
missing or a NEW name is already exported, so a mistake cannot pass silently.
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


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def rename(module: bytes, renames: dict) -> bytes:
    assert module[:8] == b"\0asm\x01\0\0\0", "not a wasm module"
    out, pos = bytearray(module[:8]), 8
    while pos < len(module):
        section_id = module[pos]
        size, body_start = leb(module, pos + 1)
        body = module[body_start:body_start + size]
        if section_id == 7:
            body = rename_in_section(body, renames)
        out += bytes([section_id]) + uleb(len(body)) + body
        pos = body_start + size
    return bytes(out)


def rename_in_section(body: bytes, renames: dict) -> bytes:
    count, pos = leb(body, 0)
    exports = []
    for _ in range(count):
        length, pos = leb(body, pos)
        name = body[pos:pos + length].decode()
        pos += length
        kind = body[pos]
        index, end = leb(body, pos + 1)
        exports.append((name, body[pos:end]))
        pos = end
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
