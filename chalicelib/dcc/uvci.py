"""Unique Vaccination Certificate Identifiers (UVCI), eHealth Network guideline Annex 2.

Shape: `URN:UVCI:01:VN:<opaque>#<check>`. The opaque part is 128 random bits (from an injected
source, so tests are deterministic) written in RFC 4648 base32 without padding: 26 characters,
all inside the UVCI alphabet. 128 bits make a collision negligible; the passport store still
enforces uniqueness (a conditional reservation item per UVCI, written with the passport).

The check character is Luhn mod N over the alphabet `A-Z0-9/:` (N = 38), computed over the *whole*
UVCI string including the `URN:UVCI:` prefix, as the guideline specifies. Verified against
published certificates: `URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813` has check `B` and
`URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7` has check `1` only when the prefix is included
(without it the results would be `F` and `5`).
"""
from __future__ import annotations

import base64
from typing import Callable

from chalicelib.dcc.errors import DccInputError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
PREFIX = "URN:UVCI:"
VERSION = "01"


def check_character(uvci_without_check: str) -> str:
    """Luhn mod N check character of `uvci_without_check` (upper-case, prefix included)."""
    n = len(ALPHABET)
    factor = 2  # the rightmost character is doubled because the check character follows it
    total = 0
    for ch in reversed(uvci_without_check.upper()):
        try:
            addend = _INDEX[ch] * factor
        except KeyError as e:
            raise DccInputError(f"character {ch!r} is not allowed in a UVCI") from e
        total += addend // n + addend % n
        factor = 3 - factor
    return ALPHABET[(n - total % n) % n]


def is_valid_uvci(uvci: str) -> bool:
    body, sep, check = uvci.rpartition("#")
    if not sep or len(check) != 1 or not body.upper().startswith(PREFIX):
        return False
    try:
        return check_character(body) == check.upper()
    except DccInputError:
        return False


def make_uvci(random_bytes: Callable[[int], bytes], country: str = "VN") -> str:
    """A fresh UVCI. `random_bytes(n)` is e.g. `secrets.token_bytes` (injected for tests)."""
    raw = random_bytes(16)
    if len(raw) != 16:
        raise DccInputError("random source must return the 16 bytes asked for")
    opaque = base64.b32encode(raw).decode("ascii").rstrip("=")
    body = f"{PREFIX}{VERSION}:{country.upper()}:{opaque}"
    return f"{body}#{check_character(body)}"
