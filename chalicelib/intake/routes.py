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


@route(bp, "/v1/vaccination-records/{record_id}", methods=["GET"])
def get_record(record_id: str):
    params = bp.current_request.query_params or {}
    return container().corrections.view(params.get("facility_id", ""), record_id)


@route(bp, "/v1/vaccination-records/{record_id}/corrections", methods=["POST"],
       content_types=["application/json"])
def correct_record(record_id: str):
    body = bp.current_request.json_body if isinstance(bp.current_request.json_body, dict) else {}
    changes = body.get("changes")
    return container().corrections.correct(
        str(body.get("facility_id") or ""), record_id, accept_suggestion=body.get("accept_suggestion") is True,
        changes=changes if isinstance(changes, dict) else None)
