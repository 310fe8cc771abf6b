"""`chalice package` merged with infra/: the deployable template keeps batch-failure reporting
on every SQS event source, every queue's DLQ, and our least-privilege policies."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from infra import spec
from infra.__main__ import package
from infra.cloudformation import dumps, logical_id, replica_template, template
from tests.unit import background


def _package() -> tuple[dict, subprocess.CompletedProcess]:
    """The merged SAM template, and cfn-lint's verdict on it and on the templates an operator
    deploys on their own (the resources, the signing-key replicas)."""
    with tempfile.TemporaryDirectory() as out:
        sam = package("dev", "vaxpass-dev", Path(out))
        alone = []
        for name, doc in (("resources", template("vaxpass-dev")), ("replicas", replica_template("vaxpass-dev"))):
            alone.append(Path(out) / f"{name}.json")
            alone[-1].write_text(dumps(doc))
        lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(sam), *map(str, alone)],
                              capture_output=True, text=True, timeout=300)
        return json.loads(sam.read_text()), lint


# Two `chalice package` processes and cfn-lint: started as soon as the tests are collected
# (tests/unit/background.py).
background.register(__name__, "chalice-package", _package, priority=1)


@pytest.fixture(scope="module")
def sam():
    return background.result("chalice-package")[0]


def test_cfn_lint_passes_on_the_package_and_the_templates_deployed_alone():
    """cfn-lint with its default rules (errors and warnings), as `cfn-lint <template>` runs."""
    lint = background.result("chalice-package")[1]
    assert lint.returncode == 0, lint.stdout + lint.stderr


def functions(sam):
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_every_sqs_event_source_reports_batch_item_failures(sam):
    sources = [(fid, ev) for fid, fn in functions(sam).items()
               for ev in (fn["Properties"].get("Events") or {}).values() if ev["Type"] == "SQS"]
    assert {fid for fid, _ in sources} >= {"HandleIntake", "HandleCleaning"}
    for fid, ev in sources:
        assert ev["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], fid


def test_merged_template_has_the_infra_resources_with_dlqs(sam):
    res = sam["Resources"]
    for q in spec.QUEUES:
        name = "".join(p.title() for p in q.logical.split("-"))
        assert res[f"{name}Queue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == q.max_receive_count
        assert res[f"{name}DeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    assert sum(1 for r in res.values() if r["Type"] == "AWS::DynamoDB::Table") == len(spec.TABLES)


def test_functions_run_python_312_with_their_own_generated_policies(sam):
    for fn in functions(sam).values():
        assert fn["Properties"]["Runtime"] == "python3.12"
    roles = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
    cleaning_role = json.dumps(roles["HandleCleaningRole"])
    assert "kms:Sign" not in cleaning_role and "vaxpass-dev-registry" in cleaning_role


def test_every_queue_stays_invisible_at_least_six_times_its_functions_timeout(sam):
    """AWS's advice for SQS event sources: otherwise a message still being worked on is
    delivered again to another invocation. Read on the deployable template: the function's
    Timeout as Chalice packages it, the queue its event source names."""
    res = sam["Resources"]
    pairs = []
    for fid, fn in functions(sam).items():
        for ev in (fn["Properties"].get("Events") or {}).values():
            if ev["Type"] == "SQS":
                # The event source names its queue with the prefix of the environment chalice ran in.
                arn = ev["Properties"]["Queue"]["Fn::Sub"]
                [visibility] = [res[logical_id(q.logical, "queue")]["Properties"]["VisibilityTimeout"]
                                for q in spec.QUEUES if arn.endswith(f"-{q.logical}")]
                pairs.append((fid, fn["Properties"]["Timeout"], visibility))
    assert {fid for fid, _, _ in pairs} == {"HandleIntake", "HandleCleaning", "HandleCountersign"}
    for fid, timeout, visibility in pairs:
        assert visibility >= 6 * timeout, fid
    # With continuation messages, intake needs no long invocation: a crashed one resumes in minutes.
    assert dict((fid, t) for fid, t, _ in pairs)["HandleIntake"] <= 120
