"""Vietnamese identity facts: province codes and the structure of citizen identity numbers.

Pure module (no I/O), shared by intake validation, the cleaning engine and the synthetic data
generator so that all three agree on what a well-formed id looks like.
"""
from chalicelib.identity.citizen_id import (
    CitizenId,
    century_sex_digit,
    id_consistency_problems,
    parse_citizen_id,
)
from chalicelib.identity.provinces import PROVINCES, normalise_province_code, province_name

__all__ = [
    "CitizenId",
    "PROVINCES",
    "century_sex_digit",
    "id_consistency_problems",
    "normalise_province_code",
    "parse_citizen_id",
    "province_name",
]
