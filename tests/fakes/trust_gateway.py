"""Fake of the published gateway trust list (trust.gateway.PublishedTrustList)."""
from __future__ import annotations

import json


class FakePublishedTrustList:
    def __init__(self) -> None:
        self.document: str | None = None
        self.published_at: str | None = None

    def get(self):
        # Stored as JSON like the real item: a caller never holds the stored object itself.
        return None if self.document is None else json.loads(self.document)

    def put(self, document, *, published_at):
        self.document, self.published_at = json.dumps(document), published_at
