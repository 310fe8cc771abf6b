"""Ports for keeping personal data out of clear text in the tables (issue 14 items 4-5).

Two things stand between someone who can read a table and the population's identities:
- a `Pseudonyms`: citizen ids (and registry blocking keys, made of names and dates) become a keyed
  hash wherever they are a key, an index key or an idempotency key, so lookups by citizen id still
  work (hash first, then look up) and nobody without the key can go back;
- a `Sealer`: the personal fields of an item are one envelope-encrypted blob whose encryption
  context names the table, the item's key and the blob's attribute, so a blob copied to another
  item (or another attribute) does not open there.
The adapters (chalicelib/adapters/privacy.py) hold the keys in KMS; tests/fakes/privacy.py fakes both.
"""
from __future__ import annotations

from typing import Mapping, Protocol


class Pseudonyms(Protocol):
    def pseudonym(self, value: str, *, kind: str = "cid") -> str:
        """The keyed hash of `value` (same value and kind, same pseudonym, in every process)."""
        ...


class Sealer(Protocol):
    def seal(self, context: Mapping[str, str], plaintext: bytes) -> str:
        """`plaintext` encrypted and bound to `context` (text, to store as a string attribute)."""
        ...

    def open(self, context: Mapping[str, str], sealed: str) -> bytes:
        """The plaintext of `sealed`; errors.DataIntegrityError when it was sealed under another
        context (moved from another item) or altered."""
        ...
