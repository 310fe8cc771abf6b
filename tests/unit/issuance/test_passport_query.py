"""PassportQuery: the real service, built by the composition root over the fakes. A citizen reads
their current passport and its QR image; images are cached by UVCI; a revoked passport is shown
with its reason but without its HC1, and its QR routes answer 410 whatever the cache holds.
(Through the routes on LocalStack: tests/integration/test_revocation.py.)"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib import errors
from chalicelib.dcc.uvci import make_uvci
from chalicelib.issuance.passports import PassportRevoked
from chalicelib.issuance.revocation import Actor
from chalicelib.wiring import Container
from tests.fakes import fake_container

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
CID = "001090012345"
UVCI = make_uvci(lambda n: bytes([1] * n))


@pytest.fixture
def c() -> Container:
    c = fake_container(clock=lambda: NOW)
    c.passports.issue(CID, 1, UVCI, exp=int(NOW.timestamp()) + 86_400)
    return c


def test_nobody_without_a_passport_gets_one_or_its_image():
    c = fake_container(clock=lambda: NOW)
    with pytest.raises(errors.NotFound):
        c.passport_query.current(CID)
    with pytest.raises(errors.NotFound):
        c.passport_query.qr(CID, "png")


def test_the_current_passport_with_its_display_fields_and_status(c):
    out = c.passport_query.current(CID)
    assert (out["status"], out["version"], out["uvci"]) == ("VALID", 1, UVCI)
    assert out["hc1"] == c.passports.versions(CID)[0].hc1
    assert out["valid_until"] == "2026-01-06" and out["display"]["valid_until"] == "2026-01-06"
    later = fake_container(passports=c.passports, passport_reader=c.passports,
                           clock=lambda: datetime(2026, 1, 7, tzinfo=timezone.utc))
    assert later.passport_query.current(CID)["status"] == "EXPIRED"


def test_a_qr_image_is_rendered_once_then_served_from_the_cache(c):
    png, content_type = c.passport_query.qr(CID, "png")
    assert content_type == "image/png" and png.startswith(b"\x89PNG")
    [(key, (cached, _))] = c.image_cache.objects.items()
    assert cached == png and UVCI.replace(":", "_").replace("#", "_") in key
    c.image_cache.objects[key] = (b"cached bytes", "image/png")
    assert c.passport_query.qr(CID, "png") == (b"cached bytes", "image/png")
    svg, svg_type = c.passport_query.qr(CID, "svg")
    assert svg_type == "image/svg+xml" and isinstance(svg, str) and svg.startswith("<svg")
    with pytest.raises(errors.NotFound):
        c.passport_query.qr(CID, "gif")


def test_attack_a_revoked_passport_is_not_handed_out_even_from_the_cache(c):
    c.passport_query.qr(CID, "png")  # an image cached before the revocation
    c.revocations.revoke({"uvci": UVCI, "reason": "forged record"}, Actor("ministry", "m-1"))
    shown = c.passport_query.current(CID)
    assert (shown["status"], shown["hc1"]) == ("REVOKED", None)
    assert shown["revocation"] == {"reason": "forged record", "revoked_at": "2026-01-05T08:00:00+00:00"}
    for fmt in ("png", "svg"):
        with pytest.raises(PassportRevoked) as e:
            c.passport_query.qr(CID, fmt)
        assert e.value.code == "PASSPORT_REVOKED" and isinstance(e.value, errors.Gone)
    gets = c.image_cache.gets
    with pytest.raises(PassportRevoked):
        c.passport_query.qr(CID, "png")
    assert c.image_cache.gets == gets  # refused before the cache is read
