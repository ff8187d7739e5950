"""The system packages the labs start, found or installed by ``make setup``.

Standard library only: it runs with the system Python before the venv exists (``make setup``
calls ``python3 shared/course_models/sysdeps.py install``). It installs what is missing when it
can do so without asking anything — Debian/Ubuntu as root or through password-less ``sudo``,
macOS through Homebrew — and otherwise stops with the exact command to run. ``make doctor``
uses the same table, so the two never disagree about what a lab needs.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Homebrew's openjdk@17 is keg-only: installed, but not on PATH.
HOMEBREW_JDKS = (Path("/opt/homebrew/opt/openjdk@17"), Path("/usr/local/opt/openjdk@17"))


@dataclass(frozen=True)
class Need:
    """One system package: how to tell it is there, and its name per package manager."""

    what: str
    why: str
    apt: str
    brew: str | None  # None: nothing to install on macOS
    # The labs that need it (`make lab-N` installs only theirs; 0 is the core venv every lab
    # builds on); () = only `make setup` (the deploy tests).
    labs: tuple[int, ...] = ()


def _has_venv_module() -> bool:
    # Debian/Ubuntu split ensurepip out of python3.11 (package python3.11-venv).
    return _succeeds([sys.executable, "-c", "import ensurepip, venv"])


def java_version(java: str = "java") -> int | None:
    """Major version of a java binary, None when it does not run."""
    out = _output([java, "-version"])
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else None


def homebrew_jdk() -> Path | None:
    """A Homebrew JDK 17 that is installed but maybe not on PATH."""
    return next((p for p in HOMEBREW_JDKS if (p / "bin" / "java").exists()), None)


def _has_java() -> bool:
    return (java_version() or 0) >= 17 or homebrew_jdk() is not None


# Debian names it chromium, Ubuntu's snap wrapper chromium-browser; macOS has an app bundle.
CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_CHROMES = (
    Path("/Applications/Chromium.app/Contents/MacOS/Chromium"),
    Path("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
)


def chromium() -> str | None:
    """A Chromium (or Chrome) binary that runs headless, or None."""
    found = next((shutil.which(c) for c in CHROMIUMS if shutil.which(c)), None)
    return found or next((str(p) for p in MAC_CHROMES if p.exists()), None)


def _has(command: str) -> bool:
    return shutil.which(command) is not None


CHECKS = {
    "python3.11-venv": _has_venv_module,
    "redis-server": lambda: _has("redis-server"),
    "java 17": _has_java,
    "prometheus": lambda: _has("prometheus") and _has("promtool"),
    "nginx": lambda: _has("nginx") or Path("/usr/sbin/nginx").exists(),
    "chromium": lambda: chromium() is not None,
    "bubblewrap": lambda: _has("bwrap") or sys.platform != "linux",
}

NEEDS: tuple[Need, ...] = (
    Need("python3.11-venv", "make creates .venv", "python3.11-venv", None, (0, 1, 2, 3, 4, 5)),
    Need("redis-server", "lab 2: the Celery broker", "redis-server", "redis", (2,)),
    Need("java 17", "lab 3: TorchServe's frontend", "openjdk-17-jre-headless", "openjdk@17", (3,)),
    Need("prometheus", "deploy tests: a real Prometheus and promtool", "prometheus", "prometheus"),
    Need("nginx", "deploy tests: a load balancer over lab 1 replicas", "nginx-light", "nginx"),
    Need("chromium", "make report's test: the page in a headless browser", "chromium", None, ()),
    Need("bubblewrap", "grading: the submission's sandbox (Linux)", "bubblewrap", None),
)


# Debian starts these as services on fixed ports (6379, 9090, 80) when it installs them.
SERVICES = {"redis-server": "redis-server", "prometheus": "prometheus", "nginx": "nginx"}


def needed(lab: int | None = None) -> list[Need]:
    """Every system package (``make setup``), or only those lab ``lab`` starts."""
    return [n for n in NEEDS if lab is None or lab in n.labs]


def missing(lab: int | None = None) -> list[Need]:
    # Nothing to install on macOS for a brew-less need (Chrome is an app there, e.g. on CI).
    skip = platform.system() == "Darwin"
    return [n for n in needed(lab) if not (skip and n.brew is None) and not CHECKS[n.what]()]


def _succeeds(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _output(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _apt_name(need: Need) -> str:
    """Debian 13 has no openjdk-17: fall back to its default JRE (21 runs TorchServe too)."""
    if need.apt.startswith("openjdk-17") and not _succeeds(["apt-cache", "show", need.apt]):
        return "default-jre-headless"
    return need.apt


def _as_root() -> list[str] | None:
    """The prefix that runs a command as root without a prompt, or None."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    if _has("sudo") and _succeeds(["sudo", "-n", "true"]):
        return ["sudo", "-n"]
    return None


def _run(cmd: list[str]) -> bool:
    print(">> " + " ".join(cmd), flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", HOMEBREW_NO_AUTO_UPDATE="1")
    return subprocess.run(cmd, env=env).returncode == 0


def _install_apt(needs: list[Need]) -> tuple[bool, str]:
    packages = [_apt_name(n) for n in needs]
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    command = f"sudo apt-get update && sudo {' '.join(install)}"
    prefix = _as_root()
    if prefix is None:
        return False, command
    ok = _run([*prefix, "apt-get", "update", "-q"]) and _run([*prefix, *install])
    services = [SERVICES[n.what] for n in needs if n.what in SERVICES]
    if ok and services and _has("systemctl"):
        # The distribution starts them on fixed ports; the labs start their own on free ports.
        _succeeds([*prefix, "systemctl", "disable", "--now", *services])
    return ok, command


def _install_brew(needs: list[Need]) -> tuple[bool, str]:
    formulae = [n.brew for n in needs if n.brew]
    command = f"brew install {' '.join(formulae)}"
    if not formulae:
        return True, command
    if not _has("brew"):
        return False, "install Homebrew (https://brew.sh), then: " + command
    return _run(["brew", "install", *formulae]), command


def _manual_command(needs: list[Need]) -> str:
    names = ", ".join(n.what for n in needs)
    return (
        f"install {names} with your package manager (Fedora: sudo dnf install redis "
        "java-17-openjdk-headless; Arch: sudo pacman -S redis jre17-openjdk-headless)"
    )


def java_path_hint() -> str | None:
    """How to put a Homebrew JDK on PATH, when java itself is not there yet."""
    jdk = homebrew_jdk()
    if jdk is None or (java_version() or 0) >= 17:
        return None
    return (
        f'Homebrew\'s openjdk@17 is keg-only: add  export PATH="{jdk}/bin:$PATH"  to your '
        "shell profile (~/.zshrc), or link it once: sudo ln -sfn "
        f"{jdk}/libexec/openjdk.jdk /Library/Java/JavaVirtualMachines/openjdk-17.jdk"
    )


def install(lab: int | None = None) -> int:
    """Install what is missing; 0 when everything is there, 1 with the command otherwise."""
    needs = missing(lab)
    if needs:
        print("system packages missing: " + ", ".join(f"{n.what} ({n.why})" for n in needs))
        if platform.system() == "Darwin":
            ok, command = _install_brew(needs)
        elif _has("apt-get"):
            ok, command = _install_apt(needs)
        else:
            ok, command = False, _manual_command(needs)
        still = missing(lab)
        if not ok or still:
            print(
                "\ncould not install " + ", ".join(n.what for n in still or needs) + " here. "
                f"Run this, then the same make command again:\n\n    {command}\n\n"
                "(or `make setup NO_SYSTEM_PACKAGES=1` to skip, if you only do labs 1, 4 and 5)",
                file=sys.stderr,
            )
            return 1
    hint = java_path_hint()
    if hint:
        print(hint)
    print("system packages: " + ", ".join(n.what for n in needed(lab)) + " present")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["install"]:
        return install()
    if argv[1:2] == ["install"] and argv[2:3] == ["--lab"] and argv[3:4]:
        return install(int(argv[3]))
    if argv[1:] == ["check"]:
        needs = missing()
        for n in needs:
            print(f"missing: {n.what} ({n.why})")
        return 1 if needs else 0
    print("usage: sysdeps.py install [--lab N]|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
