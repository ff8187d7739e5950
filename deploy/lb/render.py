"""Render deploy/lb/nginx.conf.in for N upstreams (compose's LB image and the tests use it).

python deploy/lb/render.py --listen 8000 --prefix /tmp/lb lab1-api:8000 > nginx.conf
"""

from __future__ import annotations

import argparse
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.in"


def render(servers: list[str], listen: str, prefix: str) -> str:
    lines = "\n".join(f"        server {s} max_fails=1 fail_timeout=5s;" for s in servers)
    return (
        TEMPLATE.read_text()
        .replace("@SERVERS@", lines)
        .replace("@LISTEN@", listen)
        .replace("@PREFIX@", prefix)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", required=True, help="port or address:port")
    parser.add_argument("--prefix", required=True, help="folder for pid, logs and temp files")
    parser.add_argument("servers", nargs="+", metavar="HOST:PORT")
    args = parser.parse_args(argv)
    print(render(args.servers, args.listen, args.prefix), end="")


if __name__ == "__main__":
    main()
