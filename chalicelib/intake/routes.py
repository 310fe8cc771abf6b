"""HTTP routes of intake: facility submissions and batch progress."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.platform.http import route

from chalicelib.wiring import container

bp = Blueprint(__name__)


@route(bp, "/v1/vaccination-records", methods=["POST"], content_types=["application/json"])
def submit_records():
    req = bp.current_request
    body = req.json_body if isinstance(req.json_body, dict) else {}
    result = container().submission.submit(
        records=body.get("records"), idempotency_key=req.headers.get("idempotency-key"),
        facility_id=body.get("facility_id"))
    return result


@route(bp, "/v1/batches/{batch_id}", methods=["GET"])
def get_batch(batch_id: str):
    return container().batch_progress(batch_id)
