"""`route(..., body=SCHEMA)`: the body is parsed once, checked against the schema before the view
runs, handed to the view, and published as the route's OpenAPI requestBody. Run through a small
Chalice app of its own and the test client: the same path a request takes in the real app."""
from __future__ import annotations

import json

import pytest
from chalice import Blueprint, Chalice
from chalice.test import Client
from jsonschema.exceptions import SchemaError

from chalicelib.platform.contract import MAX_BODY_BYTES, MAX_DEPTH, BodyContract
from chalicelib.platform.http import route
from chalicelib.platform.openapi import build_openapi

SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name", "count"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20},
                   "count": {"type": "integer", "minimum": 1, "maximum": 10},
                   "kind": {"enum": ["a", "b"]},
                   "when": {"type": "string", "format": "date"},
                   "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                   "values": {"type": "object", "propertyNames": {"enum": ["x", "y"]},
                              "additionalProperties": {"type": "string"}},
                   "open": {"type": "object"}}}
OPTIONAL = {"type": "object", "additionalProperties": False, "properties": {"limit": {"type": "integer"}}}
JSON = {"Content-Type": "application/json"}
seen: list = []


def make_app() -> Chalice:
    bp = Blueprint(__name__)

    @route(bp, "/things", methods=["POST"], auth=False, body=SCHEMA, openapi={"summary": "make a thing"})
    def make_thing(body: dict):
        seen.append(body)
        return {"got": body}

    @route(bp, "/things/{thing_id}/limit", methods=["POST"], auth=False, body=OPTIONAL, body_required=False)
    def set_limit(thing_id: str, body: dict):
        return {"thing_id": thing_id, "got": body}

    @route(bp, "/guarded", methods=["POST"], body=SCHEMA)
    def guarded(body: dict):
        return {"got": body}

    app = Chalice(app_name="contract-test")
    app.register_blueprint(bp)
    return app


APP = make_app()


@pytest.fixture(scope="module")
def client():
    with Client(APP) as c:
        yield c


def post(client, body, path="/things", headers=JSON):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(path, headers=headers, body=raw)


def error(resp) -> dict:
    return json.loads(resp.body)["error"]


def refused(resp, field: str, status: int = 400, code: str = "VALIDATION_ERROR") -> dict:
    assert resp.status_code == status, resp.body
    err = error(resp)
    assert err["code"] == code and err["details"].get("field") == field, err
    return err


# -- what the view receives -------------------------------------------------------------------
def test_a_valid_body_reaches_the_view_parsed_once_as_its_body_argument(client):
    seen.clear()
    body = {"name": "Lan", "count": 3, "kind": "a", "when": "2021-08-20", "tags": ["x"], "values": {"x": "1"},
            "open": {"anything": [1, {"goes": None}]}}
    resp = post(client, body)
    assert resp.status_code == 200, resp.body
    assert json.loads(resp.body) == {"got": body} and seen == [body]


def test_path_parameters_and_the_body_arrive_together(client):
    resp = post(client, {"limit": 5}, path="/things/t-1/limit")
    assert json.loads(resp.body) == {"thing_id": "t-1", "got": {"limit": 5}}


@pytest.mark.parametrize("raw", [b"", b"  \n"])
def test_an_absent_optional_body_is_the_empty_object(client, raw):
    resp = post(client, raw, path="/things/t-1/limit")
    assert resp.status_code == 200 and json.loads(resp.body)["got"] == {}


def test_an_absent_required_body_is_a_400(client):
    refused(post(client, b""), "(body)")


# -- refusals: 400 naming the field, with a reason from the schema ----------------------------
@pytest.mark.parametrize("body, field, reason", [
    ({"name": 5, "count": 1}, "name", "name must be a string"),
    ({"name": "a", "count": "1"}, "count", "count must be an integer"),
    ({"name": "a", "count": 2.0}, "count", "count must be an integer"),  # no fraction, even .0
    ({"name": "a", "count": True}, "count", "count must be an integer"),
    ({"name": "a", "count": 11}, "count", "count must be at most 10"),
    ({"count": 1}, "name", "name is required"),
    ({"name": "a"}, "count", "count is required"),
    ({"name": "", "count": 1}, "name", "name must not be empty"),
    ({"name": "a", "count": 1, "kind": "c"}, "kind", 'kind must be one of "a", "b"'),
    ({"name": "a", "count": 1, "tags": ["1", 2]}, "tags[1]", "tags[1] must be a string"),
    ({"name": "a", "count": 1, "tags": ["1", "2", "3", "4"]}, "tags", "tags must have at most 3 items"),
    ({"name": "a", "count": 1, "values": {"z": "1"}}, "values.z", "values.z is not a field that can be given here"),
    ({"name": "a", "count": 1, "values": {"x": 1}}, "values.x", "values.x must be a string"),
    ({"name": "a", "count": 1, "when": "2021-02-30"}, "when", "when must be a valid date"),
    ({"name": "a", "count": 1, "citizen_id": "001090012345"}, "citizen_id", "citizen_id is not an accepted field"),
    ([{"name": "a", "count": 1}], "(body)", "the body must be an object"),
    ("name", "(body)", "the body must be an object"),
    (None, "(body)", "the body must be an object"),
])
def test_a_body_against_the_schema_is_a_400_naming_the_field(client, body, field, reason):
    seen.clear()
    assert refused(post(client, body), field)["message"] == reason
    assert seen == []  # the view never ran


def test_attack_values_are_never_echoed_back(client):
    secret = "Nguyễn Văn An 001090012345 " * 10
    for body in ({"name": secret, "count": 1}, {"name": "a", "count": 1, "kind": secret},
                 {"name": "a", "count": 1, "tags": [secret, 1]}, {"name": "a", "count": 1, "when": secret}):
        resp = post(client, body)
        assert resp.status_code == 400
        assert "001090012345" not in resp.body.decode() and "Nguy" not in resp.body.decode()


@pytest.mark.parametrize("key", ["001090012345", "a key with spaces", "x" * 65, "ké"])
def test_attack_an_unknown_key_that_is_not_a_field_name_is_not_echoed(client, key):
    err = refused(post(client, {"name": "a", "count": 1, key: 1}), "(body)")
    assert key not in json.dumps(err, ensure_ascii=False)
    err = refused(post(client, {"name": "a", "count": 1, "values": {key: "v"}}), "values")
    assert key not in json.dumps(err, ensure_ascii=False)


# -- the text before the schema: not JSON, duplicate keys, too deep, too large ----------------
@pytest.mark.parametrize("raw", [b'{"name": "a", "count": 1', b"name=a&count=1", b"\xff\xfe{}", b"{'name': 'a'}",
                                 b'{"name": "a", "count": NaN}', b'{"name": "a", "count": Infinity}',
                                 b'{"name": "a", "count": ' + b"1" * 5000 + b"}"])
def test_a_body_that_is_not_json_is_a_400_invalid_json(client, raw):
    resp = post(client, raw)
    assert resp.status_code == 400 and error(resp)["code"] == "INVALID_JSON", resp.body


def test_attack_a_key_given_twice_is_refused_not_resolved(client):
    # Parsers disagree on which of two equal keys wins: the checked value and the used one could differ.
    resp = post(client, b'{"name": "ok", "count": 1, "count": 99}')
    assert resp.status_code == 400 and error(resp)["code"] == "INVALID_JSON"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 30_000])
def test_attack_a_body_too_deep_is_a_400_not_a_500(client, depth):
    nested = b"[" * depth + b"]" * depth
    resp = post(client, b'{"name": "a", "count": 1, "open": {"x": ' + nested + b"}}")
    assert resp.status_code == 400 and error(resp)["code"] == "BODY_TOO_DEEP", resp.body[:200]


def test_a_body_at_the_depth_limit_passes(client):
    nested = {"x": None}
    for _ in range(MAX_DEPTH - 2):  # the body itself and "open" are two levels
        nested = {"x": nested}
    assert post(client, {"name": "a", "count": 1, "open": nested}).status_code == 200


def test_attack_a_body_too_large_is_a_413_before_it_is_parsed(client):
    body = b'{"name": "a", "count": 1, "open": {"x": "' + b"a" * MAX_BODY_BYTES + b'"}}'
    resp = post(client, body)
    assert resp.status_code == 413 and error(resp)["code"] == "BODY_TOO_LARGE"
    assert error(resp)["details"] == {"max_bytes": MAX_BODY_BYTES}


def test_authentication_comes_before_the_body(client):
    resp = post(client, b"not json", path="/guarded")
    assert resp.status_code == 401 and error(resp)["code"] == "TOKEN_MISSING"


# -- one contract: the schema that checks is the schema documented ----------------------------
def test_the_checked_schema_is_the_documented_request_body():
    doc = build_openapi(APP.routes, title="t", version="1")
    things = doc["paths"]["/things"]["post"]
    assert things["requestBody"]["required"] is True
    assert things["requestBody"]["content"]["application/json"]["schema"] is SCHEMA
    assert "413" in things["responses"]
    limit = doc["paths"]["/things/{thing_id}/limit"]["post"]
    assert limit["requestBody"]["required"] is False
    assert limit["requestBody"]["content"]["application/json"]["schema"] is OPTIONAL
    assert APP.routes["/things"]["POST"].view_function.route_doc.contract.schema is SCHEMA


def test_a_request_body_in_openapi_text_is_refused_at_decoration():
    with pytest.raises(TypeError):
        route(Blueprint("x"), "/x", methods=["POST"], openapi={"requestBody": {}})


def test_a_broken_schema_or_an_uncheckable_format_is_refused_at_decoration():
    with pytest.raises(SchemaError):
        route(Blueprint("x"), "/x", methods=["POST"], body={"type": "text"})
    with pytest.raises(ValueError):
        BodyContract({"type": "string", "format": "no-such-format"})
