"""Publishes 10 million generated revocation hashes through the pure batch builder and index pager
(`python -m tests.unit.trust.ten_million`), printing the sizes seen as JSON. Run in a child process
by test_revocation_batches.py (on the spare core, tests/unit/background.py)."""
from __future__ import annotations

import base64
import json
import sys
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.dcc.revocation_batches import (ListedHash, build_batch, cut_batches, index_pages, page_document,
                                               root_document)

HASHES = 10_000_000
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
# Four DSCs over the years, the three hash types of every revoked certificate.
KIDS = tuple(base64.b64encode(bytes([k]) * 8).decode() for k in range(4))
TYPES = ("UCI", "COUNTRYCODEUCI", "SIGNATURE")


class LongestSignature:
    """A real P-256 key for the kid; signatures of the longest DER length ECDSA P-256 has (72)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    def sign_digest(self, digest: bytes) -> bytes:
        return b"\x30" * 72

    def public_key(self):
        return self._key.public_key()


def listed(n: int):
    b64 = base64.b64encode
    for i in range(n):
        # Three hashes per certificate, as a revocation lists them; a new DSC every 2.5 million.
        yield ListedHash(KIDS[i * 4 // n], TYPES[i % 3], b64(i.to_bytes(16, "big")).decode(),
                         "2026-11-28T09:00:00+00:00")


def main(n: int = HASHES) -> dict:
    signer, counter = LongestSignature(), iter(range(1 << 62))
    largest_batch, batches, hashes, entries = 0, 0, 0, []
    for content in cut_batches(listed(n)):
        assert len(content.hashes) <= 1000 and len({content.kid}) == 1
        built = build_batch(content, batch_id=f"{next(counter):032x}", country="VN", now=NOW,
                            validity=timedelta(days=365), signer=signer)
        largest_batch = max(largest_batch, len(built.body))
        batches += 1
        hashes += len(content.hashes)
        entries.append(built.index_entry)
    page_sizes, pages = [], []
    for number, page in enumerate(index_pages([], entries)):
        body = page_document(page, number=number, country="VN", signer=signer)
        page_sizes.append(len(body))
        pages.append({"page": number, "hash": "0" * 64, "batches": len(page)})
    root = root_document(pages, country="VN", now=NOW, cursor="2026-11-28T09:55:00+00:00", signer=signer)
    return {"hashes": hashes, "batches": batches, "largest_batch": largest_batch, "pages": len(pages),
            "largest_page": max(page_sizes), "root": len(root),
            "full_batches": sum(1 for e in entries if e["count"] == 1000)}


if __name__ == "__main__":
    json.dump(main(int(sys.argv[1]) if len(sys.argv) > 1 else HASHES), sys.stdout)
