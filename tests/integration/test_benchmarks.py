"""Benchmarks cannot rot: every bench under bench/ runs at a tiny size (`--smoke`) and must reach
its end and print its figures. A new bench without a smoke run here fails the last test."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (bench, arguments) -> lines its output must hold; bench_countersign has its own test
# (tests/integration/test_bench_countersign.py).
SMOKE = {
    ("bench_dcc.py", "--smoke"): ["summary: issue", "smoke run reached its end"],
    ("bench_cleaning.py", "--smoke"): ["recall on erroneous records", "smoke run reached its end"],
    ("bench_cleaning.py", "--smoke --pipeline"): ["DynamoDB requests per cleaned record", "raw TransactWriteItems",
                                                  "smoke run reached its end"],
    ("bench_intake.py", "--smoke"): ["batch: COMPLETE, received 200", "smoke run reached its end"],
    ("bench_pipeline.py", "--smoke"): ["raw emulator baselines", "countersigning", "hottest",
                                       "exactly one KMS Sign per passport", "projection to AWS",
                                       "smoke run reached its end"],
}
OWN_TEST = {"bench_countersign.py": "test_bench_countersign.py"}


def run_bench(name: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAXPASS_")}
    return subprocess.run([sys.executable, f"bench/{name}", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.integration
@pytest.mark.parametrize("bench", sorted(SMOKE), ids=lambda b: " ".join(b))
def test_bench_smoke_run_reaches_its_end_and_prints_its_figures(bench, aws_endpoint):
    name, args = bench
    expected = SMOKE[bench]
    run = run_bench(name, args.split())
    print(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for line in expected:
        assert line in run.stdout, (line, run.stdout[-3000:])


def test_every_bench_has_a_smoke_run():
    benches = {p.name for p in (ROOT / "bench").glob("bench_*.py")}
    covered = {name for name, _ in SMOKE}
    covered |= {b for b, t in OWN_TEST.items() if (ROOT / "tests" / "integration" / t).exists()}
    assert benches <= covered, f"benches without a smoke run: {sorted(benches - covered)}"
    for name in benches:
        assert "--smoke" in (ROOT / "bench" / name).read_text(), name
