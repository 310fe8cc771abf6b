"""`vaxpass synth` and the offline `vaxpass clean`, run in process (`chalicelib.cli.main`); one
subprocess per command group is tests/unit/cli/test_install.py's."""
import csv
import json

import pytest

from chalicelib.cli import main
from chalicelib.synth.generator import ERROR_KINDS
from tests.unit.cli.conftest import run


def synth(out, *extra, seed="7"):
    return main(["synth", "--people", "300", "--records", "400", "--error-rate", "0.5",
                 "--seed", seed, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def synthed(tmp_path_factory):
    """`synth` with the defaults above, once for the module (tests only read it)."""
    out = tmp_path_factory.mktemp("synth")
    assert synth(out) == 0
    return out


def test_synth_is_deterministic_for_a_seed(tmp_path, synthed):
    assert synth(tmp_path / "b") == 0 and synth(tmp_path / "c", seed="8") == 0
    for name in ("registry.csv", "records.csv", "truth.csv"):
        assert (synthed / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (synthed / "records.csv").read_bytes() != (tmp_path / "c" / "records.csv").read_bytes()


def test_synth_writes_one_province_file_and_the_facilities_it_names(tmp_path):
    assert synth(tmp_path, "--facility-province", "1") == 0
    with (tmp_path / "records.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with (tmp_path / "facilities.csv").open(encoding="utf-8") as f:
        facilities = {r["facility_id"]: r["province_code"] for r in csv.DictReader(f)}
    assert {r["province_code"].zfill(3) for r in rows} == {"001"}
    assert {r["facility_id"] for r in rows} == set(facilities) and set(facilities.values()) == {"001"}
    refused = run(["synth", "--people", "3", "--records", "4", "--facility-province", "999",
                   "--out", tmp_path / "bad"])
    assert refused.code == 2 and "not a province code" in refused.err


def test_synth_gives_every_dose_at_as_many_facilities_as_asked(tmp_path):
    assert synth(tmp_path, "--facility-province", "1", "--facilities", "1") == 0
    with (tmp_path / "records.csv").open(encoding="utf-8") as f:
        assert {r["facility_id"] for r in csv.DictReader(f)} == {"001-F001"}
    for bad in ("0", "1000", "x"):
        refused = run(["synth", "--people", "3", "--records", "4", "--facilities", bad, "--out", tmp_path / "bad"])
        assert refused.code == 2 and "--facilities" in refused.err


def test_synth_truth_lists_error_kinds_and_absent_people(tmp_path):
    synth(tmp_path, "--absent-rate", "0.2")
    with (tmp_path / "truth.csv").open(encoding="utf-8") as f:
        truth = list(csv.DictReader(f))
    assert len(truth) == 400
    kinds = {k for t in truth for k in t["error_kinds"].split("|") if k}
    assert kinds <= set(ERROR_KINDS) | {"absent"}
    assert len(kinds) >= 10
    assert any(t["true_citizen_id"] == "" for t in truth)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_clean_writes_one_result_per_record(tmp_path, synthed, fmt):
    files = synthed
    if fmt != "csv":
        files = tmp_path / "synth"
        synth(files, "--format", fmt)
    out = tmp_path / "results.jsonl"
    cleaned = run(["clean", "--registry", files / "registry.csv", "--records", files / f"records.{fmt}",
                   "--out", out])
    assert cleaned.code == 0
    results = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with (files / "truth.csv").open(encoding="utf-8") as f:
        truth = {t["record_id"]: t["true_citizen_id"] for t in csv.DictReader(f)}
    assert len(results) == 400
    matched = [r for r in results if r["matched_citizen_id"]]
    assert matched and all(truth[r["record_id"]] == r["matched_citizen_id"] for r in matched)
    assert "VERIFIED=" in cleaned.out


def test_clean_reports_a_bad_file_with_its_code(tmp_path, synthed):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"record_id,full_name\nR1,Th\xe1i\n")
    refused = run(["clean", "--registry", synthed / "registry.csv", "--records", bad, "--out", tmp_path / "r.jsonl"])
    assert refused.code == 2
    err = refused.err
    assert "MISSING_COLUMNS" in err and "--records" in err and len(err.splitlines()) == 1


def test_clean_marks_invalid_rows_and_writes_an_escaped_report(tmp_path, synthed):
    records = tmp_path / "evil.csv"
    records.write_text(
        "record_id,facility_id,full_name,date_of_birth,vaccine_product,dose_number,"
        "vaccination_date,province_code\n"
        "R1,F1,Lê Văn A,1985,Pfizer,=cmd|' /C calc'!A0,2021-08-01,001\n", encoding="utf-8")
    report = tmp_path / "rejected.csv"
    assert main(["clean", "--registry", str(synthed / "registry.csv"), "--records", str(records),
                 "--out", str(tmp_path / "r.jsonl"), "--rejections", str(report)]) == 0
    result = json.loads((tmp_path / "r.jsonl").read_text(encoding="utf-8"))
    assert result["outcome"] == "INVALID"
    text = report.read_text(encoding="utf-8")
    assert "dose_number" in text and "'=cmd|' /C calc'!A0" in text
    assert ",=cmd" not in text


@pytest.mark.parametrize("cmd", ["synth", "clean"])
def test_every_command_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    assert "--out" in capsys.readouterr().out
