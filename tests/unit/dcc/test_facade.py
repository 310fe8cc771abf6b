"""The dcc façade imports each name on first use: every advertised name resolves, and a light
command (CertLogic) does not drag in x509/QR/COSE."""
import subprocess
import sys

import chalicelib.dcc as dcc


def test_every_name_of_the_facade_resolves_to_its_home():
    assert sorted(dcc.__all__) == sorted(dcc._HOMES)
    for name in dcc.__all__:
        assert getattr(dcc, name).__module__.startswith("chalicelib.dcc.")


def test_certlogic_does_not_import_the_certificate_engine():
    code = ("import sys, chalicelib.dcc.certlogic; "
            "print(any(m.startswith(('chalicelib.dcc.issue', 'chalicelib.dcc.qr', 'qrcode')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
