"""Passport routes: a citizen only ever reads their own passport; the ministry and operators
revoke one by its UVCI, and lift the hold a revocation puts on its person."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.access.routes import shown
from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.auth.principal import NATIONAL_ROLES
from chalicelib.issuance.revocation import LIFT_REQUEST_SCHEMA, REQUEST_SCHEMA, Actor
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _me() -> str:
    p = current_principal()
    policy.require_citizen(p, p.citizen_id or "")
    return p.citizen_id or ""


@route(bp, "/v1/passports/me", methods=["GET"], openapi={
    "summary": "My current passport: HC1 string, display fields (vi/en), status", "tags": ["passports"],
    "responses": {"200": {"description": "the passport (a revoked one: no hc1, its revocation's reason)"},
                  "404": {"description": "none issued yet"}}})
def my_passport():
    citizen_id = _me()
    passport = container().passport_query.current(citizen_id)
    shown("GET /v1/passports/me", {citizen_id: [str(passport.get("uvci") or "")]})
    return passport


def _qr(fmt: str) -> Response:
    citizen_id = _me()
    data, content_type = container().passport_query.qr(citizen_id, fmt)
    shown(f"GET /v1/passports/me/qr.{fmt}", {citizen_id: []})
    return Response(body=data, status_code=200,
                    headers={"Content-Type": content_type, "Cache-Control": "private, max-age=3600"})


@route(bp, "/v1/passports/me/qr.png", methods=["GET"], openapi={
    "summary": "My passport's QR code (PNG)", "tags": ["passports"],
    "responses": {"200": {"description": "PNG image", "content": {"image/png": {}}},
                  "410": {"description": "PASSPORT_REVOKED: the passport was revoked"}}})
def my_qr_png():
    return _qr("png")


@route(bp, "/v1/passports/me/qr.svg", methods=["GET"], openapi={
    "summary": "My passport's QR code (SVG)", "tags": ["passports"],
    "responses": {"200": {"description": "SVG image", "content": {"image/svg+xml": {}}},
                  "410": {"description": "PASSPORT_REVOKED: the passport was revoked"}}})
def my_qr_svg():
    return _qr("svg")


@route(bp, "/v1/revocations", methods=["POST"], body=REQUEST_SCHEMA, openapi={
    "summary": "Revoke a passport by its UVCI (written to the audit log, published on the revocation list)",
    "tags": ["passports"], "description": "Ministry and operators only.",
    "responses": {"201": {"description": "the revocation, with its audit log sequence and entry hash"},
                  "404": {"description": "no passport was issued with this UVCI"},
                  "409": {"description": "PASSPORT_ALREADY_REVOKED (also a version replaced by a re-issue, "
                                          "or revoked because no attested dose remained)"}}})
def revoke_passport(body: dict):
    p = current_principal()
    policy.require_roles(p, *NATIONAL_ROLES)
    revocation = container().revocations.revoke(body, Actor(p.role.value, p.subject))
    return Response(body=revocation, status_code=201, headers={"Content-Type": "application/json"})


@route(bp, "/v1/revocations/{uvci}/lift", methods=["POST"], body=LIFT_REQUEST_SCHEMA, openapi={
    "summary": "Lift the hold a ministry revocation puts on its person (the UVCI stays revoked)",
    "tags": ["passports"],
    "description": "Ministry and operators only. The UVCI is percent-encoded in the path (`#` as %23). Written "
                   "to the audit log first, then the hold is removed and the person is queued for re-evaluation: "
                   "a new passport from their attested doses, without waiting for a new signature.",
    "responses": {"200": {"description": "the lift, with its audit log sequence and entry hash"},
                  "404": {"description": "no passport was issued with this UVCI"},
                  "409": {"description": "HOLD_ALREADY_LIFTED, or NOT_HELD_BY_THIS_REVOCATION (not revoked by "
                                         "the ministry, or the person is held by another revocation)"}}})
def lift_hold(uvci: str, body: dict):
    p = current_principal()
    policy.require_roles(p, *NATIONAL_ROLES)
    return container().revocations.lift(uvci, body, Actor(p.role.value, p.subject))
