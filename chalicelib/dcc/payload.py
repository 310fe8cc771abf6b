"""Builds the DCC vaccination payload (`hcert` claim -260/1) from plain inputs.

The vaccine catalogue comes from the eHealth Network "vaccine encoding instructions" value set
bundled in data/, which pairs each medicinal product (`mp`) with its marketing-authorisation holder
or manufacturer (`ma`) and the SNOMED codes allowed for `vp`. Every vaccine Viet Nam administered
(Comirnaty, Spikevax, Vaxzevria, Sputnik V, Hayat-Vax, Abdala, BBIBP-CorV/Vero Cell, Covaxin,
Covishield...) is listed there with an `ma`, so no code had to be invented.

`vp` choice: 1119349007 (mRNA) for mRNA products; otherwise the platform-specific code listed for
the product (viral vector 29061000087103, inactivated 1157024006, protein 1162643001), falling
back to the generic 28531000087107 "COVID-19 vaccine". The older generic J07BX03 is marked
deprecated in value set 1.14, so new certificates do not use it (verifiers still accept it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from chalicelib.dcc.errors import DccInputError
from chalicelib.dcc.names import MAX_LEN, person_name

# 1.3.0 rather than 1.3.3: the patch releases only changed documentation, and a few deployed
# verifier apps reject versions they have not seen.
SCHEMA_VERSION = "1.3.0"
COVID19 = "840539006"
MRNA = "1119349007"
GENERIC_COVID_VACCINE = "28531000087107"

_DOB = re.compile(r"^(19|20)\d\d(-\d\d){0,2}\Z", re.ASCII)  # \Z: `$` would allow a final newline


@dataclass(frozen=True)
class Vaccine:
    mp: str
    ma: str
    vp: str
    name: str


def load_json(name: str):
    return json.loads(resources.files("chalicelib.dcc.data").joinpath(name).read_text("utf-8"))


@lru_cache(maxsize=1)
def vaccine_catalogue() -> dict[str, Vaccine]:
    """Active products keyed by `mp` code and by upper-cased display name (aliases)."""
    active = {k for k, v in load_json("vaccine-medicinal-product.json")["valueSetValues"].items()
              if v["active"]}
    catalogue: dict[str, Vaccine] = {}
    for name, entry in load_json("vaccine-encoding-instructions.json")["valueSetValues"].items():
        mp = entry["vaccine-code"]
        if mp not in active:
            continue  # deprecated codes, e.g. "NVX-CoV2373 (deprecated)"
        codes = entry["sct-codes"]
        if MRNA in codes:
            vp = MRNA
        else:
            specific = [c for c in codes if c != GENERIC_COVID_VACCINE]
            vp = specific[0] if specific else GENERIC_COVID_VACCINE
        vaccine = Vaccine(mp=mp, ma=entry["vaccine-manufacturer"], vp=vp, name=name)
        catalogue[mp] = vaccine
        catalogue.setdefault(name.upper(), vaccine)
    return catalogue


def lookup_vaccine(product: str) -> Vaccine:
    catalogue = vaccine_catalogue()
    found = catalogue.get(product) or catalogue.get(product.strip().upper())
    if found is None:
        raise DccInputError(f"unknown vaccine product {product!r}")
    return found


def _check_dob(dob: str) -> str:
    if not isinstance(dob, str) or not _DOB.match(dob):
        raise DccInputError("date of birth must be YYYY, YYYY-MM or YYYY-MM-DD (1900-2099)")
    parts = [int(p) for p in dob.split("-")]
    try:
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError as e:
        raise DccInputError("date of birth is not a calendar date") from e
    return dob


def _iso_date(value: date | str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError) as e:
        raise DccInputError("vaccination date must be a complete ISO date YYYY-MM-DD") from e


def build_vaccination_payload(
    *,
    full_name: str,
    dob: str,
    product: str,
    dose_number: int,
    series_doses: int,
    vaccination_date: date | str,
    uvci: str,
    issuer: str,
    country: str = "VN",
) -> dict:
    """One `v` entry describing the latest dose. Raises DccInputError on impossible input."""
    vaccine = lookup_vaccine(product)
    for label, n in (("dose number", dose_number), ("series doses", series_doses)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DccInputError(f"{label} must be a positive integer")
    if not issuer or len(issuer) > MAX_LEN:
        raise DccInputError(f"issuer must be 1-{MAX_LEN} characters")
    if len(uvci) > MAX_LEN:
        raise DccInputError(f"UVCI must be at most {MAX_LEN} characters")
    return {
        "ver": SCHEMA_VERSION,
        "nam": person_name(full_name),
        "dob": _check_dob(dob),
        "v": [{
            "tg": COVID19,
            "vp": vaccine.vp,
            "mp": vaccine.mp,
            "ma": vaccine.ma,
            "dn": dose_number,
            "sd": series_doses,
            "dt": _iso_date(vaccination_date),
            "co": country,
            "is": issuer,
            "ci": uvci,
        }],
    }
