"""The HTTPS registry adapter against a real gateway stand-in on loopback, with mutual TLS."""
from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib import errors
from chalicelib.adapters.cleaning.registry_http import HttpRegistry, RateLimiter

PERSON = {"citizen_id": "001090012345", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17",
          "sex": "M", "province_code": "001"}


def _cert(subject, key, issuer=None, issuer_key=None, *, ca=False, san=None):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("registry test CA", ca_key, ca=True)
    files = {"ca": d / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, san in (("server", [x509.IPAddress(IPv4Address("127.0.0.1"))]), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, key, "registry test CA", ca_key, san=san)
        files[name] = d / f"{name}.pem"
        files[name].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{name}_key"] = d / f"{name}.key"
        files[f"{name}_key"].write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


@pytest.fixture(scope="module")
def gateway(pki):
    state = {"fail_next": 0, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            state["requests"] += 1
            if state["fail_next"]:
                state["fail_next"] -= 1
                self.send_response(503)
                self.end_headers()
                return
            url = urlparse(self.path)
            if url.path == f"/v1/citizens/{PERSON['citizen_id']}":
                body = PERSON
            elif url.path == "/v1/candidates":
                key = parse_qs(url.query)["block_key"][0]
                body = {"people": [PERSON] if key == "n|an nguyen van|1990" else []}
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["server"], pki["server_key"])
    ctx.load_verify_locations(pki["ca"])
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the gateway only talks to known clients
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def registry(url, pki, **kw):
    return HttpRegistry(url, client_cert=str(pki["client"]), client_key=str(pki["client_key"]),
                        ca_bundle=str(pki["ca"]), timeout_s=3, rate_limit_per_s=1000, **kw)


def test_finds_a_person_and_candidates_over_mutual_tls(gateway, pki):
    url, _ = gateway
    reg = registry(url, pki)
    p = reg.get(PERSON["citizen_id"])
    assert (p.full_name, p.date_of_birth, p.sex) == ("Nguyễn Văn An", dt.date(1990, 5, 17), "M")
    assert reg.get("001090099999") is None
    assert [c.citizen_id for c in reg.candidates("n|an nguyen van|1990")] == [PERSON["citizen_id"]]
    assert reg.candidates("n|nobody|1990") == []


def test_retries_a_failing_gateway_then_succeeds(gateway, pki):
    url, state = gateway
    state["fail_next"] = 2
    before = state["requests"]
    assert registry(url, pki, retries=3).get(PERSON["citizen_id"]) is not None
    assert state["requests"] - before == 3


def test_gives_up_with_dependency_unavailable_not_a_wrong_answer(gateway, pki):
    url, state = gateway
    state["fail_next"] = 10
    with pytest.raises(errors.DependencyUnavailable):
        registry(url, pki, retries=1).get(PERSON["citizen_id"])
    state["fail_next"] = 0


def test_a_client_without_its_certificate_is_refused(gateway, pki):
    url, _ = gateway
    anonymous = HttpRegistry(url, ca_bundle=str(pki["ca"]), timeout_s=3, retries=0)
    with pytest.raises(errors.DependencyUnavailable):
        anonymous.get(PERSON["citizen_id"])


def test_rate_limiter_spaces_requests_beyond_the_burst():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(10, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert slept == pytest.approx([0.1, 0.1, 0.1])
