"""The countersign benchmark runs end to end at a tiny size (it drives the whole attested path:
facility signing, the audit anchor, the countersign queue and the real handler)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def bench(people: int, concurrency: int, timeout: int, **env: str) -> subprocess.CompletedProcess:
    """The bench in its own process, with this test run's environment but none of its VAXPASS_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VAXPASS_")} | env
    return subprocess.run([sys.executable, "bench/bench_countersign.py", "--people", str(people),
                           "--concurrency", str(concurrency)],
                          cwd=ROOT, env=clean, capture_output=True, text=True, timeout=timeout)


def test_bench_countersign_issues_every_passport_at_a_tiny_size(aws_endpoint):
    run = bench(10, 2, 300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "KMS Sign calls per passport: 1.00 (10 calls for 10 passports)" in run.stdout
    assert "DynamoDB requests per passport: " in run.stdout


def test_bench_countersign_fails_at_once_when_the_handler_fails(aws_endpoint):
    # No DSC of this algorithm is registered: every countersign invocation raises.
    run = bench(3, 1, 120, VAXPASS_DSC_ALGORITHM="PS256")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "FAILED: the countersign handler failed" in run.stderr


def test_bench_countersign_stays_within_half_a_dynamodb_request_per_passport(aws_endpoint):
    # Four chunks of 25: the per-batch reads (audit log, anchor, facility) are shared by enough
    # people for the per-chunk figure to show, as in the full-size run.
    run = bench(100, 2, 600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "KMS Sign calls per passport: 1.00 (100 calls for 100 passports)" in run.stdout
    line = next(x for x in run.stdout.splitlines() if x.startswith("DynamoDB requests per passport: "))
    assert float(line.split(": ")[1].split()[0]) <= 0.5, line
