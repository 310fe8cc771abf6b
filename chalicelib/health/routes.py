from chalice import Blueprint, Response

from chalicelib.platform.http import route

from chalicelib.wiring import container

bp = Blueprint(__name__)


@route(bp, "/v1/health", methods=["GET"], auth=False, openapi={
    "summary": "Reachability of DynamoDB, SQS, S3 and KMS", "tags": ["operations"],
    "responses": {"200": {"description": "every dependency answers"},
                  "503": {"description": "a dependency failed; the failing check is named"}}})
def health():
    report = container().health.report()
    return Response(body=report, status_code=200 if report["status"] == "ok" else 503,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store"})
