"""Refresh the vendored CRD schemas from a CRD YAML file (run by hand, not by the tests).

    python deploy/schemas/vendor.py CRD.yaml OUT.json --source URL@TAG

Keeps only ``spec.versions[].schema.openAPIV3Schema`` per served version, without the
``description`` texts (they are ~80 % of the bytes and never change validation).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml


def strip_descriptions(node):
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("crd", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", required=True, help="where the CRD came from (repo@tag:path)")
    args = parser.parse_args(argv)
    crd = next(d for d in yaml.safe_load_all(args.crd.read_text()) if d)
    spec = crd["spec"]
    data = {
        "source": args.source,
        "group": spec["group"],
        "kind": spec["names"]["kind"],
        "versions": {
            v["name"]: strip_descriptions(v["schema"]["openAPIV3Schema"])
            for v in spec["versions"]
            if v.get("served", True)
        },
    }
    args.out.write_text(json.dumps(data, indent=None, separators=(",", ":"), sort_keys=True))
    print(f"{args.out}: {data['kind']} {sorted(data['versions'])} ({args.out.stat().st_size:,} B)")


if __name__ == "__main__":
    main()
