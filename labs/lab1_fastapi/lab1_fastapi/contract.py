"""The v1 API contract: the part of the OpenAPI document v1 consumers depend on.

``python -m lab1_fastapi.contract --write`` refreshes the committed snapshot. Do that only for
a change you *mean* to ship to v1 consumers; the contract test exists to stop accidental ones.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi_v1.json")
V1_PREFIX = "/v1/"
REF = "#/components/schemas/"


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            found.add(ref.removeprefix(REF))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def v1_contract(openapi: dict[str, Any]) -> dict[str, Any]:
    """v1 paths plus every schema they reach, transitively."""
    paths = {p: spec for p, spec in openapi.get("paths", {}).items() if p.startswith(V1_PREFIX)}
    schemas = openapi.get("components", {}).get("schemas", {})
    todo, seen = _refs(paths), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo |= _refs(schemas[name]) - seen
    return {
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {n: schemas[n] for n in sorted(seen)}},
    }


def dumps(contract: dict[str, Any]) -> str:
    return json.dumps(contract, indent=2, sort_keys=True) + "\n"


def load_snapshot() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"overwrite {SNAPSHOT.name}")
    args = parser.parse_args()
    from lab1_fastapi.app import create_app
    from lab1_fastapi.settings import Settings

    # Defaults only: the snapshot must not depend on whoever's LAB1_* variables are set.
    current = dumps(v1_contract(create_app(Settings.model_construct()).openapi()))
    if args.write:
        SNAPSHOT.write_text(current)
        print(f"wrote {SNAPSHOT}")
    elif current != SNAPSHOT.read_text():
        raise SystemExit(f"v1 contract differs from {SNAPSHOT} (run with --write if intended)")
    else:
        print("v1 contract unchanged")


if __name__ == "__main__":
    main()
