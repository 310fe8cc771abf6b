"""`registry`: load the population registry copy held in DynamoDB."""
from __future__ import annotations

import sys
from pathlib import Path

from chalicelib.cli import _types as t
from chalicelib.cli._errors import CliError, about
from chalicelib.cli._util import command, group


def register(sub) -> None:
    g = group(sub, "registry", "population registry copy in DynamoDB")
    p = command(g, "import", "load a registry CSV (citizen_id, full_name, date_of_birth, sex, province_code); "
                "the whole file is checked before anything is written", _import)
    p.add_argument("file", type=t.readable_file, help="registry CSV file (UTF-8)")


def registry_people(path: Path, option: str):
    """The people of a registry CSV, streamed; a bad row is named by its number, never by its
    content (a registry row is personal data)."""
    from chalicelib.cleaning.registry import read_registry_csv
    from chalicelib.intake.records import RegistryRowError

    with about(option), path.open(encoding="utf-8-sig", newline="") as f:
        rows = read_registry_csv(f)
        n = 0
        while True:
            try:
                person = next(rows, None)
            except RegistryRowError as e:
                raise CliError(option, f"data row {n + 1}: {e}") from e
            if person is None:
                return
            n += 1
            yield person


def _import(args) -> int:
    from chalicelib.adapters.cleaning.registry_dynamo import DynamoRegistry
    from chalicelib.wiring import container

    # First pass: a bad row found after half the file was written would leave half a registry.
    checked = sum(1 for _ in registry_people(args.file, str(args.file)))
    registry = DynamoRegistry(container().tables)
    n = registry.import_people(registry_people(args.file, str(args.file)),
                               progress=lambda k: print(f"\r{k:,} people", end="", file=sys.stderr))
    print(f"\rimported {n:,} of {checked:,} people into {container().settings.table('registry')}", file=sys.stderr)
    if registry.oversized_blocks:
        from chalicelib.adapters.cleaning.registry_dynamo import CANDIDATE_CAP

        print(f"warning: {registry.oversized_blocks:,} blocking keys hold more than {CANDIDATE_CAP} people; a search "
              f"reads the first {CANDIDATE_CAP} of each (README, Population registry)", file=sys.stderr)
    return 0
