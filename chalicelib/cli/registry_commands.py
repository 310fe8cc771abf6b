"""`registry`: load the population registry copy held in DynamoDB."""
from __future__ import annotations

import sys

from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "registry", "population registry copy in DynamoDB")
    p = command(g, "import", "load a registry CSV (citizen_id, full_name, date_of_birth, sex, province_code)",
                _import)
    p.add_argument("file", help="registry CSV file (UTF-8)")


def _import(args) -> int:
    from chalicelib.aws.registry import DynamoRegistry
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.wiring import container

    registry = DynamoRegistry(container().tables)
    with open(args.file, encoding="utf-8-sig", newline="") as f:
        n = registry.import_people(read_registry_csv(f),
                                   progress=lambda k: print(f"\r{k:,} people", end="", file=sys.stderr))
    print(f"\rimported {n:,} people into {container().settings.table('registry')}", file=sys.stderr)
    return 0
