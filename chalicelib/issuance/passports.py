"""What the citizens' apps read: the current passport (HC1 + display fields) and its QR image.

Rendering a QR code is the slowest step of a passport read, so images are cached by UVCI (a UVCI
never changes content) in the reports bucket and served from there afterwards. A passport the
ministry revoked is shown with its status and reason but no longer handed out to be presented:
no HC1 string, and its QR routes answer 410 whatever the image cache holds.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Protocol

from chalicelib import errors
from chalicelib.dcc.qr import render_qr_png, render_qr_svg

RENDERERS: dict[str, tuple[Callable[[str], bytes | str], str]] = {
    "png": (render_qr_png, "image/png"), "svg": (render_qr_svg, "image/svg+xml")}


class PassportRevoked(errors.Gone):
    code = "PASSPORT_REVOKED"


class PassportReader(Protocol):
    def current_passport(self, citizen_id: str) -> dict | None:
        """{version, uvci, hc1, iat, exp, status, display, reason, revoked_at} of the current
        version, or None."""


class ImageCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class PassportQuery:
    def __init__(self, reader: PassportReader, cache: ImageCache, clock) -> None:
        self._reader = reader
        self._cache = cache
        self._now = clock

    def current(self, citizen_id: str) -> dict:
        p = self._reader.current_passport(citizen_id)
        if p is None:
            raise errors.NotFound("no passport has been issued to you yet")
        now = int(self._now().timestamp())
        status = "REVOKED" if p["status"] == "REVOKED" else ("EXPIRED" if p["exp"] <= now else "VALID")
        valid_until = datetime.fromtimestamp(p["exp"], timezone.utc).date().isoformat()
        out = {"hc1": p["hc1"], "status": status, "version": p["version"], "uvci": p["uvci"],
               "issued_at": datetime.fromtimestamp(p["iat"], timezone.utc).isoformat(),
               "valid_until": valid_until, "display": {**p["display"], "valid_until": valid_until}}
        if status == "REVOKED":
            out["hc1"] = None
            out["revocation"] = {"reason": p.get("reason"), "revoked_at": p.get("revoked_at")}
        return out

    def qr(self, citizen_id: str, fmt: str) -> tuple[bytes | str, str]:
        """PNG as bytes (a binary API Gateway type), SVG as text (it is XML, and a bytes body of a
        non-binary type would not pass through API Gateway)."""
        if fmt not in RENDERERS:
            raise errors.NotFound("QR images are png or svg")
        render, content_type = RENDERERS[fmt]
        p = self._reader.current_passport(citizen_id)
        if p is None:
            raise errors.NotFound("no passport has been issued to you yet")
        if p["status"] == "REVOKED":
            # Checked before the cache: an image rendered before the revocation stays cached.
            raise PassportRevoked("this passport was revoked by the Ministry of Health",
                                  details={"reason": p.get("reason"), "revoked_at": p.get("revoked_at")})
        key = f"qr/{p['uvci'].replace('/', '_').replace(':', '_').replace('#', '_')}.{fmt}"
        data = self._cache.get(key)
        if data is None:
            rendered = render(p["hc1"])
            data = rendered.encode("utf-8") if isinstance(rendered, str) else rendered
            self._cache.put(key, data, content_type)
        return (data.decode("utf-8") if fmt == "svg" else data), content_type
