"""The ministry dashboard in a real headless browser (Debian's chromium, driven by playwright-core
from tests/e2e/dashboard_probe.js) against `chalice local` on LocalStack: counters seeded through
the real adapters under a prefix of this test's own, the page shows those totals, a bar per
active province and the day's passports; the screenshot is kept in test-artifacts/dashboard.png.
And the token: typed into the form or given in the fragment it works, kept in sessionStorage
only; in the query string, or left in localStorage by an older page, it does not; the page's
CSP and Referrer-Policy are sent and nothing on the page violates the CSP.

No skip: without chromium or playwright-core (scripts/install-browser.sh, run by `make test`)
this test fails."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _passport(citizen: str, version: int, facility: str, province: str):
    from chalicelib.issuance.service import NewPassport

    return NewPassport(citizen_id=citizen, version=version, uvci=f"URN:UVCI:01:VN:{citizen}{version}",
                       kid_b64="a2lk", alg="ES256", iat=0, exp=1, hc1="HC1:seeded", signature_b64="c2ln",
                       content_digest=f"d{version}", attestation={"facility_id": facility, "province_code": province},
                       display={})


def seed(settings) -> None:
    """Three provinces through the real counter and passport adapters."""
    from chalicelib.adapters.counters import DynamoCounters
    from chalicelib.adapters.dynamo import Tables
    from chalicelib.adapters.issuance.passports import DynamoPassportStore
    from chalicelib.issuance.service import StoredPassport

    tables = Tables(settings)
    counters = DynamoCounters(tables)
    counters.add("HN-01", "001", received=120, verified=90, verified_normalized=10, mismatched=8, not_found=2,
                 signed_by_facility=60)
    counters.add("HCM-01", "079", received=200, verified=150, mismatched=20, signed_by_facility=100,
                 complaints_received=5, complaints_resolved=2)
    counters.add("DN-01", "048", received=30)
    store = DynamoPassportStore(tables)
    now = datetime.now(timezone.utc)
    for cid in ("001000000001", "001000000002", "001000000003"):
        assert store.save_new(_passport(cid, 1, "HN-01", "001"), None, [], now)
    for cid in ("079000000004", "079000000005"):
        assert store.save_new(_passport(cid, 1, "HCM-01", "079"), None, [], now)
    # a re-issue: one more passport issued and one revoked, still one person
    previous = StoredPassport("079000000005", 1, "URN:UVCI:01:VN:0790000000051", "d1", "c2ln", "ES256")
    assert store.save_new(_passport("079000000005", 2, "HCM-01", "079"), previous, [], now)


EXPECTED = {
    "doses-received": 350, "verified": 250, "needs-correction": 30, "cleaning-backlog": 70,
    "signed": 160, "passports-issued": 6, "passports-revoked": 1, "people-with-passport": 5,
    "complaint-backlog": 3, "complaints-overdue": 0, "corrected": 0,
}


@pytest.fixture(scope="module")
def dashboard_stack(aws_endpoint):
    """Resources under a prefix of this test's own (so the totals are only what it seeds), and
    `chalice local` serving the app on a free port; stopped in any case."""
    from chalicelib.settings import Settings
    from infra.bootstrap import bootstrap

    prefix = f"vxd-{uuid.uuid4().hex[:8]}"
    region = os.environ["AWS_REGION"]
    bootstrap(prefix, region=region, endpoint_url=aws_endpoint)
    settings = Settings(stage="test", region=region, endpoint_url=aws_endpoint, resource_prefix=prefix)
    seed(settings)
    port = _free_port()
    env = {**os.environ, "VAXPASS_RESOURCE_PREFIX": prefix, "AWS_ENDPOINT_URL": aws_endpoint}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "dashboard-chalice.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chalice"), "local", "--stage", "local",
                             "--host", "127.0.0.1", "--port", str(port), "--no-autoreload"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (ARTIFACTS / "dashboard-chalice.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "chalice local did not answer in 60 s"
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def seen(dashboard_stack, issuer) -> dict:
    """One browser run through every scenario (see dashboard_probe.js); the ministry's token goes
    to the probe through its environment, never on a command line."""
    from chalicelib.auth import dev_issuer
    from chalicelib.auth.principal import Role

    token = issuer.mint(dev_issuer.staff(Role.MINISTRY))
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    run = subprocess.run(["node", str(ROOT / "tests" / "e2e" / "dashboard_probe.js"), dashboard_stack, str(shot)],
                         cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "VAXPASS_PROBE_TOKEN": token})
    assert run.returncode == 0, f"browser run failed (run scripts/install-browser.sh):\n{run.stderr[-3000:]}"
    out = json.loads(run.stdout)
    out["base"], out["shot"] = dashboard_stack, shot
    return out


def _ok(scenario: dict) -> dict:
    assert "error" not in scenario, scenario["error"]
    return scenario


def test_dashboard_shows_the_seeded_totals_in_chromium(seen):
    base, form = seen["base"], _ok(seen["form"])
    # The ministry opens the page: it asks for the token, and loads nothing before it has one
    assert form["signin_shown_first"] and not form["loaded_before_sign_in"]
    # Then, signed in through the form, the page loaded its data with no script error and asked
    # nothing of any other host
    assert "updated" in form["status_after"], form["status_after"]
    assert form["console_errors_before_injection"] == []
    assert all(u.startswith(base + "/") for u in form["requests"]), form["requests"]
    # and the national totals are the seeded ones, shown as such
    for name, value in EXPECTED.items():
        assert form["totals"][name]["value"] == value, (name, form["totals"][name])
        assert re.sub(r"\D", "", form["totals"][name]["text"]) == str(value), form["totals"][name]
    # and each seeded province has its issuing-progress bar, the untouched ones none
    bars = {b["code"]: b["text"] for b in form["province_bars"]}
    assert set(bars) == {"001", "048", "079"}
    assert "Hà Nội" in bars["001"] and "(3/60)" in bars["001"]
    assert "(2/100)" in bars["079"] and "—" in bars["048"]
    assert set(form["backlog_bars"]) == {"001", "048", "079"}
    # and today's passports are the last day of the series
    today = datetime.now(timezone.utc).date().isoformat()
    assert form["days"][-1] == [today, 6] and len(form["days"]) == 30
    # and the screenshot is there to look at
    assert seen["shot"].exists() and seen["shot"].stat().st_size > 10_000


def test_token_entered_in_the_form_is_kept_in_session_storage_only(seen):
    form = _ok(seen["form"])
    assert form["session_has_token"] and not form["local_has_token"] and form["local_keys"] == []
    assert form["reloaded_still_signed_in"] and form["loaded"]
    assert not form["token_in_request_url"] and not form["url_has_token"]
    assert form["authorized_requests"] >= 2  # it travels as a bearer header, and only so


def test_token_in_the_fragment_works_and_leaves_the_address_bar_at_once(seen):
    fragment = _ok(seen["fragment"])
    assert fragment["loaded"] and fragment["console_errors"] == []
    assert not fragment["url_has_token"] and fragment["url"] == "/dashboard"
    assert fragment["session_has_token"] and not fragment["local_has_token"]
    assert not fragment["token_in_request_url"]  # a fragment is never sent, and never re-sent


def test_attack_token_in_the_query_string_does_not_authenticate(seen):
    query = _ok(seen["query"])
    assert not query["loaded"] and query["signin_shown"]
    assert query["authorized_requests"] == 0
    assert not query["url_has_token"] and query["url"] == "/dashboard"  # stripped from the address bar
    assert not query["session_has_token"] and not query["local_has_token"]
    assert "?token=" in query["signin_note"]  # and the user is told why


def test_attack_token_left_in_local_storage_is_wiped_not_used(seen):
    legacy = _ok(seen["legacy_local_storage"])
    assert not legacy["loaded"] and legacy["signin_shown"] and legacy["authorized_requests"] == 0
    assert legacy["local_keys"] == [] and not legacy["session_has_token"]


def test_a_refused_token_is_forgotten_and_asked_for_again(seen):
    refused = _ok(seen["refused"])
    assert refused["signin_shown"] and not refused["loaded"] and refused["session_token"] is None
    assert "401" in refused["signin_note"]


def test_attack_dashboard_page_and_assets_send_csp_and_no_referrer(seen):
    responses = {**seen["query"]["headers"], **seen["form"]["headers"]}
    assert set(responses) >= {"/dashboard", "/dashboard/dashboard.js", "/dashboard/dashboard.css"}
    for path, headers in responses.items():
        csp = {d.strip().split(" ")[0]: d.strip() for d in headers["content-security-policy"].split(";")}
        assert csp["default-src"] == "default-src 'none'", path
        assert csp["script-src"] == "script-src 'self'" and "unsafe" not in headers["content-security-policy"]
        assert csp["frame-ancestors"] == "frame-ancestors 'none'" and csp["form-action"] == "form-action 'none'"
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-content-type-options"] == "nosniff", path
    # no request of any scenario carried a Referer, so no URL ever leaves in one
    assert all(seen[s].get("referers") == [] for s in ("form", "fragment", "query", "legacy_local_storage")), \
        {s: seen[s].get("referers") for s in seen if isinstance(seen[s], dict)}
    # and the page itself violates nothing, while a script injected into it is blocked and reported
    form = _ok(seen["form"])
    assert form["csp_violations_before_injection"] == [] and seen["fragment"]["csp_violations"] == []
    assert form["injected"]["ran"] is False
    assert [v["directive"] for v in form["injected"]["violations"]] == ["script-src-elem"]
