"""The DCC command line (`vaxpass keys|issue|verify|qr`), run in process through
`chalicelib.cli.main` with its stdin, stdout and stderr; one subprocess per command group is the
smoke test of tests/unit/cli/test_install.py."""
from __future__ import annotations

import json
import sys

import pytest
import zxingcpp
from PIL import Image

from chalicelib.cli import main
from chalicelib.dcc.trust import load_certificate_bytes
from tests.unit.cli.conftest import Run, run

from .conftest import make_payload
from .test_issue_verify import independent_verify


def cli(*args, stdin: str = "") -> Run:
    return run(args, stdin)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """`keys init` output for each algorithm, made once for the module (tests only read it)."""
    out = {}
    for alg in ("ES256", "PS256"):
        out[alg] = tmp_path_factory.mktemp(f"keys-{alg}")
        assert cli("keys", "init", "--out", str(out[alg]), "--alg", alg).code == 0
    return out


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
def test_keys_issue_verify_qr(tmp_path, keys, alg):
    made = keys[alg]
    assert {p.name for p in made.iterdir()} == {"csca.pem", "csca.key.pem", "dsc.pem", "dsc.key.pem"}
    payloads = [make_payload(uvci=f"URN:UVCI:01:VN:N{i}#A") for i in range(3)]
    issued = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 "--valid-days", "30", stdin="".join(json.dumps(p) + "\n" for p in payloads))
    assert issued.code == 0, issued.err
    lines = issued.out.splitlines()
    assert len(lines) == 3 and all(line.startswith("HC1:") for line in lines)
    dsc = load_certificate_bytes((made / "dsc.pem").read_bytes())
    assert [independent_verify(h, dsc)[-260][1] for h in lines] == payloads  # same order

    verified = cli("verify", "--trust-cert", str(made / "dsc.pem"), stdin=issued.out)
    assert verified.code == 0, verified.err
    results = [json.loads(line) for line in verified.out.splitlines()]
    assert [r["payload"] for r in results] == payloads
    assert all(r["valid"] and r["alg"] == alg and r["errors"] == [] for r in results)
    assert set(results[0]) == {"valid", "signature_valid", "expired", "schema_valid", "kid", "alg",
                               "payload", "errors"}

    out = tmp_path / "qr.png"
    assert cli("qr", "--format", "png", "--out", str(out), stdin=lines[0]).code == 0
    assert zxingcpp.read_barcodes(Image.open(out))[0].text == lines[0]
    assert cli("qr", "--format", "svg", "--out", str(tmp_path / "qr.svg"), stdin=lines[0]).code == 0
    assert (tmp_path / "qr.svg").read_text().startswith("<svg")


def test_verify_with_trust_list_time_and_revocation(tmp_path, keys, capsys, monkeypatch):
    import io

    from chalicelib.dcc import revocation_entries, revocation_list_json, trust_list_json

    made = keys["ES256"]
    dsc = load_certificate_bytes((made / "dsc.pem").read_bytes())
    (tmp_path / "trust.json").write_text(json.dumps(trust_list_json([dsc])))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(make_payload()) + "\n"))
    assert main(["issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 "--valid-days", "2"]) == 0
    hc1 = capsys.readouterr().out.strip()

    def verify(*extra):
        monkeypatch.setattr(sys, "stdin", io.StringIO(hc1 + "\nHC1:garbage\n"))
        code = main(["verify", "--trust-list", str(tmp_path / "trust.json"), *extra])
        return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    code, (good, bad) = verify()
    assert code == 1 and good["valid"] and bad["errors"] == ["BAD_BASE45"]
    code, (late, _) = verify("--at", "2099-01-01T00:00:00+00:00")
    assert late["errors"] == ["EXPIRED", "DSC_VALIDITY"] or "EXPIRED" in late["errors"]
    code, (late, _) = verify("--at", "2099-01-01T00:00:00", "--no-expiry-check")
    assert "EXPIRED" not in late["errors"] and late["expired"] is True
    # An unsigned list is refused (the signed one: tests/unit/trust/test_revocation_cli.py).
    entries = revocation_entries(uci=make_payload()["v"][0]["ci"], country="VN",
                                 signature=b"", alg="ES256")
    (tmp_path / "revoked.json").write_text(json.dumps(revocation_list_json(entries)))
    monkeypatch.setattr(sys, "stdin", io.StringIO(hc1 + "\n"))
    assert main(["verify", "--trust-list", str(tmp_path / "trust.json"), "--revocation-list",
                 str(tmp_path / "revoked.json"), "--revocation-anchor", str(made / "dsc.pem")]) == 2
    assert "not a signed document" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    for args in (["--help"], ["keys", "--help"], ["keys", "init", "--help"],
                 ["keys", "dsc-from-kms", "--help"], ["issue", "--help"], ["verify", "--help"],
                 ["qr", "--help"]):
        with pytest.raises(SystemExit) as done:
            main(args)
        assert done.value.code == 0 and "usage:" in capsys.readouterr().out


def test_bad_input_is_reported_without_traceback(keys):
    made = keys["ES256"]
    result = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "csca.pem"), stdin="{}\n")
    assert result.code == 2 and "Traceback" not in result.err


def test_issue_signs_nothing_when_a_line_is_not_a_valid_dcc(keys):
    made = keys["ES256"]
    bad = {**make_payload(), "dob": "01.05.1990"}
    lines = [json.dumps(make_payload()), json.dumps(bad), json.dumps({**make_payload(), "ver": "2.0.0"})]
    result = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 stdin="\n".join(lines) + "\n")
    assert result.code == 2 and result.out == ""
    assert "line 2: not a valid DCC payload: dob:" in result.err
    result = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 stdin=lines[2] + "\n")
    assert result.code == 2 and "line 1:" in result.err and "ver:" in result.err


def test_verify_cli_takes_several_certificates_keeps_lines_aligned_and_reports_bad_options(keys):
    es, ps = keys["ES256"], keys["PS256"]
    hc1 = {out: cli("issue", "--key", str(out / "dsc.key.pem"), "--cert", str(out / "dsc.pem"),
                    stdin=json.dumps(make_payload()) + "\n").out.strip() for out in (es, ps)}
    # One flag, several files; a blank line in the middle still gets its line of output; blank
    # lines at the end are not input.
    result = cli("verify", "--trust-cert", str(es / "dsc.pem"), str(ps / "dsc.pem"),
                 stdin=f"{hc1[es]}\n\n{hc1[ps]}\n\n\n")
    lines = [json.loads(line) for line in result.out.splitlines()]
    assert [r["valid"] for r in lines] == [True, False, True] and lines[1]["errors"] == ["BAD_PREFIX"]
    assert result.code == 1

    result = cli("verify", "--trust-cert", str(es / "dsc.pem"), "--at", "yesterday", stdin=hc1[es])
    assert result.code == 2 and "--at" in result.err and "Traceback" not in result.err
    # A CSCA named explicitly is trusted as a signer (the user's word), so the DSC's signature has
    # no trusted key: an answer line, exit 1, not a usage error.
    result = cli("verify", "--trust-cert", str(es / "csca.pem"), stdin=hc1[es])
    assert result.code == 1 and json.loads(result.out)["errors"] == ["UNKNOWN_KID"]
    # A directory with keys init output: the DSC is used, the CSCA (it issued the DSC) is an anchor.
    result = cli("verify", "--trust-cert", str(es), stdin=hc1[es])
    assert result.code == 0 and json.loads(result.out)["valid"]
    assert "csca.pem" in result.err and "trust anchor" in result.err


def test_issue_refuses_a_blank_line_between_payloads(keys):
    made = keys["ES256"]
    line = json.dumps(make_payload())
    result = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 stdin=f"{line}\n\n{line}\n")
    assert result.code == 2 and "line 2: empty" in result.err and result.out == ""
    result = cli("issue", "--key", str(made / "dsc.key.pem"), "--cert", str(made / "dsc.pem"),
                 stdin=f"{line}\n{line}\n\n")
    assert result.code == 0 and len(result.out.splitlines()) == 2
