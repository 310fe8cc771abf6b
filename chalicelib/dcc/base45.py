"""Base45 (RFC 9285), the text encoding of the `HC1:` payload.

Table-driven: every 16-bit group maps to a fixed 3-character string via two small lookup tables, and
decoding maps 2-character prefixes through a dict, so the per-byte Python work is a couple of
lookups. This keeps base45 a small fraction of issuing and verifying time (see bench/bench_dcc.py).
"""
from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

# Low two base45 digits of a 16-bit group (n % 2025), in output order (least significant first).
_LOW2 = tuple(ALPHABET[i % 45] + ALPHABET[i // 45] for i in range(45 * 45))
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_PAIR_VALUE = {a + b: _VALUE[a] + _VALUE[b] * 45 for a in ALPHABET for b in ALPHABET}


class Base45DecodeError(ValueError):
    """The text is not valid base45."""


def b45encode(data: bytes) -> str:
    low2 = _LOW2
    alphabet = ALPHABET
    parts = []
    append = parts.append
    end = len(data) - (len(data) & 1)
    for i in range(0, end, 2):
        high, low = divmod((data[i] << 8) | data[i + 1], 2025)
        append(low2[low])
        append(alphabet[high])
    if end != len(data):
        append(low2[data[end]])
    return "".join(parts)


def b45decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise Base45DecodeError("base45 input must be text")
    n = len(text)
    if n % 3 == 1:
        raise Base45DecodeError("base45 length leaves a dangling character")
    pair_value = _PAIR_VALUE
    value = _VALUE
    out = bytearray()
    end = n - n % 3
    try:
        for i in range(0, end, 3):
            v = pair_value[text[i:i + 2]] + value[text[i + 2]] * 2025
            if v > 0xFFFF:
                raise Base45DecodeError("base45 group exceeds 16 bits")
            out.append(v >> 8)
            out.append(v & 0xFF)
        if end != n:
            v = pair_value[text[end:]]
            if v > 0xFF:
                raise Base45DecodeError("base45 final group exceeds 8 bits")
            out.append(v)
    except KeyError as e:
        raise Base45DecodeError("character outside the base45 alphabet") from e
    return bytes(out)
