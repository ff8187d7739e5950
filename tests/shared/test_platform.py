"""Portable replacements for Linux-only tools, and the system-package check `make setup` runs."""

import subprocess
import sys

import pytest
from filelock import FileLock, Timeout

from course_models import sysdeps
from course_models.procs import wait_until


def lock_cmd(path, *cmd):
    return [sys.executable, "-m", "course_models.lock", str(path), "--", *cmd]


@pytest.mark.points(0)
def test_lock_passes_the_exit_status_through(tmp_path):
    assert subprocess.run(lock_cmd(tmp_path / "l", sys.executable, "-c", "exit(3)")).returncode == 3
    assert subprocess.run(lock_cmd(tmp_path / "l")).returncode == 2  # usage


@pytest.mark.points(0)
def test_lock_is_held_while_the_command_runs(tmp_path):
    lock, started, release = tmp_path / "bench.lock", tmp_path / "started", tmp_path / "release"
    waiter = (
        "import pathlib, time\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.01)\n"
    )
    holder = subprocess.Popen(lock_cmd(lock, sys.executable, "-c", waiter))
    try:
        wait_until(lambda: started.exists() or holder.poll() is not None, 60, what="the lock")
        assert started.exists(), "the locked command never started"
        with pytest.raises(Timeout):
            FileLock(lock).acquire(timeout=0)
        release.touch()
        assert holder.wait(timeout=60) == 0
        with FileLock(lock).acquire(timeout=5):
            pass
    finally:
        holder.kill()


@pytest.mark.points(0)
def test_setup_finds_the_system_packages_it_installed():
    assert sysdeps.missing() == [], "run `make setup`: it installs redis-server and Java 17"
    assert sysdeps.main(["sysdeps.py", "check"]) == 0


@pytest.mark.points(0)
def test_a_keg_only_homebrew_jdk_is_found_with_a_path_hint(tmp_path, monkeypatch):
    jdk = tmp_path / "opt" / "openjdk@17"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\necho 'openjdk version \"17.0.9\"' >&2\n")
    monkeypatch.setattr(sysdeps, "HOMEBREW_JDKS", (tmp_path / "none", jdk))
    monkeypatch.setattr(sysdeps, "java_version", lambda java="java": None)  # not on PATH
    assert sysdeps.homebrew_jdk() == jdk
    hint = sysdeps.java_path_hint()
    assert f'export PATH="{jdk}/bin:$PATH"' in hint
    assert "java 17" not in [n.what for n in sysdeps.missing()]
