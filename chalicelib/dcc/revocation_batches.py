"""The revocation list as the EU design publishes it: signed batches and a paged index.

Why batches: a verifier downloads the list of a country once and then only what changed, and a
list of 10 million hashes must never be one response (Lambda answers at most 6 MB; we keep every
object under 1 MB). So:
- a batch holds at most MAX_BATCH_HASHES hashes, all of one DSC kid and one hash type, and
  `expires` (after it no certificate it lists can still be valid); it is never rewritten;
- the index lists batches (id, kid, hash type, date, expires, count, SHA-256 of the stored batch)
  in pages of at most INDEX_PAGE_BATCHES; a publication appends to the last page and adds pages;
- the root names every page with its SHA-256, so the root, signed, pins the whole list: dropping a
  batch from a page, or a page from the root, breaks a signature or a hash.
Batches, pages and root are signed documents (`dcc.signed_document`). Everything here is pure.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator, NamedTuple

from chalicelib.dcc.revocation import HASH_TYPES, RevocationList, RevocationListError
from chalicelib.dcc.signed_document import DigestSigner, SignedDocumentError, open_document, sign_document

MAX_BATCH_HASHES = 1000
INDEX_PAGE_BATCHES = 2000
# Every published object stays below this (checked as each is built; a test builds 10 million).
MAX_OBJECT_BYTES = 1_000_000
BATCH_ID = re.compile(r"^[0-9a-f]{32}$")


class ListedHash(NamedTuple):
    """One revocation-list entry as the passport store keeps it (a tuple: a publication may read
    millions of them)."""

    kid: str  # base64 kid of the DSC that signed the revoked certificate
    hash_type: str
    hash: str  # base64 of the 16 bytes
    revoked_at: str  # ISO-8601 UTC


@dataclass(frozen=True)
class BatchContent:
    kid: str
    hash_type: str
    hashes: tuple[str, ...]
    latest: str  # the latest revoked_at among them


def cut_batches(listed: Iterable[ListedHash], max_hashes: int = MAX_BATCH_HASHES) -> Iterator[BatchContent]:
    """Groups the entries by (kid, hash type) in batches of at most `max_hashes`, streaming: a full
    batch leaves as soon as it is full, so memory holds at most one open batch per group."""
    open_: dict[tuple[str, str], list[ListedHash]] = {}
    for entry in listed:
        key = (entry.kid, entry.hash_type)
        group = open_.get(key)
        if group is None:
            group = open_[key] = []
        group.append(entry)
        if len(group) >= max_hashes:
            yield _content(group)
            del open_[key]
    for key in sorted(open_):
        yield _content(open_[key])


def _content(group: list[ListedHash]) -> BatchContent:
    return BatchContent(group[0].kid, group[0].hash_type, tuple(e.hash for e in group),
                        max(e.revoked_at for e in group))


def _bounded(document: dict, what: str) -> bytes:
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) > MAX_OBJECT_BYTES:
        raise ValueError(f"{what} would be {len(body)} bytes, over {MAX_OBJECT_BYTES}")  # a bug in the limits
    return body


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class BuiltBatch:
    batch_id: str
    body: bytes  # the signed batch document, as stored and served
    index_entry: dict


def build_batch(content: BatchContent, *, batch_id: str, country: str, now: datetime, validity: timedelta,
                signer: DigestSigner) -> BuiltBatch:
    """A signed batch. `expires`: the latest revocation in it plus the longest validity we issue
    (a certificate revoked at T was issued before T, so it expires before T + validity)."""
    expires = (datetime.fromisoformat(content.latest) + validity).isoformat(timespec="seconds")
    date = now.isoformat(timespec="seconds")
    payload = {"batchId": batch_id, "country": country, "kid": content.kid, "hashType": content.hash_type,
               "date": date, "expires": expires, "entries": [{"hash": h} for h in content.hashes]}
    body = _bounded(sign_document(payload, signer), "a revocation batch")
    return BuiltBatch(batch_id, body, {"batchId": batch_id, "kid": content.kid, "hashType": content.hash_type,
                                       "date": date, "expires": expires, "count": len(content.hashes),
                                       "hash": digest(body)})


def index_pages(last_page: list[dict], new_entries: Iterable[dict],
                per_page: int = INDEX_PAGE_BATCHES) -> Iterator[list[dict]]:
    """The pages a publication writes: the last page filled up with new entries, then new pages.
    Full pages before it are never rewritten."""
    page = list(last_page)
    for entry in new_entries:
        if len(page) >= per_page:
            yield page
            page = []
        page.append(entry)
    yield page


def page_document(entries: list[dict], *, number: int, country: str, signer: DigestSigner) -> bytes:
    return _bounded(sign_document({"country": country, "page": number, "batches": entries}, signer),
                    "a revocation index page")


def root_document(pages: list[dict], *, country: str, now: datetime, cursor: str, signer: DigestSigner) -> bytes:
    """`pages`: [{"page", "hash", "batches"}]; `cursor`: revocations up to it are published."""
    payload = {"country": country, "updated": now.isoformat(timespec="seconds"), "publishedUntil": cursor,
               "pages": pages, "batches": sum(p["batches"] for p in pages)}
    return _bounded(sign_document(payload, signer), "the revocation index")


# -- the verifier's side ---------------------------------------------------------------------
def open_batch(document, public_key, *, what: str = "revocation batch") -> dict:
    """The payload of a batch, checked: the anchor's signature, one valid hash type, 16-byte hashes."""
    payload = open_document(document, public_key, what=what)
    entries = payload.get("entries")
    if payload.get("hashType") not in HASH_TYPES or not isinstance(entries, list) \
            or not isinstance(payload.get("batchId"), str) or len(entries) > MAX_BATCH_HASHES:
        raise RevocationListError(f"{what} has no valid hashType, batchId or entries list")
    for entry in entries:
        raw = entry.get("hash") if isinstance(entry, dict) else None
        try:
            ok = isinstance(raw, str) and len(base64.b64decode(raw, validate=True)) == 16
        except ValueError:
            ok = False
        if not ok:
            raise RevocationListError(f"{what} holds a hash that is not 16 bytes of base64")
    return payload


def revocation_list_from_batches(batches: Iterable[dict], *, now: datetime | None = None) -> RevocationList:
    """What a verifier checks certificates against: every hash of the (opened) batches, except
    batches whose `expires` has passed (their certificates cannot be valid any more)."""
    found: set[tuple[str, bytes]] = set()
    for payload in batches:
        if now is not None and datetime.fromisoformat(payload["expires"]) < now:
            continue
        found.update((payload["hashType"], base64.b64decode(e["hash"])) for e in payload["entries"])
    return RevocationList(frozenset(found))


def load_published(root, read: Callable[[str], bytes | None], public_key) -> list[dict]:
    """Every batch the signed index `root` lists, each checked against the anchor and against the
    hash the index gives for it. `read(name)` returns the stored bytes of the page
    "page-<hash>" or of the batch "<batch id>", or None if it is absent; a missing or changed object is an error, since
    a verifier that skipped it would pass a revoked certificate."""
    payload = open_document(root, public_key, what="revocation index")
    batches = []
    for page in payload.get("pages") or []:
        page_doc = _fetch(read, f"page-{page.get('hash')}", page.get("hash"), f"index page {page.get('page')}")
        for entry in open_document(page_doc, public_key, what=f"index page {page.get('page')}").get("batches", []):
            batch_id = entry.get("batchId")
            if not isinstance(batch_id, str) or not BATCH_ID.match(batch_id):
                raise RevocationListError(f"index page {page.get('page')} names a batch id that is not one")
            doc = _fetch(read, batch_id, entry.get("hash"), f"revocation batch {batch_id}")
            opened = open_batch(doc, public_key, what=f"revocation batch {batch_id}")
            if (opened["batchId"], opened["kid"], opened["hashType"]) != (batch_id, entry.get("kid"),
                                                                          entry.get("hashType")):
                raise RevocationListError(f"revocation batch {batch_id} is not the batch its index entry describes")
            batches.append(opened)
    return batches


def _fetch(read: Callable[[str], bytes | None], name: str, expected: object, what: str):
    body = read(name)
    if body is None:
        raise RevocationListError(f"{what} is listed in the index but missing")
    if digest(body) != expected:
        raise SignedDocumentError(f"{what} does not match the hash the signed index gives for it (changed?)")
    try:
        return json.loads(body)
    except ValueError as e:
        raise RevocationListError(f"{what} is not JSON") from e
