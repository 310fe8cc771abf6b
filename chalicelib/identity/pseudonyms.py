"""Pseudonyms of citizen ids: what the access log (and later every key) stores instead of the id.

A log of who read whose data must not itself be a list of citizen ids. Code that keys anything by
a person asks this port for the person's pseudonym; the id never reaches the store. Pure module.

The container wires the keyed pseudonym (`KmsPseudonyms`, chalicelib/adapters/privacy.py: an
HMAC under a secret derived from a KMS key), the one every table key uses. `PlainPseudonyms` is
left for code built without the container: an unkeyed hash of a 12-digit id can be reversed by
hashing every possible id, so it hides ids from a casual reader only.
"""
from __future__ import annotations

import hashlib
from typing import Protocol


class Pseudonyms(Protocol):
    def pseudonym(self, citizen_id: str) -> str:
        """The same text for the same citizen id, every time and in every process."""


class PlainPseudonyms:
    """SHA-256 of the id, hex, shortened: stable, and no id in clear (see the module docstring)."""

    def pseudonym(self, citizen_id: str) -> str:
        return hashlib.sha256(f"vaxpass-citizen:{citizen_id.strip()}".encode()).hexdigest()[:32]
