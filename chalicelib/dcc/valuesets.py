"""The EU DCC value sets as business rules see them: `external.valueSets` maps a value set id to
the list of its codes (the shape the gateway's verifier apps build from the published sets).

Read from the copies bundled in data/ (see data/NOTICE), never from the network.
"""
from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Any

from chalicelib.dcc.rules import canonical_bytes

# The bundled value sets a rule may name; encoding instructions are documentation, not a set.
_FILES = ("country-2-codes.json", "disease-agent-targeted.json", "vaccine-mah-manf.json",
          "vaccine-medicinal-product.json", "vaccine-prophylaxis.json")


@functools.cache
def value_set_documents() -> dict[str, dict[str, Any]]:
    """Value set id -> the published document (valueSetId, valueSetDate, valueSetValues)."""
    documents = {}
    for name in _FILES:
        document = json.loads(resources.files("chalicelib.dcc.data").joinpath(name).read_text("utf-8"))
        documents[document["valueSetId"]] = document
    return documents


def rule_value_sets() -> dict[str, list[str]]:
    """Value set id -> its codes, for `external.valueSets`."""
    return {set_id: sorted(document["valueSetValues"]) for set_id, document in value_set_documents().items()}


def value_set_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
