"""Drops the data only snipped code used from a built module, in place.

    python3 -m harness.strip_dead_data MODULE.wasm [SOURCE_DIR]

scripts/build.sh snips every panicking and formatting function (wasm-snip),
and the SDK's dispatcher, and wasm-opt then drops the code that called them,
but not their data: the linker laid it out before, and no wasm tool knows
which bytes of a data segment are still read. Two kinds are found here:

- panic locations. Every place Rust code may panic (a bounds check in std, a
  `RefCell` borrow) has a `core::panic::Location`: a pointer to its source
  file's path, the path's length, a line and a column, 16 bytes. A record of
  that shape whose pointer is to a printable `*.rs` path of exactly that
  length is dropped when nothing refers to any of its bytes: no constant
  (either half of a 64-bit one) or
  load and store offset in the code, no global's initial value, no
  pointer-sized word in the rest of the data. Its path goes too when only
  dropped locations point at it.
- strings, when SOURCE_DIR (the filter's `src/`) is given: a run of 4 or
  more bytes of text (printable ASCII, tab, line ends, UTF-8) that nothing
  refers to from 64 bytes before it to its end (formatting's and the SDK's
  messages, the digit tables of `core::fmt`), but for any of the filter's
  own string literals of 8 bytes or more inside it. The 64 bytes cover code
  that folds a small bias into a table's address; a table indexed with a
  larger one would be the filter's own literal (what std code the module
  keeps reads no text table), and stays whole.

Nothing else is touched. Dropped bytes become zero, which the fresh linear
memory holds anyway, and each data segment is split around long runs of
zeros so they cost nothing in the file.

Fails, rather than guessing, on anything it cannot read (a passive data
segment, an instruction it does not know).
"""

import bisect
import pathlib
import re
import struct
import sys

from harness.rename_exports import leb, sections, sleb, uleb

# Where a run of zeros is worth a segment of its own: a segment's header is
# its flags, `i32.const <offset>`, `end` and its size, 8 bytes or less.
SPLIT_AT = 8


BLOCK_TYPES = {0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}


def addresses_in(expr: bytes, pos: int, end: int, out: set):
    """Adds every i32 constant and memory offset of the instructions in
    expr[pos:end] to `out` (each may be, or lead to, a data address)."""
    while pos < end:
        op = expr[pos]
        pos += 1
        if op in (0x02, 0x03, 0x04):  # block, loop, if: a block type
            pos = pos + 1 if expr[pos] in BLOCK_TYPES else sleb(expr, pos)[1]
        elif op in (0x0C, 0x0D, 0x10, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2, 0x3F, 0x40):
            pos = leb(expr, pos)[1]
        elif op == 0x0E:  # br_table
            count, pos = leb(expr, pos)
            for _ in range(count + 1):
                pos = leb(expr, pos)[1]
        elif op in (0x11, 0x13):  # call_indirect: type, table
            pos = leb(expr, leb(expr, pos)[1])[1]
        elif op == 0x1C:  # select with types
            count, pos = leb(expr, pos)
            pos += count
        elif 0x28 <= op <= 0x3E:  # loads and stores: align, offset
            align, pos = leb(expr, pos)
            if align & 0x40:
                raise SystemExit("error: a memory index (multi-memory) is not read here")
            offset, pos = leb(expr, pos)
            out.add(offset)
        elif op == 0x41:
            value, pos = sleb(expr, pos)
            out.add(value & 0xFFFFFFFF)
        elif op == 0x42:  # both halves: a pointer and a length may travel as one i64
            value, pos = sleb(expr, pos)
            out.update((value & 0xFFFFFFFF, value >> 32 & 0xFFFFFFFF))
        elif op == 0x43:
            pos += 4
        elif op == 0x44:
            pos += 8
        elif op == 0xD0:
            pos += 1
        elif op == 0xFC:
            sub, pos = leb(expr, pos)
            if sub <= 7:
                pass
            elif sub in (8, 12, 14):
                pos = leb(expr, leb(expr, pos)[1])[1]
            elif sub in (9, 10, 11, 13, 15, 16, 17):
                pos = leb(expr, pos)[1]
                if sub == 10:
                    pos = leb(expr, pos)[1]
            else:
                raise SystemExit(f"error: unknown instruction 0xfc {sub} at byte {pos}")
        elif op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1) or 0x45 <= op <= 0xC4:
            pass
        else:
            raise SystemExit(f"error: unknown instruction 0x{op:02x} at byte {pos - 1}")
    return pos


def function_bodies(module: bytes):
    """(code section, start, end) of each function body's instructions."""
    for sid, body in sections(module):
        if sid == 10:
            count, pos = leb(body, 0)
            for _ in range(count):
                size, pos = leb(body, pos)
                end = pos + size
                groups, at = leb(body, pos)
                for _ in range(groups):
                    at = leb(body, at)[1] + 1  # a count, then a value type
                yield body, at, end
                pos = end


def code_addresses(module: bytes) -> set:
    """Every value the code and the globals' initial values could use as an address."""
    found = set()
    for body, start, end in function_bodies(module):
        addresses_in(body, start, end, found)
    for sid, body in sections(module):
        if sid == 6:  # globals: a type, mutability, a constant and `end`
            count, pos = leb(body, 0)
            for _ in range(count):
                op, pos = body[pos + 2], pos + 3
                if op == 0x41:
                    value, pos = sleb(body, pos)
                    found.add(value & 0xFFFFFFFF)
                elif op in (0x42, 0x23):
                    pos = (sleb if op == 0x42 else leb)(body, pos)[1]
                else:
                    raise SystemExit(f"error: a global's initial value 0x{op:02x} is not read here")
                if body[pos] != 0x0B:
                    raise SystemExit("error: a global's initial value is not one instruction")
                pos += 1
    return found


def data_segments(body: bytes):
    """(address, bytes) of each segment of a data section: active ones only."""
    count, pos = leb(body, 0)
    segments = []
    for _ in range(count):
        flags, pos = leb(body, pos)
        if flags != 0 or body[pos] != 0x41:
            raise SystemExit("error: only active data segments at an i32.const address are read here")
        address, pos = sleb(body, pos + 1)
        address &= 0xFFFFFFFF
        if body[pos] != 0x0B:
            raise SystemExit("error: a data segment's address is not a plain i32.const")
        size, pos = leb(body, pos + 1)
        segments.append((address, body[pos : pos + size]))
        pos += size
    return segments


PATH = re.compile(rb"[\x21-\x7e]{1,300}\.rs")
# Text: printable ASCII, tab and line ends, and UTF-8's bytes.
TEXT = re.compile(rb"[\x09\x0a\x0d\x20-\x7e\x80-\xff]{4,}")
# How far before a string a reference may point and still be to it (a
# table's address with an index's bias folded in).
BIAS = 64


def dead_ranges(segments, code: set, own):
    """The (start, end) of each unused panic location, source path and string
    (`own`: the filter's own string literals, never dropped; None: no
    strings); how many locations were dropped, and found."""
    memory = {}
    for address, content in segments:
        for i, b in enumerate(content):
            memory[address + i] = b
    lo = min(a for a, _ in segments)
    hi = max(a + len(c) for a, c in segments)
    image = bytes(memory.get(a, 0) for a in range(lo, hi))

    def word(a):
        return struct.unpack_from("<I", image, a - lo)[0] if lo <= a <= hi - 4 else None

    def path_at(pointer, length):
        if not (lo <= pointer and pointer + length <= hi and 0 < length <= 304):
            return False
        return PATH.fullmatch(image[pointer - lo : pointer - lo + length]) is not None

    locations = []
    for a in range(lo + (-lo % 4), hi - 15, 4):
        pointer, length, line, column = struct.unpack_from("<IIII", image, a - lo)
        if path_at(pointer, length) and 0 < line < 1_000_000 and 0 < column < 10_000:
            locations.append((a, pointer, length))

    # Which data words point where: a word inside a dropped location does not count.
    pointed = {}
    for a in range(lo + (-lo % 4), hi - 3, 4):
        value = word(a)
        if lo <= value < hi:
            pointed.setdefault(value, []).append(a)
    code_sorted = sorted(code)

    def code_refers(start, end):
        i = bisect.bisect_left(code_sorted, start)
        return i < len(code_sorted) and code_sorted[i] < end

    dead = [
        (a, p, n)
        for a, p, n in locations
        if not code_refers(a, a + 16) and not any(v in pointed for v in range(a, a + 16))
    ]
    inside_dead = {w for a, _, _ in dead for w in range(a, a + 16, 4)}
    ranges = [(a, a + 16) for a, _, _ in dead]
    paths = sorted({(p, n) for _, p, n in dead})
    for p, n in paths:
        users = [w for v in range(p, p + n) for w in pointed.get(v, [])]
        if not code_refers(p, p + n) and all(w in inside_dead for w in users):
            ranges.append((p, p + n))
    live_words = sorted(v for v, users in pointed.items() if any(w not in inside_dead for w in users))

    def data_refers(start, end):
        i = bisect.bisect_left(live_words, start)
        return i < len(live_words) and live_words[i] < end

    for m in TEXT.finditer(image) if own is not None else ():
        start, end = lo + m.start(), lo + m.end()
        if code_refers(start - BIAS, end) or data_refers(start - BIAS, end):
            continue
        # All of it but where one of the filter's own literals is.
        keep = sorted((m.start() + i, m.start() + i + len(literal)) for literal in own
                      for i in find_all(m.group(), literal))
        at = m.start()
        for kept_start, kept_end in keep + [(m.end(), m.end())]:
            if kept_start > at:
                ranges.append((lo + at, lo + kept_start))
            at = max(at, kept_end)
    return ranges, len(dead), len(locations)


def resegment(segments, ranges):
    """The segments with `ranges` zeroed, split around runs of zeros."""
    out = []
    for address, content in segments:
        content = bytearray(content)
        for start, end in ranges:
            for a in range(max(start, address), min(end, address + len(content))):
                content[a - address] = 0
        i = 0
        while i < len(content):
            while i < len(content) and content[i] == 0:
                i += 1
            if i == len(content):
                break
            j = i
            zeros = 0
            while j < len(content) and zeros < SPLIT_AT:
                zeros = zeros + 1 if content[j] == 0 else 0
                j += 1
            end = j - zeros
            out.append((address + i, bytes(content[i:end])))
            i = j
    return out


def find_all(text: bytes, part: bytes):
    """Where `part` starts in `text`, each time."""
    i = text.find(part)
    while i >= 0:
        yield i
        i = text.find(part, i + 1)


def literals(source: str) -> set:
    """The string literals of Rust source 8 bytes or longer, as bytes (the
    short escapes undone; others left as written, which only keeps more)."""
    found = set()
    for m in re.finditer(r'b?"((?:[^"\\]|\\.)*)"', source):
        text = m.group(1)
        for escape, byte in (("\\n", "\n"), ("\\t", "\t"), ("\\r", "\r"), ("\\0", "\0"),
                             ('\\"', '"'), ("\\\\", "\\")):
            text = text.replace(escape, byte)
        if len(text.encode()) >= 8:
            found.add(text.encode())
    return found


def strip(module: bytes, own: set = None):
    code = code_addresses(module)
    out = bytearray(module[:8])
    report = None
    parts = list(sections(module))
    data = [body for sid, body in parts if sid == 11]
    new_segments = None
    if data:
        segments = data_segments(data[0])
        ranges, dropped, found = dead_ranges(segments, code, own)
        new_segments = resegment(segments, ranges)
        report = (dropped, found, sum(e - s for s, e in ranges))
    for sid, body in parts:
        if sid == 11 and new_segments is not None:
            body = bytearray(uleb(len(new_segments)))
            for address, content in new_segments:
                signed = address - (1 << 32) if address >= 1 << 31 else address
                body += b"\0\x41" + sleb_bytes(signed) + b"\x0b" + uleb(len(content)) + content
            body = bytes(body)
        elif sid == 12 and new_segments is not None:  # the data count
            body = uleb(len(new_segments))
        out += bytes([sid]) + uleb(len(body)) + body
    return bytes(out), report


def sleb_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


if __name__ == "__main__":
    path, rest = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        module = f.read()
    own = None
    if rest:  # the filter's source directory: strings too
        own = set()
        for source in sorted(pathlib.Path(rest[0]).rglob("*.rs")):
            own |= literals(source.read_text())
    stripped, report = strip(module, own)
    with open(path, "wb") as f:
        f.write(stripped)
    if report:
        dropped, found, size = report
        print(
            f"{path}: dropped {dropped} of {found} panic locations, and strings nothing refers to: "
            f"{size} bytes of data; {len(module)} -> {len(stripped)} bytes"
        )
