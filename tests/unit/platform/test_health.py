"""GET /v1/health over fake probes: 200 when every dependency answers, 503 naming the one that
does not (the real probes against LocalStack: tests/integration/test_infra_and_health.py)."""
from __future__ import annotations

import json

from chalicelib.wiring import set_container
from tests.fakes import FakeProbe, fake_container


def health(*down: str):
    from chalice.test import Client

    from app import app

    probes = [FakeProbe(name, down=name in down) for name in ("dynamodb", "sqs", "s3", "kms")]
    set_container(fake_container(health_probes=probes))
    try:
        with Client(app) as client:
            return client.http.get("/v1/health")
    finally:
        set_container(None)


def test_every_dependency_answering_is_healthy():
    resp = health()
    body = json.loads(resp.body)
    assert resp.status_code == 200 and body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "dynamodb": "ok", "sqs": "ok", "s3": "ok", "kms": "ok"}


def test_a_dependency_down_is_a_503_naming_it():
    resp = health("kms")
    body = json.loads(resp.body)
    assert resp.status_code == 503 and body["status"] == "degraded"
    assert body["checks"]["kms"] == {**body["checks"]["kms"], "status": "unreachable", "detail": "kms unreachable"}
    assert body["checks"]["s3"]["status"] == "ok"
