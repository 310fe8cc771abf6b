"""Maps what facilities type as a vaccine product to an EU DCC value-set code.

Facilities write brand names, manufacturer names or the Vietnamese habit "Vero Cell" for Sinopharm.
Codes and display names come from the DCC value set copied in `data/` (Apache-2.0); the aliases
below cover the common names seen in Vietnamese records.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from chalicelib.identity.names import fold_text

_ALIASES = {
    "astrazeneca": "EU/1/21/1529", "az": "EU/1/21/1529", "vaxzevria": "EU/1/21/1529",
    "pfizer": "EU/1/20/1528", "pfizerbiontech": "EU/1/20/1528", "biontech": "EU/1/20/1528",
    "moderna": "EU/1/20/1507",
    "janssen": "EU/1/20/1525", "johnsonjohnson": "EU/1/20/1525", "jj": "EU/1/20/1525",
    "novavax": "EU/1/21/1618",
    "verocell": "BBIBP-CorV", "sinopharm": "BBIBP-CorV", "sinopharmverocell": "BBIBP-CorV",
    "sinovac": "CoronaVac",
    "sputnik": "Sputnik-V", "gamcovidvac": "Sputnik-V",
    "hayatvax": "Hayat-Vax",
}

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str:
    return _NON_ALNUM.sub("", fold_text(text))


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    raw = resources.files("chalicelib.intake").joinpath("data/vaccine-medicinal-product.json")
    valueset = json.loads(raw.read_text(encoding="utf-8"))
    table: dict[str, str] = {}
    for code, entry in valueset["valueSetValues"].items():
        table[_key(code)] = code
        display = entry["display"].replace("(deprecated)", "")
        table.setdefault(_key(display), code)
    table.update(_ALIASES)
    return table


def valueset_codes() -> frozenset[str]:
    return frozenset(_table().values())


def map_product(text: str) -> str | None:
    """The value-set code for a typed product name, or None when it is not recognised."""
    return _table().get(_key(text))
