"""``python -m course_models.lock PATH -- CMD ...``: run CMD holding an exclusive file lock.

The benchmark targets serialise on one lock so two benchmarks never share the CPUs. ``flock(1)``
does that on Linux only; this does it on Linux, macOS and WSL through the ``filelock`` package,
and passes CMD's exit status through.
"""

from __future__ import annotations

import subprocess
import sys

from filelock import FileLock


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m course_models.lock PATH -- CMD [ARG...]", file=sys.stderr)
        return 2
    path, command = argv[0], argv[2:]
    with FileLock(path):
        try:
            return subprocess.run(command).returncode
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
