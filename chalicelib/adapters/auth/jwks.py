"""Adapters of the JWKS port (chalicelib/auth/tokens.py::JwksSource): the identity provider's
key set over HTTPS (urllib3, short timeouts and retries) or from a file (the local dev issuer,
tests). Both refuse a key set larger than MAX_JWKS_BYTES or without a `keys` array.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

from chalicelib.auth.tokens import JwksSource, JwksUnavailable

MAX_JWKS_BYTES = 256 * 1024


class FileJwksSource:
    """A JWKS on disk (`file:///abs/path/jwks.json`): the local dev issuer and tests."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    def fetch(self) -> Mapping:
        try:
            data = self._path.read_bytes()
        except OSError as e:
            raise JwksUnavailable("the token keys cannot be read", details={"source": "file"}) from e
        return _parse_jwks(data)


class HttpJwksSource:
    """The identity provider's JWKS over HTTPS, through urllib3 with short timeouts and retries."""

    def __init__(self, url: str, *, timeout_s: float = 3.0, retries: int = 2, pool=None) -> None:
        import urllib3

        self._url = url
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._retries = urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=(502, 503, 504),
                                      allowed_methods=("GET",), raise_on_status=False)
        self._pool = pool or urllib3.PoolManager()

    def fetch(self) -> Mapping:
        import urllib3

        try:
            resp = self._pool.request("GET", self._url, timeout=self._timeout, retries=self._retries,
                                      headers={"Accept": "application/json"}, preload_content=False)
        except urllib3.exceptions.HTTPError as e:
            raise JwksUnavailable("the identity provider's keys cannot be fetched",
                                  details={"source": "https"}) from e
        try:
            if resp.status != 200:
                raise JwksUnavailable("the identity provider's keys cannot be fetched",
                                      details={"source": "https", "status": resp.status})
            data = resp.read(MAX_JWKS_BYTES + 1)
        finally:
            resp.release_conn()
        return _parse_jwks(data)


def jwks_source_for(url: str, *, timeout_s: float = 3.0) -> JwksSource:
    """`file:///abs/path` or `https://...` (plain `http://` only to loopback, for local providers)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileJwksSource(parsed.path)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost")):
        return HttpJwksSource(url, timeout_s=timeout_s)
    raise ValueError("the JWKS URL must be https:// or file:// (http:// only to loopback)")


def _parse_jwks(data: bytes) -> Mapping:
    if len(data) > MAX_JWKS_BYTES:
        raise JwksUnavailable("the token key set is too large")
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise JwksUnavailable("the token key set is not JSON") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise JwksUnavailable("the token key set has no keys array")
    return doc
