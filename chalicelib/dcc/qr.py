"""QR rendering of `HC1:` strings: alphanumeric mode, error correction Q (as the DCC spec asks).

Speed: qrcode's default picks the mask by building the symbol 8 times and scoring each in Python;
that search dominated rendering (bench/bench_dcc.py prints both). We fix the mask pattern instead:
every QR decoder reads any of the 8 masks, and the penalty rule only avoids large uniform areas,
which base45-encoded, zlib-compressed data (close to random) does not produce. PNG is drawn by
writing one pixel per module into a 1-bit image and scaling it with nearest-neighbour, instead
of qrcode's per-module rectangle drawing; SVG is one path with a run per horizontal dark stretch.
"""
from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import MODE_ALPHA_NUM, QRData

MASK_PATTERN = 0
QUIET_ZONE = 4  # modules of white border, the QR minimum


def qr_matrix(hc1: str, *, mask_pattern: int | None = MASK_PATTERN) -> list[list[bool]]:
    """Module matrix without quiet zone. `mask_pattern=None` runs qrcode's full mask search."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=0, mask_pattern=mask_pattern)
    # HC1 strings are base45, which is exactly the QR alphanumeric character set.
    qr.add_data(QRData(hc1, mode=MODE_ALPHA_NUM))
    qr.make(fit=True)
    return qr.modules


def render_qr_png(hc1: str, *, scale: int = 4, mask_pattern: int | None = MASK_PATTERN) -> bytes:
    from PIL import Image

    modules = qr_matrix(hc1, mask_pattern=mask_pattern)
    size = len(modules) + 2 * QUIET_ZONE
    white, black = b"\xff", b"\x00"
    margin_row = white * size
    side = white * QUIET_ZONE
    rows = [margin_row] * QUIET_ZONE
    rows += [side + b"".join(black if m else white for m in row) + side for row in modules]
    rows += [margin_row] * QUIET_ZONE
    image = Image.frombytes("L", (size, size), b"".join(rows)).convert("1")
    if scale != 1:
        image = image.resize((size * scale, size * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def render_qr_svg(hc1: str, *, scale: int = 4, mask_pattern: int | None = MASK_PATTERN) -> str:
    modules = qr_matrix(hc1, mask_pattern=mask_pattern)
    size = len(modules) + 2 * QUIET_ZONE
    runs = []
    for y, row in enumerate(modules):
        x = 0
        n = len(row)
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                runs.append(f"M{start + QUIET_ZONE},{y + QUIET_ZONE}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    px = size * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{px}" height="{px}" '
        f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    )
