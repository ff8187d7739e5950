"""Run a submission's code where it cannot touch the grader: the sandbox launcher.

``grade`` exports the submission's committed tree, writes a :class:`Spec` and hands it to
pytest through ``$COURSE_SANDBOX`` (a JSON file). The lab fixtures start the student's servers
and CLIs with :func:`command` — ``argv`` unchanged outside grading, wrapped in the sandbox
during it — and talk to them over ports and files, so the checks themselves run in the
grader's interpreter with the instructor's code, configuration and plugin.

Backends:

``bwrap`` (default on Linux, no container engine needed): bubblewrap as an unprivileged uid
(one per submission, so a fork bomb spends only its own ``RLIMIT_NPROC``); new user, pid, ipc
and uts namespaces; only ``/usr``, a few ``/etc`` files, the grader's venv (read-only: the
Python stack, not the repository its editable install points at), the trained models, the
submission (read-only at ``/submission``) and the check's own temporary folder (read-only)
are visible; ``/tmp`` and ``$HOME`` are a private tmpfs. ``prlimit`` bounds CPU seconds, address
space, processes and file size; ``timeout`` the wall clock; the pid namespace dies with its
launcher, so nothing outlives a check. What it does NOT protect: the network namespace is the
host's (the grader reaches the student's server on a loopback port), so the student's code can
connect to any loopback service of the machine and anywhere the machine may reach; CPU time
is bounded per process, not shared fairly (no cgroup); the kernel is the host's.

``podman`` / ``docker``: the same layout inside a per-lab grading image (``docker/grade.Dockerfile``
builds it with the pinned stack), ``--network host`` for the same loopback link, ``--read-only``,
``--user``, ``--pids-limit``, ``--memory``, ``--cpus``. See DEVELOPERS.md (instructor block).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV = "COURSE_SANDBOX"
BACKENDS = ("bwrap", "podman", "docker")
# Read-only system paths the student's Python needs (merged-/usr Debian: /bin etc. are links).
ETC_FILES = ("passwd", "group", "hosts", "nsswitch.conf", "localtime", "ssl", "ca-certificates")


class SandboxError(RuntimeError):
    pass


@dataclass
class Limits:
    cpu_s: int = 900  # RLIMIT_CPU per process
    memory_mb: int = 6144  # RLIMIT_AS per process (numpy/XGBoost reserve address space)
    nproc: int = 256  # RLIMIT_NPROC for the submission's uid
    fsize_mb: int = 512  # RLIMIT_FSIZE: the largest file it may write
    tmp_mb: int = 512  # size of its private /tmp
    wall_s: int = 600  # wall clock of one sandboxed command
    startup_s: float = 120.0  # how long a check waits for a sandboxed server to answer


@dataclass
class Spec:
    backend: str
    source: str  # the exported submission tree (mounted read-only at /submission)
    uid: int
    python: str  # the interpreter inside (the grader's venv, bound read-only)
    ro: list[str] = field(default_factory=list)  # extra read-only paths, at the same place
    rw: list[str] = field(default_factory=list)  # writable paths, at the same place
    stage: str = ""  # an empty folder: as root, the interpreter's prefix is bound here first
    image: str = ""  # container backends
    limits: Limits = field(default_factory=Limits)

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o644)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        data = json.loads(Path(path).read_text())
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)


MOUNT = "/submission"


def limits_from_env() -> Limits:
    """Defaults, overridden by ``COURSE_SANDBOX_<FIELD>`` (e.g. ``COURSE_SANDBOX_STARTUP_S=20``)."""
    lim = Limits()
    for name, value in asdict(lim).items():
        if raw := os.environ.get(f"COURSE_SANDBOX_{name.upper()}"):
            setattr(lim, name, type(value)(raw))
    return lim


def active() -> Spec | None:
    """The spec of the grading run this process belongs to, or None (a plain test run)."""
    path = os.environ.get(ENV)
    return Spec.load(path) if path else None


def python_path(source: str | Path) -> str:
    """The submission's packages as they appear inside (``/submission/shared``, its labs)."""
    labs = sorted(p.name for p in (Path(source) / "labs").glob("lab*_*") if p.is_dir())
    return os.pathsep.join([f"{MOUNT}/shared", *(f"{MOUNT}/labs/{name}" for name in labs)])


def inside_env(spec: Spec, env: dict[str, str]) -> dict[str, str]:
    """Only what the command needs: never the grader's environment (tokens, PYTHONPATH...)."""
    keep = {k: v for k, v in env.items() if k.startswith(("LAB", "COURSE_ARTIFACTS", "HF_"))}
    return {
        **keep,
        "PATH": f"{Path(spec.python).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PYTHONPATH": python_path(spec.source),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HF_HUB_OFFLINE": "1",
        "LANG": "C.UTF-8",
    }


def _python(argv: list[str], spec: Spec) -> list[str]:
    # The fixtures build argv with the grader's sys.executable: inside it is the same venv.
    return [spec.python if a == sys.executable else a for a in argv]


def _limits(lim: Limits) -> list[str]:
    mb = 1024 * 1024
    return [
        "prlimit",
        f"--cpu={lim.cpu_s}",
        f"--as={lim.memory_mb * mb}",
        f"--nproc={lim.nproc}",
        f"--fsize={lim.fsize_mb * mb}",
        "--core=0",
        "--",
        "timeout",
        "--kill-after=5",
        str(lim.wall_s),
    ]


def _system() -> list[str]:
    """/usr, the merged-/usr links, a few /etc files, /proc and /dev."""
    cmd = ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64"):
        if Path(f"/{link}").is_symlink():
            cmd += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif Path(f"/{link}").is_dir():
            cmd += ["--ro-bind", f"/{link}", f"/{link}"]
    cmd += [
        a
        for n in ETC_FILES
        if Path("/etc", n).exists()
        for a in ("--ro-bind", f"/etc/{n}", f"/etc/{n}")
    ]
    return [*cmd, "--proc", "/proc", "--dev", "/dev"]


def _bwrap(argv: list[str], env: dict[str, str], spec: Spec, cwd: str) -> list[str]:
    # As root, drop to the submission's own uid first (bwrap then maps it in a user namespace);
    # as anyone else, bwrap runs as the caller (the namespaces still hide the grader's files).
    drop = ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups", "--"]
    cmd = [
        *_limits(spec.limits),
        *(drop if os.geteuid() == 0 else []),
        shutil.which("bwrap") or "bwrap",
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--clearenv",
        *_system(),
    ]
    prefix = sys.base_prefix  # the interpreter the venv was made from (stdlib, libpython)
    if not prefix.startswith("/usr"):
        cmd += ["--ro-bind", spec.stage if spec.stage else prefix, prefix]
    cmd += ["--size", str(spec.limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    venv = Path(spec.python).parent.parent
    cmd += ["--ro-bind", str(venv), str(venv)]
    for path in spec.ro:
        cmd += ["--ro-bind", path, path]
    for path in spec.rw:
        cmd += ["--bind", path, path]
    cmd += ["--ro-bind", spec.source, MOUNT, "--remount-ro", "/", "--chdir", cwd]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd = [*cmd, "--", *argv]
    if spec.stage and os.geteuid() == 0 and not sys.base_prefix.startswith("/usr"):
        # The uid cannot traverse e.g. /root (pyenv): bind the prefix to the stage folder in a
        # private mount namespace, then bwrap (as the uid) binds the stage back in its place.
        script = 'mount --bind -o ro "$1" "$2" && shift 2 && exec "$@"'
        stage = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        cmd = [*stage, "sh", sys.base_prefix, spec.stage, *cmd]
    return cmd


def _container(argv: list[str], env: dict[str, str], spec: Spec, cwd: str) -> list[str]:
    lim = spec.limits
    cmd = [spec.backend, "run", "--rm", "-i", "--network", "host", "--read-only"]
    cmd += ["--user", f"{spec.uid}:{spec.uid}", "--pids-limit", str(lim.nproc)]
    cmd += ["--memory", f"{lim.memory_mb}m", "--cpus", "1", "--cap-drop", "all"]
    cmd += ["--security-opt", "no-new-privileges", "--tmpfs", f"/tmp:size={lim.tmp_mb}m"]
    cmd += ["--ulimit", f"cpu={lim.cpu_s}", "--workdir", cwd]
    cmd += ["-v", f"{spec.source}:{MOUNT}:ro"]
    cmd += [a for p in spec.ro for a in ("-v", f"{p}:{p}:ro")]
    cmd += [a for p in spec.rw for a in ("-v", f"{p}:{p}:rw")]
    cmd += [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    return ["timeout", "--kill-after=5", str(lim.wall_s), *cmd, spec.image, *argv]


def command(
    argv: list[str],
    env: dict[str, str] | None = None,
    spec: Spec | None = None,
    cwd: str = MOUNT,
) -> tuple[list[str], dict[str, str]]:
    """(argv, env) that run ``argv`` as the submission: unchanged outside a grading run."""
    spec = spec or active()
    if spec is None:
        return list(argv), dict(env or {})
    inner = inside_env(spec, dict(env or {}))
    argv = _python(list(argv), spec)
    if spec.backend == "bwrap":
        return _bwrap(argv, inner, spec, cwd), {}
    if spec.backend in ("podman", "docker"):
        container_env = {**inner, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        argv = ["python" if a == spec.python else a for a in argv]
        return _container(argv, container_env, spec, cwd), {}
    raise SandboxError(f"unknown sandbox backend {spec.backend!r} (one of {BACKENDS})")


def startup_timeout(default: float) -> float:
    spec = active()
    return min(default, spec.limits.startup_s) if spec else default


def available(backend: str) -> str | None:
    """Why ``backend`` cannot run here, or None when it can."""
    if backend == "bwrap":
        if not shutil.which("bwrap"):
            return "bubblewrap is not installed (apt-get install -y bubblewrap; make setup does)"
        return None
    if backend in ("podman", "docker"):
        return None if shutil.which(backend) else f"{backend} is not installed"
    return f"unknown backend {backend!r}"


def readable(path: str | Path, top: str | Path) -> None:
    """Let the submission's uid read ``path`` (a check's temporary copy under ``top``):
    pytest makes its temporary folders private to the grader."""
    path, top = Path(path), Path(top)
    for parent in [path, *path.parents]:
        if parent.exists():
            parent.chmod(parent.stat().st_mode | 0o055 if parent.is_dir() else 0o044)
        if parent == top or parent == parent.parent:
            break
    if path.is_dir():
        for sub in path.rglob("*"):
            sub.chmod(sub.stat().st_mode | (0o055 if sub.is_dir() else 0o044))


def share(path: str | Path) -> None:
    """Make a check's own file or folder readable inside (no-op outside a grading run)."""
    spec = active()
    for top in spec.ro if spec else ():
        if Path(path).resolve().is_relative_to(top):
            readable(Path(path).resolve(), top)
            return


_unresponsive: list[str] = []


def started(what: str, wait: Callable[[], None]) -> None:
    """Run ``wait`` (polling a sandboxed server); once one start timed out, later starts of the
    same grading run fail at once instead of each waiting the full startup time again."""
    if active() is None:
        wait()
        return
    if _unresponsive:
        raise TimeoutError(f"not retried: {_unresponsive[0]}")
    try:
        wait()
    except TimeoutError as exc:
        _unresponsive.append(f"the submission's {what} did not answer in time earlier ({exc})")
        raise


def reap(uid: int) -> int:
    """Kill every process still running as the submission's uid (after its checks ended)."""
    import psutil

    killed = 0
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real == uid:
                proc.kill()
                killed += 1
        except psutil.Error:
            pass
    return killed
