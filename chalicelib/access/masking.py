"""Masking of dead letters for `dlq list`: an operator inspecting why messages failed sees their
shape and reasons, not the people in them, unless they ask to (`--reveal`, which is logged).

Pure module. A message body is JSON where it can be (fields named like personal data are masked
whatever they hold, anywhere in the document) and text otherwise; in any remaining text, digit
runs shaped like a citizen id (9 or 12 digits) or a phone number are masked too, because a reason
or a raw S3 key may quote one. The citizen ids found are returned, so a reveal can be logged
under each person's pseudonym.
"""
from __future__ import annotations

import json
import re
from typing import Any

MASK = "***"
# Field names (lower case, without separators) that hold personal data in any of our messages.
PERSONAL_FIELDS = frozenset({
    "citizenid", "cid", "cccd", "fullname", "name", "dateofbirth", "dob", "birthdate", "birthday",
    "phone", "phonenumber", "mobile", "typed", "original", "originals", "address", "email",
    # a DCC payload's name group (nam: fn, gn and their transliterations fnt, gnt)
    "nam", "fn", "gn", "fnt", "gnt"})
_CITIZEN_ID_FIELDS = frozenset({"citizenid", "cid", "cccd"})
# A 12-digit CCCD or 9-digit CMND standing alone, and Vietnamese phone numbers (0 or +84, 9-10 digits).
# CCCDs are masked first (a CCCD starting with 0 also looks like a phone number), CMNDs last (the
# nine digits after +84 look like one).
_CCCD = re.compile(r"(?<!\d)(\d{12})(?!\d)")
_CMND = re.compile(r"(?<!\d)(\d{9})(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+84|0)[\d .-]{8,12}\d(?!\d)")


def _field(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def mask_text(text: str, found: set[str]) -> str:
    def citizen(m: re.Match) -> str:
        found.add(m.group(1))
        return MASK
    return _CMND.sub(citizen, _PHONE.sub(MASK, _CCCD.sub(citizen, text)))


def _mask(value: Any, found: set[str], personal: bool = False, ids: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, found, personal or _field(k) in PERSONAL_FIELDS, _field(k) in _CITIZEN_ID_FIELDS)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, found, personal, ids) for v in value]
    if personal:
        if ids and isinstance(value, (str, int)) and str(value).strip():
            found.add(str(value).strip())
        return MASK if value not in (None, "") else value
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 9:
        # an id sent as a JSON number (a CCCD's leading zero lost on the way) is still an id
        found.add(str(abs(value)))
        return MASK
    return mask_text(value, found) if isinstance(value, str) else value


def mask_body(body: str) -> tuple[str, set[str]]:
    """`body` with personal data masked, and the citizen ids it held."""
    found: set[str] = set()
    try:
        doc = json.loads(body)
    except ValueError:
        return mask_text(body, found), found
    return json.dumps(_mask(doc, found), ensure_ascii=False, separators=(",", ":")), found


def mask_message(message: dict) -> tuple[dict, set[str]]:
    """A `DeadLetters.peek` message with its body and error message masked, and the citizen ids in it."""
    body, found = mask_body(str(message.get("body", "")))
    error = mask_text(str(message.get("error_message", "")), found)
    return {**message, "body": body, "error_message": error}, found
