"""Routes about the API itself: its OpenAPI document."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.platform.http import route
from chalicelib.platform.openapi import build_openapi

bp = Blueprint(__name__)
API_VERSION = "1"


@route(bp, "/v1/openapi.json", methods=["GET"], auth=False, openapi={
    "summary": "This OpenAPI document", "tags": ["operations"]})
def openapi_document():
    doc = build_openapi(bp.current_app.routes, title="vaxpass", version=API_VERSION)
    return Response(body=doc, headers={"Content-Type": "application/json", "Cache-Control": "public, max-age=300"})
