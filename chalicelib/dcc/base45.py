"""Base45 (RFC 9285), the text encoding of the `HC1:` payload.

Base45 is the largest cost of issuing after the signature, so it is computed on all groups at
once instead of group by group. The 16-bit groups are spread into 32-bit lanes of one Python
integer (extended-slice assignment into a bytearray), and the divisions by 45 run lane-wise as a
multiply by a magic constant, a shift and a mask: a dozen C-level big-integer operations for the
whole certificate instead of a Python step per group. The digits come back out with `to_bytes`
and one `bytes.translate`.

Why not a lookup table of all 65536 encodings (the previous design): in isolation it was fast,
but the table is ~3.5 MB of small string objects, and between two certificates the ECDSA
signature evicts it from the CPU cache. Inside the issue loop it cost ~39 us per certificate
against ~6 us for this version (bench/bench_dcc.py, profiled piece by piece).
"""
from __future__ import annotations

from functools import lru_cache

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

# n // 45 == (n * _DIV45) >> _DIV45_SHIFT for every n < 2**16, and the product stays below
# 2**32, so it never carries into the next lane. A unit test checks the identity exhaustively.
_DIV45, _DIV45_SHIFT = 46604, 21
# Digits travel as values 1..45 so that 0 marks the lane padding `translate` deletes.
_DIGIT_TO_CHAR = bytes(range(256)).translate(
    bytes.maketrans(bytes(range(1, 46)), ALPHABET.encode("ascii")))
_INVALID = 0xFF
_CHAR_TO_DIGIT = bytes(ALPHABET.find(chr(b)) if chr(b) in ALPHABET else _INVALID for b in range(256))


class Base45DecodeError(ValueError):
    """The text is not valid base45."""


def _lanes(pattern: bytes, count: int) -> int:
    """An integer with `pattern` (4 bytes, little-endian) repeated in `count` 32-bit lanes.
    Certificate-sized masks are cached; masks for long (possibly hostile) input are not kept."""
    if count <= _CACHED_LANES:
        return _cached_lanes(pattern, count)
    return int.from_bytes(pattern * count, "little")


_CACHED_LANES = 2048  # 4 KiB of input; a DCC is well under 1 KiB


@lru_cache(maxsize=512)
def _cached_lanes(pattern: bytes, count: int) -> int:
    return int.from_bytes(pattern * count, "little")


def b45encode(data: bytes) -> str:
    groups = len(data) // 2
    spread = bytearray(4 * groups)
    spread[0::4] = data[1:2 * groups:2]  # little-endian lanes holding the big-endian words
    spread[1::4] = data[0:2 * groups:2]
    words = int.from_bytes(spread, "little")
    low11 = _lanes(b"\xff\x07\0\0", groups)
    q1 = ((words * _DIV45) >> _DIV45_SHIFT) & low11      # n // 45, each lane < 2**11
    q2 = ((q1 * _DIV45) >> _DIV45_SHIFT) & low11         # n // 2025, each lane < 33
    digits = (words - 45 * q1) | ((q1 - 45 * q2) << 8) | (q2 << 16)  # lane: c0, c1, c2
    digits += _lanes(b"\x01\x01\x01\x00", groups)
    text = digits.to_bytes(4 * groups, "little").translate(_DIGIT_TO_CHAR, b"\0").decode("ascii")
    if len(data) & 1:
        last = data[-1]
        text += ALPHABET[last % 45] + ALPHABET[last // 45]
    return text


def b45decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise Base45DecodeError("base45 input must be text")
    try:
        digits = text.encode("ascii").translate(_CHAR_TO_DIGIT)
    except UnicodeEncodeError as e:
        raise Base45DecodeError("not base45: non-ASCII character") from e
    if _INVALID in digits:
        raise Base45DecodeError("not base45: character outside the alphabet")
    n = len(digits)
    if n % 3 == 1:
        raise Base45DecodeError("base45 length leaves a dangling character")
    groups = n // 3
    spread = bytearray(4 * groups)
    spread[0::4] = digits[0:3 * groups:3]
    spread[1::4] = digits[1:3 * groups:3]
    spread[2::4] = digits[2:3 * groups:3]
    lanes = int.from_bytes(spread, "little")
    low8 = _lanes(b"\xff\0\0\0", groups)
    values = (lanes & low8) + 45 * ((lanes >> 8) & low8) + 2025 * ((lanes >> 16) & low8)
    if values & _lanes(b"\0\0\xff\xff", groups):  # each lane is < 2**17, so this sees all
        raise Base45DecodeError("not base45: group above 16 bits")
    packed = values.to_bytes(4 * groups, "little")
    out = bytearray(2 * groups)
    out[0::2] = packed[1::4]
    out[1::2] = packed[0::4]
    if n % 3:
        last = digits[-2] + 45 * digits[-1]
        if last > 0xFF:
            raise Base45DecodeError("base45 final group is invalid")
        out.append(last)
    return bytes(out)
