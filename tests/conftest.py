"""Test-wide setup. Unit tests never open sockets; integration tests use LocalStack via
AWS_ENDPOINT_URL (started by `make test`), with resources created under a unique prefix."""
from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest

# Credentials LocalStack accepts; never real ones. setdefault keeps an operator's choice.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_REGION", "ap-southeast-1")
os.environ.setdefault("AWS_DEFAULT_REGION", os.environ["AWS_REGION"])
# One resource prefix per test session, set before app.py is imported: Chalice binds SQS handlers
# to queue names at import, and LocalStack has no reset, so each run gets its own resources.
os.environ["VAXPASS_STAGE"] = "test"
os.environ["VAXPASS_RESOURCE_PREFIX"] = f"vxt-{uuid.uuid4().hex[:8]}"
# argparse makes a help formatter for every argument it adds (asking for the terminal's size) and
# looks up translations of its messages; the CLI tests build the whole parser hundreds of times.
# These are the answers those lookups get under pytest anyway (output is captured, so the terminal
# is the 80x24 fallback; no translations are installed), given up front: half the cost of a build.
for _name, _value in (("COLUMNS", "80"), ("LINES", "24"), ("LANGUAGE", "C")):
    os.environ.setdefault(_name, _value)


def _test_issuer_env() -> None:
    """A token issuer for this session: its key and JWKS in a fresh directory, configured through
    the environment before anything reads (and caches) the settings. Tests mint with `issuer`."""
    from chalicelib.auth.dev_issuer import load_or_create_key, public_jwk

    directory = Path(tempfile.mkdtemp(prefix="vaxpass-test-issuer-"))
    key_file = directory / "key.pem"
    (directory / "jwks.json").write_text(json.dumps({"keys": [public_jwk(load_or_create_key(key_file))]}))
    os.environ["VAXPASS_DEV_JWT_KEY_FILE"] = str(key_file)
    os.environ["VAXPASS_JWKS_URL"] = (directory / "jwks.json").as_uri()


_test_issuer_env()


def _hypothesis_profiles() -> None:
    """`ci` by default, `thorough` (10x the examples) with HYPOTHESIS_PROFILE=thorough; per-test
    budgets are multiples of the profile's (tests/properties.py)."""
    from hypothesis import settings

    settings.register_profile("ci", max_examples=50)
    settings.register_profile("thorough", max_examples=500)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_hypothesis_profiles()

# Every AWS call a Lambda function makes during the tests, checked against that function's IAM
# policy by tests/integration/test_iam_recorded_calls.py (which runs last). Installed before any
# client exists: clients get the hook when they are created.
def _record_aws_calls() -> None:
    from infra.aws_calls import install

    install()


_record_aws_calls()


def _chalice_test_clients_in_the_test_stage() -> None:
    """chalice.test.Client defaults to the `dev` stage and swaps os.environ for a copy holding that
    stage's variables (VAXPASS_STAGE=dev) during each request. The swap is not thread-safe: two
    requests from racing threads (the concurrency attack tests) can leave the copy in place for
    good, and a dev stage refuses the test key set. Tests run the app in the `test` stage, which
    has no stage variables in .chalice/config.json."""
    import chalice.test

    init = chalice.test.Client.__init__

    def in_test_stage(self, app, stage_name: str = "test", project_dir: str = ".") -> None:
        init(self, app, stage_name=stage_name, project_dir=project_dir)

    chalice.test.Client.__init__ = in_test_stage  # type: ignore[method-assign]


_chalice_test_clients_in_the_test_stage()
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SESSION_STARTED = time.time()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    """The recorded-calls check runs after every test that records."""
    last = [i for i in items if i.nodeid.startswith("tests/integration/test_iam_recorded_calls.py")]
    items[:] = [i for i in items if i not in last] + last


def pytest_terminal_summary(terminalreporter) -> None:
    report = ARTIFACTS / "iam-unused-grants.txt"
    if report.exists() and report.stat().st_mtime >= SESSION_STARTED:
        terminalreporter.write_sep("-", f"IAM grants no recorded call used ({report.relative_to(ARTIFACTS.parent)})")
        terminalreporter.write_line(report.read_text(encoding="utf-8").rstrip())


@pytest.fixture(scope="session")
def issuer():
    """The session's token issuer (the app trusts its JWKS): `issuer.mint(principal)`."""
    from datetime import datetime, timezone

    from chalicelib.auth.dev_issuer import DevIssuer
    from chalicelib.settings import get_settings

    s = get_settings()
    return DevIssuer.from_file(s.dev_jwt_key_file, issuer=s.jwt_issuer, audience=s.jwt_audience,
                               clock=lambda: datetime.now(timezone.utc))


@pytest.fixture(scope="session")
def bearer(issuer):
    """`bearer(principal)` -> {"Authorization": "Bearer ..."} for the test client."""
    return lambda principal, **kw: {"Authorization": f"Bearer {issuer.mint(principal, **kw)}"}


@pytest.fixture(scope="session")
def aws_endpoint() -> str:
    import urllib.request

    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        pytest.fail("integration tests need AWS_ENDPOINT_URL (run them with `make test`)")
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=5) as resp:
            resp.read()
    except OSError as e:
        pytest.fail(f"LocalStack not reachable at {url}: {e} (run `make test`)")
    return url
