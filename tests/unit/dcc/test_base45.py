from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from chalicelib.dcc.base45 import Base45DecodeError, b45decode, b45encode

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
