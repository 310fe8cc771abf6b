"""QR images decode (with zxing-cpp, independent of the encoder) back to a verifiable HC1."""
from __future__ import annotations

import io
import random
import re

import pytest
import qrcode
import zxingcpp
from PIL import Image, ImageDraw
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import MODE_ALPHA_NUM, QRData, create_data

from chalicelib.dcc import issue_hc1, render_qr_png, render_qr_svg, verify_hc1
from chalicelib.dcc.qr import alphanumeric_codewords

from .conftest import SIGN_AT, VERIFY_AT


def decode_single(image) -> str:
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level == "Q"
    return found[0].text


def rasterize_svg(svg: str, scale: int = 4) -> Image.Image:
    """Minimal rasterizer for the SVG we emit: a white rect and one path of M x,y h w v1 h-w z runs."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path fill="#000" d="([^"]*)"', svg).group(1)
    for x, y, w in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", path):
        x, y, w = int(x), int(y), int(w)
        draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + 1) * scale - 1], fill=0)
    return image


def test_png_and_svg_decode_to_a_verifiable_certificate(chain, payload):
    hc1 = issue_hc1(payload, chain.signer, now=SIGN_AT, valid_days=365)
    png = render_qr_png(hc1)
    assert png.startswith(b"\x89PNG")
    svg = render_qr_svg(hc1)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    for text in (decode_single(Image.open(io.BytesIO(png))), decode_single(rasterize_svg(svg))):
        assert text == hc1
        assert verify_hc1(text, chain.trust, now=VERIFY_AT).valid


@pytest.mark.parametrize("length", [1, 2, 3, 40, 561, 857, 1400])
def test_codewords_equal_the_qrcode_library(length):
    text = "".join(random.Random(length).choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
                   for _ in range(length))
    version, codewords = alphanumeric_codewords(text)
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_Q)
    reference.add_data(QRData(text, mode=MODE_ALPHA_NUM))
    reference.make(fit=True)
    assert version == reference.version
    assert codewords == create_data(version, ERROR_CORRECT_Q, reference.data_list)
