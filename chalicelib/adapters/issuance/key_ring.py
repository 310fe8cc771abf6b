"""The countersign worker's signing keys: the DSCs registered for KMS keys, as a KeyRing of KMS
signers (adapters/dcc/kms_signer.py).
"""
from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import errors

if TYPE_CHECKING:
    from chalicelib.dcc.signer import KeyRing


class KmsKeyRing:
    """The DSCs registered with a KMS key for the configured algorithm, as a KeyRing; reloaded
    every few minutes so a newly registered DSC takes over without a redeploy."""

    TTL_S = 300

    def __init__(self, dscs, kms_client, alg: str, clock=time.monotonic) -> None:
        self._dscs = dscs
        self._kms = kms_client
        self._alg = alg
        self._clock = clock
        self._ring: KeyRing | None = None
        self._loaded = 0.0
        self._lock = threading.Lock()

    def __call__(self, now: datetime):
        from chalicelib.adapters.dcc.kms_signer import KmsSigner
        from chalicelib.dcc.signer import KeyRing, alg_for_public_key

        with self._lock:
            if self._ring is None or self._clock() - self._loaded > self.TTL_S:
                signers = [KmsSigner(self._kms, e.key_ref, e.certificate) for e in self._dscs.all()
                           if e.key_ref and alg_for_public_key(e.certificate.public_key()) == self._alg]
                if not signers:
                    raise errors.DependencyUnavailable(f"no {self._alg} DSC registered for a KMS key "
                                                       "(run: python -m chalicelib.cli keys provision-kms)")
                self._ring, self._loaded = KeyRing(signers), self._clock()
            return self._ring.current(now)
