"""Records every AWS call each Lambda function makes while the tests (or the demo) run, as the IAM
requests it would be on AWS: (function, action, resource ARN). LocalStack does not enforce IAM, so
this record is what tests/integration/test_iam_recorded_calls.py checks against each function's
policy (infra/cloudformation.policy): a grant missing from infra/spec.py fails the suite instead
of every invocation on AWS.

Whose call is it: `chalicelib.local.event_runner.current_function`, set by the event runner around
each SQS poll and invocation, and here around every request chalice's LocalGateway serves (the
test client and `chalice local`) as `api_handler`. Calls made with no function set (fixtures,
setup, operator CLIs) are not recorded. Python's thread pools do not carry context variables into
their workers, so `install()` makes `ThreadPoolExecutor.submit` run each task in the submitter's
context: a KMS Sign made on a signing pool's thread is still the countersign worker's.

Every botocore client created after `install()` gets a `before-parameter-build` hook (fired once
per API call with the caller's parameters, also for presigned URLs): boto3's and pynamodb's alike,
since both create clients through `botocore.session.Session.create_client`.

With a file (`IAM_CALLS_FILE`, used by the e2e demo's subprocesses through
tests/iam_site/sitecustomize.py) each new distinct request is appended as a JSON line.

Nothing here is imported by the app: it is measurement, not behaviour.
"""
from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlparse

# LocalStack's account; the policies use `*` for account and Region, so only the shape matters.
DEFAULT_ACCOUNT = "000000000000"

# API operations whose IAM action has another name (AWS Service Authorization Reference).
_S3_ACTIONS = {
    "HeadObject": "GetObject", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject", "ListObjectVersions": "ListBucketVersions",
    "DeleteObjects": "DeleteObject", "GetObjectAttributes": "GetObject", "CopyObject": "PutObject",
    "UploadPartCopy": "PutObject",
}
_S3_BUCKET_OPS = {"ListObjectsV2", "ListObjects", "HeadBucket", "ListObjectVersions", "GetBucketLocation",
                  "ListMultipartUploads"}
_SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
              "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
# DynamoDB transactions are authorised item by item with the item's own action.
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem",
             "Get": "GetItem"}
# Calls every principal may make (no IAM action exists for them).
_UNAUTHORISED = {("sts", "GetCallerIdentity")}


@dataclass(frozen=True)
class Request:
    """One IAM authorisation a call needs. `key_id` is the KeyId a KMS call named (alias or key),
    resolved to the key's aliases when the policy is evaluated."""

    function: str
    prefix: str
    action: str
    resource: str
    operation: str
    key_id: str = ""
    # Condition keys the request carries, e.g. (("s3:prefix", "reports/b-1/"),) for a listing.
    conditions: tuple[tuple[str, str], ...] = ()


def requests_of(service: str, operation: str, params: dict, *, region: str,
                account: str = DEFAULT_ACCOUNT) -> list[tuple[str, str, str]]:
    """(action, resource, extra) for each authorisation the call needs; extra is the KeyId a KMS
    call named, or `key=value` of a condition key the request carries."""
    if (service, operation) in _UNAUTHORISED:
        return []
    if service == "dynamodb":
        return _dynamodb(operation, params, region, account)
    if service == "s3":
        return _s3(operation, params)
    if service == "sqs":
        return _sqs(operation, params, region, account)
    if service == "kms":
        key = str(params.get("KeyId", ""))
        if not key:
            return [(f"kms:{operation}", "*", "")]
        if key.startswith("arn:"):
            return [(f"kms:{operation}", key, key)]
        kind = "" if key.startswith("alias/") else "key/"
        return [(f"kms:{operation}", f"arn:aws:kms:{region}:{account}:{kind}{key}", key)]
    return [(f"{service}:{operation}", "*", "")]


def _table_arn(region: str, account: str, table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb(op: str, params: dict, region: str, account: str) -> list[tuple[str, str, str]]:
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [(f"dynamodb:{op}", _table_arn(region, account, t), "") for t in params.get("RequestItems") or {}]
    if op in ("TransactWriteItems", "TransactGetItems"):
        out = []
        for entry in params.get("TransactItems") or []:
            for kind, action in _TRANSACT.items():
                if kind in entry:
                    out.append((f"dynamodb:{action}", _table_arn(region, account, entry[kind]["TableName"]), ""))
        return list(dict.fromkeys(out))
    if "TableName" in params:
        return [(f"dynamodb:{op}", _table_arn(region, account, params["TableName"], params.get("IndexName")), "")]
    return [(f"dynamodb:{op}", "*", "")]


def _s3(op: str, params: dict) -> list[tuple[str, str, str]]:
    action = f"s3:{_S3_ACTIONS.get(op, op)}"
    bucket = params.get("Bucket")
    if not bucket:
        return [(action, "*", "")]
    if op in _S3_BUCKET_OPS or ("Key" not in params and op != "DeleteObjects"):
        # A listing's Prefix is the s3:prefix condition key; with none, the key is absent.
        prefix = params.get("Prefix")
        return [(action, f"arn:aws:s3:::{bucket}", f"s3:prefix={prefix}" if prefix is not None else "")]
    if op == "DeleteObjects":
        keys = [o["Key"] for o in (params.get("Delete") or {}).get("Objects", [])]
        return [(action, f"arn:aws:s3:::{bucket}/{k}", "") for k in keys]
    out = [(action, f"arn:aws:s3:::{bucket}/{params['Key']}", "")]
    if op in ("CopyObject", "UploadPartCopy"):
        src = params.get("CopySource")
        src_path = f"{src['Bucket']}/{src['Key']}" if isinstance(src, dict) else str(src).lstrip("/").split("?")[0]
        out.append(("s3:GetObject", f"arn:aws:s3:::{src_path}", ""))
    return out


def _sqs(op: str, params: dict, region: str, account: str) -> list[tuple[str, str, str]]:
    action = f"sqs:{_SQS_BATCH.get(op, op)}"
    if "QueueUrl" in params:
        # .../<account>/<name> (path and host-based endpoints alike)
        parts = [p for p in urlparse(params["QueueUrl"]).path.split("/") if p]
        name = parts[-1] if parts else ""
        acct = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else account
        return [(action, f"arn:aws:sqs:{region}:{acct}:{name}", "")]
    if "QueueName" in params:
        acct = str(params.get("QueueOwnerAWSAccountId") or account)
        return [(action, f"arn:aws:sqs:{region}:{acct}:{params['QueueName']}", "")]
    return [(action, "*", "")]


def _conditions(extra: str) -> tuple[tuple[str, str], ...]:
    if not extra:
        return ()
    key, _, value = extra.partition("=")
    return ((key, value),)


class Recorder:
    """Distinct requests seen in this process (and appended to `path`, when given, as they come)."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self.requests: set[Request] = set()
        self._path = path

    @staticmethod
    def prefix() -> str:
        """The prefix of the container the function runs with: its resources, hence its policy (a
        test may run the app over another prefix's resources)."""
        from chalicelib import wiring
        from chalicelib.settings import get_settings

        current = wiring._container  # read only; container() would build one
        return (current.settings if current is not None else get_settings()).resource_prefix

    @staticmethod
    def renamed() -> dict[str, str]:
        """Physical names a test put in place of the prefix's own (`Settings.overrides`, a test-only
        construct) -> the names the template gives those resources: the call is judged as one on
        the deployed resource."""
        from chalicelib import resource_names as rn
        from chalicelib import wiring

        current = wiring._container
        if current is None or not current.settings.overrides:
            return {}
        settings, canonical = current.settings, {}
        for name, physical in settings.overrides.items():
            kind, _, logical = name.partition(":")
            own = {"table": rn.physical, "queue": rn.physical, "dlq": rn.dlq, "bucket": rn.bucket,
                   "key": rn.key_alias}.get(kind)
            if own is not None:
                canonical[physical] = own(settings.resource_prefix, logical)
        return canonical

    def on_missing_object(self, http_response=None, model=None, context=None, **_) -> None:
        """S3 answers a read of a missing key 404 only to a caller allowed s3:ListBucket on the
        bucket (otherwise 403): a miss the code expects (a cache) needs that grant too."""
        from chalicelib.local.event_runner import current_function

        function = current_function.get()
        bucket = (context or {}).get("vaxpass_iam_bucket")
        if function is None or bucket is None or getattr(http_response, "status_code", 0) != 404:
            return
        self._add([Request(function, self.prefix(), "s3:ListBucket", f"arn:aws:s3:::{bucket}",
                           f"s3:{model.name} (missing key)")])

    def on_call(self, params=None, model=None, region: str = "", context=None, **_) -> None:
        from chalicelib.local.event_runner import current_function

        function = current_function.get()
        if function is None or model is None:
            return
        service = model.service_model.service_name
        if service == "s3" and model.name in ("GetObject", "HeadObject") and context is not None:
            context["vaxpass_iam_bucket"] = (params or {}).get("Bucket")
        found, renamed = [], self.renamed()
        for action, resource, extra in requests_of(service, model.name, params or {}, region=region):
            for physical, own in renamed.items():
                resource = resource.replace(physical, own)
            key_id, conditions = (extra, ()) if service == "kms" else ("", _conditions(extra))
            found.append(Request(function, self.prefix(), action, resource, f"{service}:{model.name}", key_id,
                                 conditions))
        self._add(found)

    def _add(self, found: list[Request]) -> None:
        with self._lock:
            new = [r for r in found if r not in self.requests]
            self.requests.update(new)
            if new and self._path is not None:
                with self._path.open("a", encoding="utf-8") as f:
                    f.writelines(json.dumps(asdict(r), sort_keys=True) + "\n" for r in new)


_installed: Recorder | None = None


def install(path: Path | None = None) -> Recorder:
    """Hooks every botocore client created from now on, the local gateway and thread pools (once
    per process)."""
    global _installed
    if _installed is not None:
        return _installed
    import contextvars
    import functools
    from concurrent.futures import ThreadPoolExecutor

    import botocore.session
    from chalice.local import LocalGateway

    from chalicelib.local.event_runner import current_function

    recorder = Recorder(path)
    create_client = botocore.session.Session.create_client

    def recorded_client(self, *args, **kwargs):
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build",
                                    functools.partial(recorder.on_call, region=client.meta.region_name))
        client.meta.events.register("after-call.s3", recorder.on_missing_object)
        return client

    botocore.session.Session.create_client = recorded_client

    handle_request = LocalGateway.handle_request

    def as_api_handler(self, *args, **kwargs):
        token = current_function.set("api_handler")
        try:
            return handle_request(self, *args, **kwargs)
        finally:
            current_function.reset(token)

    LocalGateway.handle_request = as_api_handler  # type: ignore[method-assign]

    submit = ThreadPoolExecutor.submit

    def submit_in_context(self, fn, /, *args, **kwargs):
        return submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    ThreadPoolExecutor.submit = submit_in_context  # type: ignore[method-assign]
    _installed = recorder
    return recorder


def read(paths: Iterable[Path]) -> Iterator[Request]:
    for path in paths:
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    fields = json.loads(line)
                    fields["conditions"] = tuple(tuple(c) for c in fields.get("conditions", ()))
                    yield Request(**fields)
