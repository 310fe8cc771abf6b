"""Runs the command line in process (`main(argv)`) with its stdin, stdout and stderr captured,
and builds a workspace of real keys, certificates and manifests made by the CLI itself."""
from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.cli import main


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def run(argv, stdin: str = "") -> Run:
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        sys.stdin = old_stdin
    return Run(code, out.getvalue(), err.getvalue())


def ok(argv, stdin: str = "") -> Run:
    result = run(argv, stdin)
    assert result.code == 0, result.err
    return result


def dcc_payload(**changes) -> dict:
    from chalicelib.dcc import build_vaccination_payload

    payload = build_vaccination_payload(full_name="Nguyễn Thị Đào", dob="1990-05-01", product="EU/1/20/1528",
                                        dose_number=2, series_doses=2, vaccination_date="2021-09-01",
                                        uvci="URN:UVCI:01:VN:AAAAAAAAAAAAAAAAAAAAAAAAAA#C",
                                        issuer="Ministry of Health of Viet Nam")
    for key, value in changes.items():
        if key == "dt":
            payload["v"][0]["dt"] = value
        else:
            payload[key] = value
    return payload


def manifest(facility: str = "FAC-1", dose_facility: str | None = None, people: int = 2) -> dict:
    from chalicelib.signing.manifest import DoseRecord, build_entries, build_manifest

    doses = {f"0792000000{i:02d}": [DoseRecord(dose_facility or facility, f"R{i}", 1, "d" * 64, 1, "2021-08-01",
                                               "EU/1/20/1528")] for i in range(people)}
    return build_manifest(batch_id="SB1", facility_id=facility, created_at="2024-03-01T08:00:00+00:00",
                          expires_at="2024-03-04T08:00:00+00:00", entries=build_entries(doses))


@dataclass
class Workspace:
    root: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, data) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return path


@pytest.fixture(scope="session")
def ws(tmp_path_factory) -> Workspace:
    """Keys, a CA, facility certificates and files good and bad, made once per test session.
    Tests must not change it (those that write make their own folders)."""
    w = Workspace(tmp_path_factory.mktemp("cli-ws"))
    ok(["keys", "init", "--out", w / "keys"])
    ok(["keys", "init", "--out", w / "other-keys"])
    ok(["facility", "ca", "init", "--out", w / "ca"])
    ok(["facility", "ca", "init", "--out", w / "other-ca"])
    for fid in ("FAC-1", "FAC-2"):
        ok(["facility", "cert", "--ca-dir", w / "ca", "--facility-id", fid, "--province", "079", "--out", w / "fac"])
    ok(["facility", "cert", "--ca-dir", w / "ca", "--facility-id", "HCM-CDC", "--province", "079", "--focal-agency",
        "--out", w / "fac", "--p12-password", "s3cret"])
    w.write("binary.bin", bytes(range(256)) * 8)
    w.write("registry.csv", "citizen_id,full_name,date_of_birth,sex,province_code\n"
                            "001090123456,Lê Văn A,1990-01-01,M,001\n")
    w.write("records.csv", "record_id,facility_id,full_name,date_of_birth,vaccine_product,dose_number,"
                           "vaccination_date,province_code\nR1,F1,Lê Văn A,1990-01-01,Pfizer,1,2021-08-01,001\n")
    w.write("not-json.json", "{not json")
    w.write("list.json", [1, 2])
    w.write("batch.json", manifest())
    w.write("batch-fac2.json", manifest("FAC-2"))
    w.write("a-file", "x")
    (w / "empty-dir").mkdir()
    return w
