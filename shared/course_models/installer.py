"""Build ``.venv`` one lab at a time, with uv when it can and pip otherwise (``make lab-N``).

Standard library only: ``make`` runs it with the system Python before the venv exists. Every
step prints one line (what it does, how long it took) and writes its full output to
``.venv/logs/<step>.log``; a failing step prints its name, that log's tail and the exact command
to rerun. ``run`` wraps any other command (training, packaging) the same way.

uv does not read pip's configuration, so the index, extra indexes, find-links and constraint
files pip is configured with (``pip config list``: pip.conf files and ``PIP_*`` variables) are
passed to uv as flags: a mirror or a local wheel folder keeps working, and ``torch==2.13.0``
comes from the same place for both installers (a CPU wheel in find-links, or ``--torch-index``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Extras that pull torch: it is installed first and alone, pinned, from the configured source.
TORCH_EXTRAS = {"torch", "lab3", "all"}
# pip config keys that change where packages come from, and the uv flag each becomes.
UV_FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}


class StepFailed(Exception):
    pass


def step(name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
    """Run ``cmd`` with its output in ``log_dir/<name>.log``; print one line when it ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") + ".log")
    print(f">> {name} ...", end="", flush=True)
    t0 = time.perf_counter()
    with log.open("w") as out:
        out.write("$ " + shlex.join(cmd) + "\n")
        out.flush()
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.perf_counter() - t0
    if code == 0:
        print(f" {seconds:.1f} s", flush=True)
        return
    print(f" FAILED after {seconds:.1f} s (exit {code})", flush=True)
    tail = log.read_text(errors="replace").splitlines()[-15:]
    print("\n".join("   | " + line for line in tail), file=sys.stderr)
    print(
        f"\nstep failed: {name}\nfull log:    {log}\nrerun it:    {shlex.join(cmd)}",
        file=sys.stderr,
    )
    raise StepFailed(name)


def pip_config(python: str) -> list[tuple[str, str]]:
    """(key, value) pairs from ``pip config list`` (files and PIP_* variables), in pip's order."""
    out = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    pairs = []
    for line in out.splitlines():
        m = re.match(r"^[^.]*\.([a-z-]+)='(.*)'$", line.strip())
        if m:
            pairs.extend((m.group(1), value) for value in m.group(2).split())
    return pairs


def uv_source_flags(config: list[tuple[str, str]]) -> tuple[list[str], dict[str, str]]:
    """pip's configured sources as uv flags, plus the environment uv needs (certificates)."""
    flags: list[str] = []
    env: dict[str, str] = {}
    seen = set()
    for key, value in config:
        if key == "cert":
            env["SSL_CERT_FILE"] = value
        elif key == "no-index" and value.lower() in {"1", "true", "yes", "on"}:
            flags.append("--no-index")
        elif key in UV_FLAGS and (key, value) not in seen:
            seen.add((key, value))
            flags += [UV_FLAGS[key], value]
    # pip picks the best version across every index; uv's default stops at the first index that
    # has the package. Our pins are exact, so matching pip is safe.
    if any(k in {"extra-index-url", "index-url"} for k, _ in config):
        flags += ["--index-strategy", "unsafe-best-match"]
    return flags, env


ENV_SOURCES = {  # PIP_* variables, for when no pip can print its configuration
    "PIP_INDEX_URL": "index-url",
    "PIP_EXTRA_INDEX_URL": "extra-index-url",
    "PIP_FIND_LINKS": "find-links",
    "PIP_CONSTRAINT": "constraint",
    "PIP_TRUSTED_HOST": "trusted-host",
    "PIP_CERT": "cert",
    "PIP_NO_INDEX": "no-index",
}


@functools.cache
def _pip_works(python: str) -> bool:
    return subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0


def configured_sources(python: str) -> list[tuple[str, str]]:
    if _pip_works(python):
        return pip_config(python)
    return [(key, v) for var, key in ENV_SOURCES.items() for v in os.environ.get(var, "").split()]


class Installer:
    """One way of installing into the venv: ``uv pip`` or ``python -m pip``.

    uv comes from PATH, else it is installed into the venv by a pip (the system Python's, with
    ``--python``, or the venv's own after ``ensurepip``): a venv made without pip is created in
    1 s, with it in 5-40 s here.
    """

    def __init__(self, venv: Path, choice: str, log_dir: Path) -> None:
        self.python = str(venv / "bin" / "python")
        self.log_dir = log_dir
        self.env = dict(os.environ)
        uv = shutil.which("uv") or str(venv / "bin" / "uv")
        if choice in {"auto", "uv"} and not Path(uv).exists():
            self._bootstrap_uv(choice)
        if choice != "pip" and Path(uv).exists():
            flags, env = uv_source_flags(configured_sources(self._config_python()))
            self.name = "uv " + _version([uv, "--version"]).split()[1]
            self.uv = True
            self.base = [uv, "pip"]
            # pip compiles .pyc files at install; uv only with this flag. Without it, and with
            # PYTHONDONTWRITEBYTECODE set, every start recompiles sklearn & co (a minute here).
            self.flags = ["--python", self.python, "--compile-bytecode", *flags]
            self.env.update(env, UV_NO_PROGRESS="1")
        else:
            self._ensure_pip()
            self.name = "pip " + _version([self.python, "-m", "pip", "--version"]).split()[1]
            self.uv = False
            self.base = [self.python, "-m", "pip"]
            self.flags = ["--progress-bar", "off"]

    def _config_python(self) -> str:
        return self.python if _pip_works(self.python) else sys.executable

    def _ensure_pip(self) -> None:
        if not _pip_works(self.python):
            step("add pip to the venv (ensurepip)", [self.python, "-m", "ensurepip"], self.log_dir)
            _pip_works.cache_clear()

    def _bootstrap_uv(self, choice: str) -> None:
        name = "bootstrap uv (pip install uv)"
        if _pip_works(sys.executable):  # pip >= 22.3 installs into another interpreter's env
            pip = [sys.executable, "-m", "pip", "--python", self.python]
        else:
            self._ensure_pip()
            pip = [self.python, "-m", "pip"]
        cmd = [*pip, "install", "-q", "--no-deps", "uv"]  # uv's wheel has no dependencies
        try:
            step(name, cmd, self.log_dir)
        except StepFailed:
            if choice == "uv":
                raise
            print(">> uv could not be installed: falling back to pip (INSTALLER=pip)")

    def install(self, name: str, *args: str) -> None:
        flags = self.flags
        if "--index-url" in args:  # an explicit index (TORCH_INDEX) replaces the configured one
            i = flags.index("--index-url") if "--index-url" in flags else -1
            flags = flags[:i] + flags[i + 2 :] if i >= 0 else flags
        cmd = [*self.base, "install", *flags, *args]
        step(f"{name} with {self.name}", cmd, self.log_dir, self.env)

    def check(self) -> None:
        cmd = [*self.base, "check", *(["--python", self.python] if self.uv else [])]
        step(f"check dependencies with {self.name}", cmd, self.log_dir, self.env)


def _version(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()


def ensure_venv(venv: Path, log_dir: Path, choice: str) -> None:
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(f"Python 3.11 needed, found {sys.version.split()[0]} (set PYTHON=...)")
    if not (venv / "bin" / "python").exists():
        without_pip = [] if choice == "pip" else ["--without-pip"]
        step(f"create {venv}", [sys.executable, "-m", "venv", *without_pip, str(venv)], log_dir)


@contextlib.contextmanager
def venv_lock(venv: Path) -> Iterator[None]:
    """One installer at a time per venv (``make -j`` may start two labs' installs)."""
    venv.mkdir(parents=True, exist_ok=True)
    with (venv / ".install-lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def install(args: argparse.Namespace) -> None:
    venv = Path(args.venv)
    log_dir = venv / "logs"
    with venv_lock(venv):
        ensure_venv(venv, log_dir, args.installer)
        inst = Installer(venv, args.installer, log_dir)
        extras = [e for e in args.extras.split(",") if e]
        if TORCH_EXTRAS & set(extras):
            index = ["--index-url", args.torch_index] if args.torch_index else []
            inst.install(f"install {args.torch_spec} (CPU build, first)", *index, args.torch_spec)
        target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
        label = f".[{','.join(extras)}]" if extras else ". (core)"
        inst.install(f"install {label}", "-c", str(ROOT / "constraints.txt"), "-e", target)
        if args.check:
            inst.check()


def run(args: argparse.Namespace) -> None:
    step(args.name, args.cmd, Path(args.log_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="installer.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="create the venv if needed and install extras into it")
    p.add_argument("--venv", default=".venv")
    p.add_argument("--extras", default="", help="comma-separated extras, e.g. lab1 or all,dev")
    p.add_argument("--installer", choices=["auto", "uv", "pip"], default="auto")
    p.add_argument("--torch-spec", default="torch==2.13.0")
    p.add_argument("--torch-index", default="", help="an index for torch only (CPU wheels)")
    p.add_argument("--check", action="store_true", help="run `pip check` afterwards")
    r = sub.add_parser("run", help="run one command as a logged step")
    r.add_argument("name")
    r.add_argument("--log-dir", default=".venv/logs")
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run" and args.cmd[:1] == ["--"]:
        args.cmd = args.cmd[1:]
    try:
        (install if args.command == "install" else run)(args)
    except StepFailed:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
