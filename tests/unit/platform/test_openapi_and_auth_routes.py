"""The OpenAPI document matches the real app's routes, and `route()` authenticates: no AWS call
is reached by these requests (authentication and role checks come first)."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

from app import app
from chalicelib.auth import dev_issuer
from chalicelib.auth.principal import Role
from chalicelib.platform.openapi import build_openapi

PUBLIC = {("GET", "/v1/health"), ("GET", "/v1/trust-list"), ("GET", "/v1/trust-list/jwks"),
          ("GET", "/v1/trust-list/gateway"),
          ("GET", "/v1/revocation-list"), ("GET", "/v1/revocation-list/{batch_id}"),
          ("GET", "/v1/openapi.json"), ("GET", "/dashboard"),
          ("GET", "/dashboard/{asset}")}
# Business rules and value sets are published for every verifier app, like the trust list.
PUBLIC |= {("GET", "/v1/rules"), ("GET", "/v1/rules/{country}/{digest}"), ("GET", "/v1/valuesets"),
           ("GET", "/v1/valuesets/{digest}")}


def app_routes() -> set[tuple[str, str]]:
    return {(m, p) for p, methods in app.routes.items() for m in methods}


@pytest.fixture(scope="module")
def client():
    with Client(app) as c:
        yield c


def test_the_document_lists_exactly_the_apps_routes_and_is_valid_openapi(client):
    resp = client.http.get("/v1/openapi.json")
    assert resp.status_code == 200
    doc = json.loads(resp.body)
    validate(doc)
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented == app_routes()
    for method, path in documented:
        op = doc["paths"][path][method.lower()]
        if (method, path) in PUBLIC:
            assert op["security"] == [] and "401" not in op["responses"], (method, path)
        else:
            assert op["security"] == [{"bearerAuth": []}] and "401" in op["responses"], (method, path)
        assert op["summary"] and op["operationId"]
    assert {p["name"] for p in doc["paths"]["/v1/batches/{batch_id}"]["get"]["parameters"]} == {"batch_id"}


def test_a_route_registered_without_route_is_refused():
    class Entry:
        view_name = "raw"

        @staticmethod
        def view_function():
            return {}

    with pytest.raises(ValueError):
        build_openapi({"/raw": {"GET": Entry()}}, title="t", version="1")


@pytest.mark.parametrize("method, path", sorted(app_routes() - PUBLIC))
def test_protected_routes_without_a_token_are_401_with_a_bearer_challenge(client, method, path):
    resp = client.http.request(method, path.replace("{", "").replace("}", ""),
                               headers={"Content-Type": "application/json"}, body=b"{}")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(resp.body)["error"]["code"] == "TOKEN_MISSING"


def test_a_bad_token_is_401_and_a_citizen_on_staff_routes_403(client, issuer):
    bad = client.http.get("/v1/batches/b1", headers={"Authorization": "Bearer abc.def.ghi"})
    assert bad.status_code == 401 and json.loads(bad.body)["error"]["code"] == "TOKEN_MALFORMED"
    expired = issuer.mint(dev_issuer.staff(Role.MINISTRY), ttl_s=-120)
    resp = client.http.get("/v1/batches/b1", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401 and json.loads(resp.body)["error"]["code"] == "TOKEN_EXPIRED"
    citizen = issuer.mint(dev_issuer.citizen("001090123456"))
    resp = client.http.post("/v1/vaccination-records", body=b'{"records": [{}]}',
                            headers={"Authorization": f"Bearer {citizen}", "Content-Type": "application/json"})
    assert resp.status_code == 403 and json.loads(resp.body)["error"]["code"] == "ROLE_NOT_ALLOWED"


def test_current_principal_outside_a_protected_route_is_401():
    from chalicelib import errors
    from chalicelib.auth.context import current_principal

    with pytest.raises(errors.Unauthorized):
        current_principal()
