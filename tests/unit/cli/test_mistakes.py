"""Every command of the CLI, given each kind of mistake an operator makes (and hostile input):
exit 2, exactly one line on stderr that names the argument and the problem, no traceback, and
nothing on stdout. Commands that reach AWS fail here before they do; AWS out of reach is
tests/integration/test_cli_aws_unreachable.py."""
from __future__ import annotations

import json

import pytest

from .conftest import dcc_payload, manifest, run

HC1_LINE = "HC1:NCFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA"  # any HC1: text


def case(name, argv, expect, stdin=""):
    return pytest.param(argv, expect, stdin, id=name)


# argv entries "{x}" are paths in the session's workspace (see conftest.ws).
CASES = [
    # -- synth ----------------------------------------------------------------------------------
    case("synth people 0", ["synth", "--people", "0", "--records", "5", "--out", "{tmp}/s"], "--people"),
    case("synth error-rate 2", ["synth", "--people", "5", "--records", "5", "--error-rate", "2", "--out", "{tmp}/s"],
         "--error-rate"),
    case("synth error-rate nan", ["synth", "--people", "5", "--records", "5", "--error-rate", "nan",
                                  "--out", "{tmp}/s"], "--error-rate"),
    case("synth province 999", ["synth", "--people", "5", "--records", "5", "--facility-province", "999",
                                "--out", "{tmp}/s"], "not a province code"),
    case("synth out onto a file", ["synth", "--people", "5", "--records", "5", "--out", "{a-file}"], "is a file"),
    case("synth out under a file", ["synth", "--people", "5", "--records", "5", "--out", "{a-file}/x"], "is a file"),
    # -- clean ----------------------------------------------------------------------------------
    case("clean registry missing", ["clean", "--registry", "{absent.csv}", "--records", "{records.csv}",
                                    "--out", "{tmp}/r.jsonl"], "--registry: cannot read"),
    case("clean registry binary", ["clean", "--registry", "{binary.bin}", "--records", "{records.csv}",
                                   "--out", "{tmp}/r.jsonl"], "--registry: is not UTF-8"),
    case("clean registry is a folder", ["clean", "--registry", "{empty-dir}", "--records", "{records.csv}",
                                        "--out", "{tmp}/r.jsonl"], "is a folder"),
    case("clean registry is a device", ["clean", "--registry", "/dev/zero", "--records", "{records.csv}",
                                        "--out", "{tmp}/r.jsonl"], "is a device"),
    case("clean registry bad row", ["clean", "--registry", "{bad-registry.csv}", "--records", "{records.csv}",
                                    "--out", "{tmp}/r.jsonl"], "--registry: data row 1: registry date_of_birth"),
    case("clean records missing", ["clean", "--registry", "{registry.csv}", "--records", "{absent.csv}",
                                   "--out", "{tmp}/r.jsonl"], "--records: cannot read"),
    case("clean records binary", ["clean", "--registry", "{registry.csv}", "--records", "{binary.bin}",
                                  "--out", "{tmp}/r.jsonl"], "--records"),
    case("clean out in missing folder", ["clean", "--registry", "{registry.csv}", "--records", "{records.csv}",
                                         "--out", "{tmp}/no/such/r.jsonl"], "does not exist"),
    case("clean out is a folder", ["clean", "--registry", "{registry.csv}", "--records", "{records.csv}",
                                   "--out", "{empty-dir}"], "is a folder"),
    case("clean facility traversal", ["clean", "--registry", "{registry.csv}", "--records", "{records.csv}",
                                      "--out", "{tmp}/r.jsonl", "--facility", "../x"], "not a facility id"),
    # -- registry import, upload (fail before AWS) -------------------------------------------------
    case("registry import missing", ["registry", "import", "{absent.csv}"], "cannot read"),
    case("registry import binary", ["registry", "import", "{binary.bin}"], "is not UTF-8"),
    case("registry import bad row", ["registry", "import", "{bad-registry.csv}"], "data row 1"),
    case("upload missing file", ["upload", "{absent.csv}", "--province", "001"], "cannot read"),
    case("upload province 999", ["upload", "{records.csv}", "--province", "999"], "not a province code"),
    case("upload timeout -1", ["upload", "{records.csv}", "--province", "001", "--timeout", "-1"], "--timeout"),
    case("upload report into missing folder", ["upload", "{records.csv}", "--province", "1", "--report-out",
                                               "{tmp}/no/r.csv"], "does not exist"),
    # -- keys -----------------------------------------------------------------------------------
    case("keys init valid-days -3", ["keys", "init", "--out", "{tmp}/k", "--valid-days", "-3"], "--valid-days"),
    case("keys init valid-days overflow", ["keys", "init", "--out", "{tmp}/k", "--valid-days", "99999999999"],
         "--valid-days"),
    case("keys init out onto a file", ["keys", "init", "--out", "{a-file}"], "is a file"),
    case("keys init over existing keys", ["keys", "init", "--out", "{keys}"], "refusing to overwrite"),
    case("keys init bad alg", ["keys", "init", "--out", "{tmp}/k", "--alg", "HS256"], "--alg"),
    case("dsc-from-kms csca is a DSC", ["keys", "dsc-from-kms", "--key-id", "alias/x", "--csca-cert", "{keys}/dsc.pem",
                                        "--csca-key", "{keys}/dsc.key.pem", "--out", "{tmp}/d.pem"],
         "--csca-cert: "),
    case("dsc-from-kms csca key of another", ["keys", "dsc-from-kms", "--key-id", "alias/x", "--csca-cert",
                                              "{keys}/csca.pem", "--csca-key", "{other-keys}/csca.key.pem",
                                              "--out", "{tmp}/d.pem"], "--csca-key: "),
    case("dsc-from-kms over existing", ["keys", "dsc-from-kms", "--key-id", "alias/x", "--csca-cert", "{keys}/csca.pem",
                                        "--csca-key", "{keys}/csca.key.pem", "--out", "{keys}/dsc.pem"],
         "refusing to overwrite"),
    case("register-dsc missing cert", ["keys", "register-dsc", "--cert", "{absent.pem}"], "cannot read"),
    case("provision-kms half a CSCA", ["keys", "provision-kms", "--dir", "{half-csca}"], "only one of"),
    case("provision-kms dir is a file", ["keys", "provision-kms", "--dir", "{a-file}"], "is a file"),
    # -- issue ----------------------------------------------------------------------------------
    case("issue key missing", ["issue", "--key", "{absent.pem}", "--cert", "{keys}/dsc.pem"], "--key: cannot read",
         "{payload}"),
    case("issue key is a certificate", ["issue", "--key", "{keys}/dsc.pem", "--cert", "{keys}/dsc.pem"],
         "--key: ", "{payload}"),
    case("issue key binary", ["issue", "--key", "{binary.bin}", "--cert", "{keys}/dsc.pem"], "not a PEM private key",
         "{payload}"),
    case("issue cert is a key", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.key.pem"],
         "--cert: ", "{payload}"),
    case("issue with the CSCA", ["issue", "--key", "{keys}/csca.key.pem", "--cert", "{keys}/csca.pem"],
         "CA certificate", "{payload}"),
    case("issue CSCA via KMS", ["issue", "--kms-key-id", "alias/x", "--cert", "{keys}/csca.pem"], "CA certificate",
         "{payload}"),
    case("issue key of another DSC", ["issue", "--key", "{other-keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "does not belong to the certificate", "{payload}"),
    case("issue dob 1988-13-45", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "dob: not a calendar date", "{dob-13-45}"),
    case("issue dob 1990-02-30", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "dob: not a calendar date", "{dob-02-30}"),
    case("issue dob in the future", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "dob: in the future", "{dob-future}"),
    case("issue dt in the future", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "v[0].dt: in the future", "{dt-future}"),
    case("issue dt 2021-02-30", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "v[0].dt", "{dt-02-30}"),
    case("issue not JSON", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem"],
         "stdin line 1: not JSON", "hello\n"),
    case("issue valid-days 0", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem",
                                "--valid-days", "0"], "--valid-days", "{payload}"),
    case("issue issuer lower case", ["issue", "--key", "{keys}/dsc.key.pem", "--cert", "{keys}/dsc.pem",
                                     "--issuer", "vn"], "--issuer", "{payload}"),
    # -- verify ---------------------------------------------------------------------------------
    case("verify trust list missing", ["verify", "--trust-list", "{absent.json}"], "--trust-list: cannot read",
         HC1_LINE),
    case("verify trust list malformed", ["verify", "--trust-list", "{not-json.json}"], "is not valid JSON", HC1_LINE),
    case("verify trust list wrong shape", ["verify", "--trust-list", "{bad-shape.json}"],
         "--trust-list: trust list must be", HC1_LINE),
    case("trust export anchor key is a certificate", ["trust", "export", "--csca", "{keys}/csca.pem", "--anchor-key",
                                                     "{keys}/csca.pem"], "--anchor-key: "),
    case("trust import anchors missing", ["trust", "import", "{bad-shape.json}", "--anchors", "{absent.pem}"],
         "--anchors"),
    case("verify trust cert missing", ["verify", "--trust-cert", "{absent.pem}"], "cannot read", HC1_LINE),
    case("verify trust cert binary", ["verify", "--trust-cert", "{binary.bin}"], "--trust-cert", HC1_LINE),
    case("verify at garbage", ["verify", "--trust-cert", "{keys}/dsc.pem", "--at", "yesterday"], "--at", HC1_LINE),
    case("verify revocation list malformed", ["verify", "--trust-cert", "{keys}/dsc.pem", "--revocation-list",
                                              "{not-json.json}", "--revocation-anchor", "{keys}/csca.pem"],
         "--revocation-list", HC1_LINE),
    case("verify revocation list wrong shape", ["verify", "--trust-cert", "{keys}/dsc.pem", "--revocation-list",
                                                "{list.json}", "--revocation-anchor", "{keys}/csca.pem"],
         "--revocation-list: revocation index is not a signed document", HC1_LINE),
    case("verify revocation list without anchor", ["verify", "--trust-cert", "{keys}/dsc.pem",
                                                   "--revocation-list", "{list.json}"],
         "--revocation-anchor: is required", HC1_LINE),
    case("verify revocation anchor not a key", ["verify", "--trust-cert", "{keys}/dsc.pem", "--revocation-list",
                                                "{list.json}", "--revocation-anchor", "{list.json}"],
         "--revocation-anchor", HC1_LINE),
    case("revocation anchor-key out in missing folder", ["revocation", "anchor-key", "--out", "{tmp}/no/a.pem"],
         "--out", ""),
    case("revocation publish settle 0", ["revocation", "publish", "--settle-minutes", "0"], "--settle-minutes", ""),
    case("revocation download out is a file", ["revocation", "download", "--out", "{list.json}"], "--out", ""),
    # -- qr -------------------------------------------------------------------------------------
    case("qr HELLO WORLD", ["qr", "--format", "png", "--out", "{tmp}/q.png"], "not an HC1: string", "HELLO WORLD\n"),
    case("qr empty input", ["qr", "--format", "svg", "--out", "{tmp}/q.svg"], "nothing to encode", ""),
    case("qr two lines", ["qr", "--format", "png", "--out", "{tmp}/q.png"], "more than one line",
         "HC1:ABC\nHC1:DEF\n"),
    case("qr raw lower case", ["qr", "--format", "png", "--out", "{tmp}/q.png", "--raw"], "stdin: ",
         "hello world\n"),
    case("qr scale 0", ["qr", "--format", "png", "--out", "{tmp}/q.png", "--scale", "0"], "--scale", HC1_LINE),
    case("qr scale huge", ["qr", "--format", "png", "--out", "{tmp}/q.png", "--scale", "100000"], "--scale",
         HC1_LINE),
    case("qr out in missing folder", ["qr", "--format", "png", "--out", "{tmp}/no/q.png"], "does not exist",
         HC1_LINE),
    # -- dlq, events, reports, access-log, audit (fail before AWS) ------------------------------------
    case("dlq list unknown queue", ["dlq", "list", "nope"], "invalid choice"),
    case("dlq list max 0", ["dlq", "list", "cleaning", "--max", "0"], "--max"),
    case("dlq replay max -1", ["dlq", "replay", "cleaning", "--max", "-1"], "--max"),
    case("events run wait 25", ["events", "run", "--wait", "25"], "--wait"),
    case("events run concurrency 0", ["events", "run", "--concurrency", "0"], "--concurrency"),
    case("reconcile grace -1", ["reports", "reconcile", "--grace-minutes", "-1"], "--grace-minutes"),
    case("access-log facility traversal", ["access-log", "record", "--facility-id", "../x", "--record-id", "R1"],
         "not a facility id"),
    case("access-log since garbage", ["access-log", "record", "--facility-id", "F1", "--record-id", "R1",
                                      "--since", "last week"], "--since"),
    case("access-log province scope 999", ["access-log", "reader", "--role", "province", "--scope", "999"],
         "--scope"),
    case("access-log reader without subject", ["access-log", "reader", "--role", "ministry"], "--subject"),
    # -- business rules -------------------------------------------------------------------------
    case("verify rules without country", ["verify", "--trust-cert", "{keys}/dsc.pem", "--rules", "{empty-dir}"],
         "--country", HC1_LINE),
    case("verify rules folder empty", ["verify", "--trust-cert", "{keys}/dsc.pem", "--rules", "{empty-dir}",
                                       "--country", "DE"], "holds no rule JSON files", HC1_LINE),
    case("verify country without rules", ["verify", "--trust-cert", "{keys}/dsc.pem", "--country", "DE"],
         "--country", HC1_LINE),
    case("rules evaluate rule missing", ["rules", "evaluate", "--rule", "{absent.json}"], "cannot read"),
    case("rules evaluate rule malformed", ["rules", "evaluate", "--rule", "{not-json.json}"], "is not valid JSON"),
    case("rules evaluate rule without Logic", ["rules", "evaluate", "--rule", "{bad-shape.json}"], "Logic"),
    case("rules import missing", ["rules", "import", "{absent.json}"], "cannot read"),
    case("rules import empty folder", ["rules", "import", "{empty-dir}"], "holds no rule JSON files"),
    case("audit verify public key missing", ["audit", "verify", "--public-key", "{absent.pem}"], "cannot read"),
    case("audit verify public key is private", ["audit", "verify", "--public-key", "{keys}/dsc.key.pem"],
         "--public-key: "),
    case("audit events max 0", ["audit", "events", "--max", "0"], "--max"),
    # -- facility -------------------------------------------------------------------------------
    case("ca init onto a file", ["facility", "ca", "init", "--out", "{a-file}"], "is a file"),
    case("ca init over existing CA", ["facility", "ca", "init", "--out", "{ca}"], "refusing to overwrite"),
    case("ca init valid-days -1", ["facility", "ca", "init", "--out", "{tmp}/c", "--valid-days", "-1"],
         "--valid-days"),
    case("ca register garbage", ["facility", "ca", "register", "--cert", "{binary.bin}"], "--cert: "),
    case("ca register missing", ["facility", "ca", "register", "--cert", "{absent.pem}"], "cannot read"),
    case("cert ca-dir without key", ["facility", "cert", "--ca-dir", "{ca-without-key}", "--facility-id", "F9",
                                     "--out", "{tmp}/f"], "no ca.key.pem"),
    case("cert ca-dir of another key", ["facility", "cert", "--ca-dir", "{ca-mixed}", "--facility-id", "F9",
                                        "--out", "{tmp}/f"], "is not the key of"),
    case("cert facility id empty", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "", "--out", "{tmp}/f"],
         "not a facility id"),
    case("cert facility id traversal", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "../evil",
                                        "--out", "{tmp}/f"], "not a facility id"),
    case("cert facility id slash", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "a/b",
                                    "--out", "{tmp}/f"], "not a facility id"),
    case("cert facility id dot", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", ".hidden",
                                  "--out", "{tmp}/f"], "not a facility id"),
    case("cert province 999", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "F9", "--province", "999",
                               "--out", "{tmp}/f"], "not a province code"),
    case("cert valid-days -1", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "F9", "--valid-days", "-1",
                                "--out", "{tmp}/f"], "--valid-days"),
    case("cert focal agency without province", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "CDC",
                                                "--focal-agency", "--out", "{tmp}/f"], "--province"),
    case("cert over existing", ["facility", "cert", "--ca-dir", "{ca}", "--facility-id", "FAC-1", "--out", "{fac}"],
         "refusing to overwrite"),
    case("register province 999", ["facility", "register", "--facility-id", "F9", "--name", "N", "--province", "999",
                                   "--head", "H"], "not a province code"),
    case("register blank name", ["facility", "register", "--facility-id", "F9", "--name", " ", "--province", "001",
                                 "--head", "H"], "--name"),
    case("register garbage cert", ["facility", "register", "--facility-id", "F9", "--name", "N", "--province", "001",
                                   "--head", "H", "--cert", "{binary.bin}"], "--cert: "),
    case("import missing", ["facility", "import", "{absent.csv}"], "cannot read"),
    case("import binary", ["facility", "import", "{binary.bin}"], "not a UTF-8 CSV"),
    case("import facility id traversal", ["facility", "import", "{facilities-evil.csv}"], "facility_id is not"),
    case("register-agency province 999", ["facility", "register-agency", "--agency-id", "CDC", "--name", "N",
                                          "--province", "999", "--cert", "{fac}/HCM-CDC.pem"], "not a province"),
    case("register-agency garbage cert", ["facility", "register-agency", "--agency-id", "CDC", "--name", "N",
                                          "--province", "079", "--cert", "{binary.bin}"], "--cert: "),
    case("sign key missing", ["facility", "sign", "--key", "{absent.pem}", "--batch", "{batch.json}"], "cannot read"),
    case("sign key is a certificate", ["facility", "sign", "--key", "{fac}/FAC-1.pem", "--batch", "{batch.json}"],
         "--key: "),
    case("sign wrong p12 password", ["facility", "sign", "--key", "{fac}/HCM-CDC.p12", "--password", "wrong",
                                     "--batch", "{batch.json}"], "KEY_MATERIAL_INVALID"),
    case("sign cert of another key", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--cert", "{fac}/FAC-2.pem",
                                      "--batch", "{batch.json}"], "does not belong"),
    case("sign batch missing", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch", "{absent.json}"],
         "cannot read"),
    case("sign batch not JSON", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch", "{not-json.json}"],
         "not JSON"),
    case("sign batch a list", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch", "{list.json}"],
         "not a JSON object"),
    case("sign batch without batch_id", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch",
                                         "{no-batch-id.json}"], "no batch_id"),
    case("sign batch of another facility", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch",
                                            "{batch-fac2.json}"], "another facility"),
    case("sign batch with another facility's doses", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch",
                                                      "{foreign-doses.json}"], "dose of another facility"),
    case("sign empty batch", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch", "{empty-batch.json}"],
         "no entries"),
    case("sign altered batch", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch", "{altered.json}"],
         "MANIFEST_INVALID"),
    case("sign CA as signer", ["facility", "sign", "--key", "{ca}/ca.key.pem", "--cert", "{ca}/ca.pem",
                               "--batch", "{batch.json}"], "--cert: "),
    case("sign out in missing folder", ["facility", "sign", "--key", "{fac}/FAC-1.key.pem", "--batch",
                                        "{batch.json}", "--out", "{tmp}/no/sig.json"], "does not exist"),
    # -- token ----------------------------------------------------------------------------------
    case("token ttl 0", ["token", "citizen", "001090123456", "--ttl", "0"], "--ttl"),
    case("token ttl overflow", ["token", "citizen", "001090123456", "--ttl", "10000000000000"], "--ttl"),
    case("token bad citizen id", ["token", "citizen", "123"], "error ["),
    case("token facility traversal", ["token", "staff", "--role", "facility", "--facility-id", "../x"],
         "not a facility id"),
    case("token province 999", ["token", "staff", "--role", "province", "--province", "999"], "not a province"),
    case("token jwks out onto a folder", ["token", "jwks", "--out", "{empty-dir}"], "is a folder"),
    # -- the command line itself ------------------------------------------------------------------
    case("unknown command", ["frobnicate"], "invalid choice"),
    case("unknown subcommand", ["keys", "frobnicate"], "invalid choice"),
]


@pytest.fixture(scope="module")
def files(ws):
    """Extra bad files for the table, written once into the session workspace."""
    ws.write("bad-registry.csv", "citizen_id,full_name,date_of_birth,sex,province_code\n"
                                 "001090123456,Lê Văn A,1990-13-45,M,001\n")
    ws.write("bad-shape.json", {"certificates": "nope"})
    from chalicelib.dcc.trust import _b64  # noqa: PLC2701 - the trust list's own encoding
    from cryptography.hazmat.primitives.serialization import Encoding
    from chalicelib.dcc.trust import load_certificate_bytes

    csca = load_certificate_bytes((ws / "keys" / "csca.pem").read_bytes())
    ws.write("csca-list.json", [{"certificate": _b64(csca.public_bytes(Encoding.DER))}])
    half = ws / "half-csca"
    half.mkdir(exist_ok=True)
    (half / "csca.pem").write_bytes((ws / "keys" / "csca.pem").read_bytes())
    no_key = ws / "ca-without-key"
    no_key.mkdir(exist_ok=True)
    (no_key / "ca.pem").write_bytes((ws / "ca" / "ca.pem").read_bytes())
    mixed = ws / "ca-mixed"
    mixed.mkdir(exist_ok=True)
    (mixed / "ca.pem").write_bytes((ws / "ca" / "ca.pem").read_bytes())
    (mixed / "ca.key.pem").write_bytes((ws / "other-ca" / "ca.key.pem").read_bytes())
    ws.write("facilities-evil.csv", "facility_id,name,province_code\n../evil,X,001\n")
    m = manifest()
    ws.write("no-batch-id.json", {k: v for k, v in m.items() if k != "batch_id"})
    ws.write("foreign-doses.json", manifest("FAC-1", dose_facility="FAC-2"))
    ws.write("empty-batch.json", manifest(people=0))
    altered = manifest()
    altered["entries"][0]["doses"][0]["dose_number"] = 3
    ws.write("altered.json", altered)
    return ws


STDIN = {
    "{payload}": dcc_payload(),
    "{dob-13-45}": dcc_payload(dob="1988-13-45"),
    "{dob-02-30}": dcc_payload(dob="1990-02-30"),
    "{dob-future}": dcc_payload(dob="2098-01-01"),
    "{dt-future}": dcc_payload(dt="2098-01-01"),
    "{dt-02-30}": dcc_payload(dt="2021-02-30"),
}


def _fill(arg: str, ws, tmp_path) -> str:
    if arg.startswith("{") and "}" in arg:
        name, rest = arg[1:].split("}", 1)
        base = tmp_path if name == "tmp" else ws / name
        return str(base) + rest
    return arg


@pytest.mark.parametrize("argv, expect, stdin", CASES)
def test_every_mistake_is_one_line_and_exit_2(files, tmp_path, argv, expect, stdin):
    stdin = json.dumps(STDIN[stdin]) + "\n" if stdin in STDIN else stdin
    before = set(tmp_path.rglob("*"))
    result = run([_fill(a, files, tmp_path) for a in argv], stdin)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert len(result.err_lines) == 1, result.err
    assert expect in result.err_lines[0]
    assert result.out == ""
    assert set(tmp_path.rglob("*")) == before  # a refused command writes nothing


def test_the_table_covers_every_command():
    from .test_boundary import command_paths

    covered = {" ".join(a for a in p.values[0] if not a.startswith(("-", "{")))
               for p in CASES}
    missing = [c for c in command_paths() if not any(c == k or k.startswith(c + " ") for k in covered)]
    # events run and dlq replay are covered too; the AWS ones fail before AWS here, and out of
    # reach of AWS in tests/integration/test_cli_aws_unreachable.py.
    assert missing == []
