from chalice import Blueprint, Response

from chalicelib.platform.http import route

from chalicelib.wiring import container

bp = Blueprint(__name__)


@route(bp, "/v1/health", methods=["GET"])
def health():
    report = container().health.report()
    return Response(body=report, status_code=200 if report["status"] == "ok" else 503,
                    headers={"Content-Type": "application/json", "Cache-Control": "no-store"})
