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
from functools import lru_cache

from qrcode import base as qr_base
from qrcode import util as qr_util
from qrcode.constants import ERROR_CORRECT_Q
from qrcode.util import QRData

from chalicelib.dcc.errors import DccInputError

MASK_PATTERN = 0
QUIET_ZONE = 4  # modules of white border, the QR minimum
_EC = ERROR_CORRECT_Q
_ALNUM = {c: i for i, c in enumerate(qr_util.ALPHA_NUM.decode("ascii"))}
_PIXELS = bytes([255, 0]) + bytes(254)
_PAD = bytes((qr_util.PAD0, qr_util.PAD1))


class QrInputError(DccInputError):
    code = "DCC_QR_INPUT"


# -- GF(256) Reed-Solomon, table-driven ---------------------------------------------------------
# qrcode's own encoder does polynomial division on Python objects (~40% of its time). Here the
# remainder is one Python int and each data byte costs a shift, a lookup and an XOR.
_EXP = [0] * 512
_LOG = [0] * 256
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D  # the QR field polynomial x^8 + x^4 + x^3 + x^2 + 1
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@lru_cache(maxsize=None)
def _rs_table(ec_count: int) -> tuple[int, ...]:
    """For each feedback byte f, the generator's non-leading coefficients times f, as one int."""
    gen = [1]
    for i in range(ec_count):  # multiply by (x - alpha^i)
        root = _EXP[i]
        gen = [a ^ _gf_mul(b, root) for a, b in zip(gen + [0], [0] + gen)]
    tail = gen[1:]
    return tuple(int.from_bytes(bytes(_gf_mul(f, g) for g in tail), "big") for f in range(256))


def _rs_remainder(data: bytes, ec_count: int) -> bytes:
    table = _rs_table(ec_count)
    shift = 8 * (ec_count - 1)
    mask = (1 << (8 * ec_count)) - 1
    rem = 0
    for byte in data:
        rem = ((rem << 8) & mask) ^ table[byte ^ (rem >> shift)]
    return rem.to_bytes(ec_count, "big")


def alphanumeric_codewords(text: str) -> tuple[int, list[int]]:
    """(version, final interleaved codewords) of `text` in one alphanumeric segment at level Q.

    Equal to qrcode's `util.create_data` for the smallest fitting version (a unit test checks).
    """
    try:
        values = [_ALNUM[c] for c in text]
    except KeyError as e:
        raise QrInputError("text has characters outside the QR alphanumeric set") from e
    n = len(values)
    payload_bits = 11 * (n // 2) + 6 * (n % 2)
    for version in range(1, 41):
        blocks = qr_base.rs_blocks(version, _EC)
        capacity = 8 * sum(b.data_count for b in blocks)
        count_bits = qr_util.length_in_bits(qr_util.MODE_ALPHA_NUM, version)
        if 4 + count_bits + payload_bits <= capacity and n < (1 << count_bits):
            break
    else:
        raise QrInputError("text is too long for a QR code at error correction Q")
    acc = (qr_util.MODE_ALPHA_NUM << count_bits) | n
    for i in range(0, n - 1, 2):
        acc = (acc << 11) | (values[i] * 45 + values[i + 1])
    if n % 2:
        acc = (acc << 6) | values[-1]
    length = 4 + count_bits + payload_bits
    filler = min(capacity - length, 4)  # terminator
    filler += (-(length + filler)) % 8  # to a byte boundary
    length += filler
    data = (acc << filler).to_bytes(length // 8, "big")
    data += _PAD * ((capacity // 8 - len(data)) // 2 + 1)
    data = data[: capacity // 8]
    data_blocks, ec_blocks, offset = [], [], 0
    for block in blocks:
        chunk = data[offset: offset + block.data_count]
        offset += block.data_count
        data_blocks.append(chunk)
        ec_blocks.append(_rs_remainder(chunk, block.total_count - block.data_count))
    codewords = [b[i] for i in range(max(map(len, data_blocks))) for b in data_blocks if i < len(b)]
    codewords += [b[i] for i in range(max(map(len, ec_blocks))) for b in ec_blocks if i < len(b)]
    return version, codewords


def qr_matrix(hc1: str, *, mask_pattern: int | None = MASK_PATTERN) -> list[list[bool]]:
    """Module matrix without quiet zone. `mask_pattern=None` is qrcode's own slow path (mask
    search and encoder), kept for comparison in the benchmark."""
    if mask_pattern is None:
        qr = qrcode.QRCode(error_correction=_EC, border=0)
        # HC1 strings are base45, which is exactly the QR alphanumeric character set.
        qr.add_data(QRData(hc1, mode=qr_util.MODE_ALPHA_NUM))
        qr.make(fit=True)
        return qr.modules
    version, codewords = alphanumeric_codewords(hc1)
    qr = qrcode.QRCode(version=version, error_correction=_EC, border=0, mask_pattern=mask_pattern)
    # qrcode places precomputed codewords when data_cache is set; it still draws the finder,
    # timing, alignment, format and version patterns and applies the mask.
    qr.data_cache = codewords
    qr.makeImpl(False, mask_pattern)
    return qr.modules


def render_qr_png(hc1: str, *, scale: int = 4, mask_pattern: int | None = MASK_PATTERN) -> bytes:
    from PIL import Image

    modules = qr_matrix(hc1, mask_pattern=mask_pattern)
    size = len(modules) + 2 * QUIET_ZONE
    margin_row = b"\xff" * size
    side = b"\xff" * QUIET_ZONE
    rows = [margin_row] * QUIET_ZONE
    # bytes(row) turns dark/light into 1/0; translate maps them to black/white pixels.
    rows += [side + bytes(row).translate(_PIXELS) + side for row in modules]
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
