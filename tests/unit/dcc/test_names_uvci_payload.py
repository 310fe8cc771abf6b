from __future__ import annotations

import copy
import random
import unicodedata

import pytest

from chalicelib.dcc import build_vaccination_payload, make_uvci
from chalicelib.dcc.errors import DccInputError
from chalicelib.dcc.names import person_name, transliterate
from chalicelib.dcc.payload import lookup_vaccine
from chalicelib.dcc.schema import payload_problems, reference_validator
from chalicelib.dcc.uvci import check_character, is_valid_uvci

from .conftest import make_payload, seeded_bytes


@pytest.mark.parametrize("text, expected", [
    ("Nguyễn", "NGUYEN"), ("Thị Đào", "THI<DAO"), ("Đặng Văn Đức", "DANG<VAN<DUC"),
    ("Trần-Lê", "TRAN<LE"), ("Hoàng Thuỳ Dương", "HOANG<THUY<DUONG"), ("Ngô Quốc Bảo", "NGO<QUOC<BAO"),
    ("d'Červenková Panklová", "DCERVENKOVA<PANKLOVA"), ("Ø", "OE"), ("Müller", "MUELLER"),
    ("Ångström", "AANGSTROEM"), ("Gärtner-Öz", "GAERTNER<OEZ"),
])
def test_icao_transliteration(text, expected):
    assert transliterate(text) == expected


def test_transliteration_handles_decomposed_input_and_caps_length():
    assert transliterate(unicodedata.normalize("NFD", "Nguyễn Thị Đào")) == "NGUYEN<THI<DAO"
    assert len(transliterate("A" * 200)) == 80


def test_vietnamese_name_order():
    assert person_name("  Nguyễn   Thị Đào ") == {"fn": "Nguyễn", "fnt": "NGUYEN", "gn": "Thị Đào",
                                                  "gnt": "THI<DAO"}
    assert person_name("Madonna") == {"fn": "Madonna", "fnt": "MADONNA"}
    with pytest.raises(DccInputError):
        person_name("   ")
    for unwritable in ("李 小龍", "Nguyễn 李"):  # a part with no Latin letters: no usable fnt/gnt
        with pytest.raises(DccInputError):
            person_name(unwritable)


@pytest.mark.parametrize("field, value", [("dob", "1990-05-01\n"), ("dob", "１９９０"),
                                          ("ver", "1.3.0\n"), ("v.dt", "2021-09-01\n")])
def test_schema_patterns_are_read_as_ecma_262(payload, field, value):
    # JSON Schema patterns are ECMA-262: `$` is the very end and `\d` is ASCII. Python's re (and
    # so jsonschema) would accept these; verifiers in JavaScript or Java would not.
    bad = copy.deepcopy(payload)
    if field == "v.dt":
        bad["v"][0]["dt"] = value
    else:
        bad[field] = value
    assert payload_problems(bad) != []


def test_uvci_check_character_matches_published_certificates():
    # Check characters of real Austrian and Dutch certificates: computed over the whole UVCI.
    assert check_character("URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813") == "B"
    assert check_character("URN:UVCI:01:NL:DADFCC47C7334E45A906DB12FD859FB7") == "1"
    assert is_valid_uvci("URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B")
    assert not is_valid_uvci("URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#C")


def test_make_uvci_is_deterministic_for_a_seed_and_unique_across_draws():
    a = make_uvci(seeded_bytes(1))
    assert a == make_uvci(seeded_bytes(1))
    assert a.startswith("URN:UVCI:01:VN:") and is_valid_uvci(a) and len(a) == 43
    draws = seeded_bytes(2)
    assert len({make_uvci(draws) for _ in range(1000)}) == 1000


@pytest.mark.parametrize("product, mp, ma, vp", [
    ("EU/1/20/1528", "EU/1/20/1528", "ORG-100030215", "1119349007"),
    ("Spikevax", "EU/1/20/1507", "ORG-100031184", "1119349007"),
    ("EU/1/21/1529", "EU/1/21/1529", "ORG-100001699", "29061000087103"),
    ("Sputnik-V", "Sputnik-V", "Gamaleya-Research-Institute", "29061000087103"),
    ("Hayat-Vax", "Hayat-Vax", "ORG-100023050", "1157024006"),
    ("Abdala", "Abdala", "CIGB", "28531000087107"),
    ("BBIBP-CorV", "BBIBP-CorV", "ORG-100020693", "1157024006"),
    ("Covaxin", "Covaxin", "Bharat-Biotech", "1157024006"),
])
def test_vaccines_used_in_viet_nam(product, mp, ma, vp):
    v = lookup_vaccine(product)
    assert (v.mp, v.ma, v.vp) == (mp, ma, vp)


def test_payload_shape_and_schema(payload):
    entry = payload["v"][0]
    assert payload["nam"]["fnt"] == "NGUYEN" and payload["nam"]["gnt"] == "THI<DAO"
    assert (entry["tg"], entry["dn"], entry["sd"], entry["co"]) == ("840539006", 2, 2, "VN")
    assert reference_validator().is_valid(payload) and payload_problems(payload) == []


@pytest.mark.parametrize("change", [
    {"product": "Nanocovax"}, {"dob": "1990-13-01"}, {"dob": "01/05/1990"}, {"dose_number": 0},
    {"series_doses": True}, {"vaccination_date": "2021-9-1"}, {"issuer": ""},
])
def test_impossible_inputs_are_refused(change):
    args = dict(full_name="Nguyễn Thị Đào", dob="1990", product="Comirnaty", dose_number=1,
                series_doses=2, vaccination_date="2021-09-01", uvci="URN:UVCI:01:VN:X#Y", issuer="MoH")
    args.update(change)
    with pytest.raises(DccInputError):
        build_vaccination_payload(**args)


def _mutations(payload, rng):
    """Payloads near the valid one: fields removed, retyped, lengthened or reformatted."""
    odd_values = [None, 1, 1.0, 2.5, True, "", "x" * 81, "1990-02-30", "2021-09-01", "ABC<",
                  "abc", [], {}, ["x"], "2021-09-01T00:00:00Z", "1.3.0", "1-3-0", "19", "vn"]
    paths = [("ver",), ("nam",), ("dob",), ("v",), ("nam", "fn"), ("nam", "fnt"), ("nam", "gn"),
             ("nam", "gnt")] + [("v", 0, k) for k in payload["v"][0]] + [("v", 0, "zz")]
    for _ in range(600):
        p = copy.deepcopy(payload)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            target = p
            for key in path[:-1]:
                target = target.get(key) if isinstance(target, dict) else (
                    target[key] if isinstance(target, list) and len(target) > key else None)
            if isinstance(target, dict):
                if rng.random() < 0.25:
                    target.pop(path[-1], None)
                else:
                    target[path[-1]] = rng.choice(odd_values)
        if rng.random() < 0.1:
            p["t"] = [{"tg": "840539006"}]
        yield p


def test_fast_schema_check_agrees_with_jsonschema(payload):
    reference = reference_validator()
    rng = random.Random(3)
    payloads = [payload, make_payload(name="Madonna")] + list(_mutations(payload, rng))
    disagreements = [p for p in payloads if reference.is_valid(p) != (payload_problems(p) == [])]
    assert disagreements == []
    assert sum(1 for p in payloads if not reference.is_valid(p)) > 300  # mutations bite
