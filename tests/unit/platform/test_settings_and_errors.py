from __future__ import annotations

import json

import pytest

from chalicelib import errors
from chalicelib.platform.http import error_response, status_for
from chalicelib.settings import ENV_NAMES, Settings, SettingsError


def test_settings_read_from_env_with_types_and_derived_names():
    s = Settings.from_env({"VAXPASS_STAGE": "dev", "AWS_REGION": "ap-southeast-1",
                           "VAXPASS_DCC_VALIDITY_DAYS": "30", "VAXPASS_REGISTRY_TIMEOUT_S": "2.5"})
    assert s.stage == "dev" and s.dcc_validity_days == 30 and s.registry_timeout_s == 2.5
    assert s.table("records") == "vaxpass-dev-records"
    assert s.dlq("intake") == "vaxpass-dev-intake-dlq"
    assert s.key_alias("dsc-es256") == "alias/vaxpass-dev-dsc-es256"
    assert s.endpoint_url is None


def test_settings_reject_malformed_numbers_naming_the_variable():
    with pytest.raises(SettingsError, match="VAXPASS_DCC_VALIDITY_DAYS"):
        Settings.from_env({"VAXPASS_DCC_VALIDITY_DAYS": "a year"})


def test_every_setting_has_an_environment_variable():
    from dataclasses import fields

    assert {f.name for f in fields(Settings)} - {"overrides"} == set(ENV_NAMES)


@pytest.mark.parametrize("err,status", [
    (errors.ValidationError("bad"), 400), (errors.Unauthorized("who"), 401),
    (errors.Forbidden("no"), 403), (errors.NotFound("gone"), 404), (errors.Conflict("again"), 409),
    (errors.Throttled("slow"), 429), (errors.DependencyUnavailable("down"), 503),
    (errors.TooManyRequests("later", retry_after_s=7), 429),
])
def test_domain_errors_map_to_http_status_in_one_place(err, status):
    resp = error_response(err)
    assert resp.status_code == status == status_for(err)
    assert json.loads(json.dumps(resp.body))["error"]["code"] == err.code


def test_too_many_requests_says_when_to_retry():
    resp = error_response(errors.TooManyRequests("later", retry_after_s=7))
    assert resp.headers["Retry-After"] == "7"
    assert resp.body["error"]["code"] == "RATE_LIMITED" and resp.body["error"]["details"]["retry_after_s"] == 7
