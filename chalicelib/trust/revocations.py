"""Publishes the revocation list as static signed objects, and serves them to verifiers.

Incremental, per run rather than per revocation: `publish()` (the CLI `revocation publish`, run
on a schedule) reads only the entries listed since the previous run (the passport store keeps them
in time order), cuts them into new batches (<= 1,000 hashes, one kid and one hash type each), signs
each once with the national trust anchor, and appends them to the index: the last index page is
rewritten, full pages and existing batches never are. The routes only read objects: one or two S3
GETs a request, whatever the size of the list, and no response over 1 MB.

A run publishes what was listed up to `settle` (SETTLE, 5 minutes) before its clock: an entry's
`revoked_at` is stamped before its transaction commits, so an entry stamped just before a run
could become visible only after it; waiting longer than a transaction or a route lives means
nothing stamped before the cursor can still appear.

Objects (bucket `revocation`):
  revocation/index.json              the signed root: pages (number, SHA-256, batch count), cursor
  revocation/pages/<sha256>.json     a signed index page (content-addressed: readers of an older
                                     root still find the page it names)
  revocation/batches/<batch id>.json a signed batch
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Callable, Iterable, Protocol

from chalicelib import errors
from chalicelib.dcc.revocation_batches import (
    BATCH_ID, ListedHash, build_batch, cut_batches, digest, index_pages, page_document, root_document,
)
from chalicelib.dcc.signed_document import DigestSigner, anchor_kid

SETTLE = timedelta(minutes=5)
ROOT_KEY = "revocation/index.json"


def page_key(sha256: str) -> str:
    return f"revocation/pages/{sha256}.json"


def batch_key(batch_id: str) -> str:
    return f"revocation/batches/{batch_id}.json"


class ListedHashes(Protocol):
    def listed_between(self, start: str, end: str) -> Iterable[ListedHash]:
        """Entries listed at or after `start` and before `end` (ISO-8601 UTC strings; ValueError
        if `end` is before `start`)."""


class PublishedObjects(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, body: bytes) -> None: ...


class NotPublished(errors.NotFound):
    code = "REVOCATION_LIST_NOT_PUBLISHED"


class RevocationPublisher:
    def __init__(self, listed: ListedHashes, objects: PublishedObjects, anchor: DigestSigner,
                 clock: Callable[[], datetime], new_id: Callable[[], str], *, country: str,
                 validity: timedelta) -> None:
        self._listed = listed
        self._objects = objects
        self._anchor = anchor
        self._now = clock
        self._new_id = new_id
        self._country = country
        self._validity = validity

    def publish(self, *, rebuild: bool = False, settle: timedelta = SETTLE, anchor: DigestSigner | None = None) -> dict:
        """New batches for what was listed since the last run (everything with `rebuild`, into a
        new index; the old batches stay readable for whoever holds the old index). `anchor`: sign
        with this key instead of the configured one (the key file `trust export` signs with)."""
        signer = anchor or self._anchor
        now = self._now()
        until = (now - settle).isoformat(timespec="seconds")
        root = None if rebuild else self._root_payload()
        if root is not None and root["_signed_by"] != anchor_kid(signer.public_key()):
            # Another anchor signed the published list (the key was rotated, or given as a file):
            # a verifier checks every object against one anchor, so everything is signed again.
            root = None
        start = root["publishedUntil"] if root else ""
        pages: list[dict] = list(root["pages"]) if root else []
        if root is not None and until <= start:
            # A run with a longer settling time than the last one's: its window is already
            # published, and the cursor never moves back (that would publish hashes twice).
            return {"batches": 0, "hashes": 0, "pages": len(pages), "published_until": start}
        last: list[dict] = self._page_payload(pages[-1])["batches"] if pages else []
        new_entries, hashes = [], 0
        for content in cut_batches(self._listed.listed_between(start, until)):
            built = build_batch(content, batch_id=self._new_id(), country=self._country, now=now,
                                validity=self._validity, signer=signer)
            self._objects.put(batch_key(built.batch_id), built.body)
            new_entries.append(built.index_entry)
            hashes += len(content.hashes)
        if root is not None and not new_entries:
            return {"batches": 0, "hashes": 0, "pages": len(pages), "published_until": start}
        kept = pages[:-1] if pages else []
        for entries in index_pages(last, new_entries):
            body = page_document(entries, number=len(kept), country=self._country, signer=signer)
            self._objects.put(page_key(digest(body)), body)
            kept.append({"page": len(kept), "hash": digest(body), "batches": len(entries)})
        # The root last: until it is written, readers see the previous, complete, list.
        self._objects.put(ROOT_KEY, root_document(kept, country=self._country, now=now, cursor=until,
                                                  signer=signer))
        return {"batches": len(new_entries), "hashes": hashes, "pages": len(kept), "published_until": until}

    # -- what the routes serve ----------------------------------------------------------------
    def index(self, page: int | None = None) -> bytes:
        """The signed root, or index page `page` (numbered from 0) of the current root."""
        root = self._objects.get(ROOT_KEY)
        if root is None:
            raise NotPublished("the revocation list has not been published yet")
        if page is None:
            return root
        pages = json.loads(root)["payload"]["pages"]
        if not 0 <= page < len(pages):
            raise errors.NotFound(f"the revocation index has pages 0 to {len(pages) - 1}",
                                  details={"field": "page"})
        return self._get(page_key(pages[page]["hash"]), "index page")

    def batch(self, batch_id: str) -> bytes:
        if not isinstance(batch_id, str) or not BATCH_ID.match(batch_id):
            raise errors.ValidationError("a batch id is 32 lowercase hex digits", details={"field": "batch_id"})
        return self._get(batch_key(batch_id), "revocation batch")

    def _get(self, key: str, what: str) -> bytes:
        body = self._objects.get(key)
        if body is None:
            raise errors.NotFound(f"no such {what}")
        return body

    def _root_payload(self) -> dict | None:
        if (body := self._objects.get(ROOT_KEY)) is None:
            return None
        document = json.loads(body)
        return {**document["payload"], "_signed_by": document["signature"]["kid"]}

    def _page_payload(self, page: dict) -> dict:
        return json.loads(self._get(page_key(page["hash"]), "index page"))["payload"]


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
