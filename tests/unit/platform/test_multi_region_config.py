"""Multi-Region countersigning's configuration and infrastructure: the signing Regions setting,
the DSC key as a multi-Region key with a replica stack per further Region, and the countersign
event source capped at the concurrency that shares each Region's KMS quota."""
from __future__ import annotations

import pytest

from chalicelib import resource_names as rn
from chalicelib.settings import Settings, SettingsError
from infra import spec
from infra.cloudformation import logical_id, replica_template, template
from tests.unit.platform.test_chalice_package import functions, sam  # noqa: F401 - the packaged template


def test_the_primary_region_always_signs_first_and_each_region_once():
    assert Settings(region="ap-southeast-1").signing_region_list == ("ap-southeast-1",)
    s = Settings.from_env({"AWS_REGION": "ap-southeast-1",
                           "VAXPASS_SIGNING_REGIONS": " ap-northeast-1,ap-southeast-1, ap-northeast-1 ,,ap-south-1"})
    assert s.signing_region_list == ("ap-southeast-1", "ap-northeast-1", "ap-south-1")


@pytest.mark.parametrize("value", ["ap-northeast-1,evil.example.com", "AP-SOUTHEAST-1", "ap-northeast-1/x",
                                   "localhost:4566"])
def test_attack_signing_region_that_is_not_a_region_name_is_refused(value):
    # A Region name becomes part of the KMS endpoint's host name: anything else is refused.
    with pytest.raises(SettingsError) as e:
        Settings.from_env({"VAXPASS_SIGNING_REGIONS": value})
    assert "VAXPASS_SIGNING_REGIONS" in str(e.value)


@pytest.mark.parametrize("env", [{"VAXPASS_KMS_SIGN_QUOTA_PER_S": "0"}, {"VAXPASS_COUNTERSIGN_MAX_CONCURRENCY": "1"},
                                 {"VAXPASS_COUNTERSIGN_MAX_CONCURRENCY": "1001"}])
def test_a_quota_or_concurrency_out_of_range_is_refused(env):
    with pytest.raises(SettingsError):
        Settings.from_env(env)


def test_only_the_es256_dsc_key_is_multi_region_and_its_arn_is_an_output():
    tpl = template("vaxpass-dev")
    multi = {k.logical for k in spec.KEYS if k.multi_region}
    assert multi == {"dsc-es256"}
    for k in spec.KEYS:
        props = tpl["Resources"][logical_id(k.logical, "key")]["Properties"]
        assert props.get("MultiRegion", False) is (k.logical in multi), k.logical
    assert tpl["Outputs"] == {"DscEs256KeyArn": {"Value": {"Fn::GetAtt": ["DscEs256Key", "Arn"]}}}


def test_the_replica_stack_replicates_the_primary_under_the_same_alias():
    tpl = replica_template("vaxpass-prod")
    assert set(tpl["Parameters"]) == {"DscEs256KeyArn"}
    replica = tpl["Resources"]["DscEs256ReplicaKey"]
    assert replica["Type"] == "AWS::KMS::ReplicaKey"
    assert replica["Properties"]["PrimaryKeyArn"] == {"Ref": "DscEs256KeyArn"}
    alias = tpl["Resources"]["DscEs256Alias"]["Properties"]
    # The DSC names its key by this alias in every Region, and the IAM grants match on it.
    assert alias == {"AliasName": rn.key_alias("vaxpass-prod", "dsc-es256"),
                     "TargetKeyId": {"Ref": "DscEs256ReplicaKey"}}
    assert alias["AliasName"] == template("vaxpass-prod")["Resources"]["DscEs256Alias"]["Properties"]["AliasName"]


def test_the_countersign_event_source_is_capped_at_the_concurrency_sharing_the_quota(sam):  # noqa: F811
    events = functions(sam)["HandleCountersign"]["Properties"]["Events"]
    [event] = [e for e in events.values() if e["Type"] == "SQS"]
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": Settings().countersign_max_concurrency}
