"""Fakes of the privacy ports (chalicelib/privacy.py), held to KmsPseudonyms and EsdkSealer by
tests/contracts/test_privacy_contract.py: no KMS, but the same guarantees a caller relies on
(deterministic pseudonyms per kind; a sealed blob opens only under the context it was sealed with)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Mapping

from chalicelib import errors


class FakePseudonyms:
    def __init__(self, secret: bytes = b"fake pseudonym secret") -> None:
        self._secret = secret

    def pseudonym(self, value: str, *, kind: str = "cid") -> str:
        mac = hmac.new(self._secret, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.b32encode(mac[:20]).decode().lower()


class FakeSealer:
    """Not encryption: the blob is readable by anyone who decodes it; it keeps the binding only."""

    def seal(self, context: Mapping[str, str], plaintext: bytes) -> str:
        body = json.dumps({"ctx": dict(context), "pt": base64.b64encode(plaintext).decode()})
        return "fake:" + base64.b64encode(body.encode()).decode()

    def open(self, context: Mapping[str, str], sealed: str) -> bytes:
        try:
            body = json.loads(base64.b64decode(sealed.removeprefix("fake:")))
        except ValueError as e:
            raise errors.SealBroken("sealed fields do not open") from e
        if any(body["ctx"].get(k) != v for k, v in context.items()):
            raise errors.SealBroken("sealed fields belong to another item")
        return base64.b64decode(body["pt"])
