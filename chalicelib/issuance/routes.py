"""Passport routes for the citizens' apps: a citizen only ever reads their own passport."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.auth import policy
from chalicelib.auth.context import current_principal
from chalicelib.platform.http import route
from chalicelib.wiring import container

bp = Blueprint(__name__)


def _me() -> str:
    p = current_principal()
    policy.require_citizen(p, p.citizen_id or "")
    return p.citizen_id or ""


@route(bp, "/v1/passports/me", methods=["GET"], openapi={
    "summary": "My current passport: HC1 string, display fields (vi/en), status", "tags": ["passports"],
    "responses": {"200": {"description": "the passport"}, "404": {"description": "none issued yet"}}})
def my_passport():
    return container().passport_query.current(_me())


def _qr(fmt: str) -> Response:
    data, content_type = container().passport_query.qr(_me(), fmt)
    return Response(body=data, status_code=200,
                    headers={"Content-Type": content_type, "Cache-Control": "private, max-age=3600"})


@route(bp, "/v1/passports/me/qr.png", methods=["GET"], openapi={
    "summary": "My passport's QR code (PNG)", "tags": ["passports"],
    "responses": {"200": {"description": "PNG image", "content": {"image/png": {}}}}})
def my_qr_png():
    return _qr("png")


@route(bp, "/v1/passports/me/qr.svg", methods=["GET"], openapi={
    "summary": "My passport's QR code (SVG)", "tags": ["passports"],
    "responses": {"200": {"description": "SVG image", "content": {"image/svg+xml": {}}}}})
def my_qr_svg():
    return _qr("svg")
