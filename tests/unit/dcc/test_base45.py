from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from chalicelib.dcc.base45 import (_DIV45, _DIV45_SHIFT, ALPHABET, Base45DecodeError, b45decode,
                                  b45encode)

RFC9285 = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
           (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize("raw, text", RFC9285)
def test_rfc9285_examples(raw, text):
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@given(st.binary(max_size=300))
def test_round_trip(data):
    assert b45decode(b45encode(data)) == data


@pytest.mark.parametrize("bad", ["GGW", "A", "abc", "ZZZ", "::", "BB8é"])
def test_rejects_invalid_text(bad):
    # GGW = 65536 and ZZZ exceed 16 bits; "::" exceeds 8 bits; lower case is not base45.
    with pytest.raises(Base45DecodeError):
        b45decode(bad)


# A plain per-group implementation straight from RFC 9285, as the reference the lane-wise
# arithmetic in base45.py must agree with.
def reference_encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += [ALPHABET[n % 45], ALPHABET[n // 45 % 45], ALPHABET[n // 2025]]
    if len(data) % 2:
        out += [ALPHABET[data[-1] % 45], ALPHABET[data[-1] // 45]]
    return "".join(out)


def reference_decode(text: str) -> bytes | None:
    if len(text) % 3 == 1 or any(c not in ALPHABET for c in text):
        return None
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [ALPHABET.index(c) for c in text[i:i + 3]]
        n = sum(d * 45 ** k for k, d in enumerate(chunk))
        if n > (0xFFFF if len(chunk) == 3 else 0xFF):
            return None
        out += n.to_bytes(len(chunk) - 1, "big")
    return bytes(out)


def test_division_constant_is_exact_for_every_16_bit_group():
    assert all((n * _DIV45) >> _DIV45_SHIFT == n // 45 for n in range(1 << 16))
    assert 0xFFFF * _DIV45 < 1 << 32  # the product never carries into the next 32-bit lane


def test_every_16_bit_group_matches_the_reference():
    data = b"".join(n.to_bytes(2, "big") for n in range(1 << 16))
    text = b45encode(data)
    assert text == reference_encode(data)
    assert b45decode(text) == data


@given(st.binary(max_size=700))
def test_encoding_matches_the_reference(data):
    assert b45encode(data) == reference_encode(data)


@given(st.text(alphabet=ALPHABET + "aé\x00", max_size=30))
def test_decoding_accepts_and_rejects_exactly_what_the_reference_does(text):
    expected = reference_decode(text)
    if expected is None:
        with pytest.raises(Base45DecodeError):
            b45decode(text)
    else:
        assert b45decode(text) == expected


def test_largest_valid_groups_decode_and_one_more_is_refused():
    assert b45decode("FGW") == b"\xff\xff"       # 65535
    assert b45decode("U5") == b"\xff"            # 255
    with pytest.raises(Base45DecodeError):
        b45decode("V5")                          # 256 in a final pair
