"""`make diagnose-2`: the same Locust load against several server configurations.

Every configuration gets 4 light users (/predict) and 4 heavy users (/explain, or the same
work through Celery) -- more heavy requests than cores, i.e. heavy traffic -- for the same
time, on the same machine, one after the other. The table shows what each configuration
does to the *light* endpoint while heavy work runs.

    python -m lab2_flask_celery.diagnose [--seconds 20] [--only sync-1,gthread-2x4]

Writes artifacts/bench/lab2_diagnose.json and .png. Run it alone (make diagnose-2 takes
/tmp/course-bench.lock) — another benchmark on the same cores changes every number.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_models.artifacts import artifacts_root
from course_models.bench import (
    Panel,
    ProcessMeter,
    cpu_count,
    machine_caption,
    mode_row,
    plot_panels,
    print_table,
    write_report,
)
from course_models.procs import free_port, stop, venv_bin
from lab2_flask_celery.services import LAB_DIR, start_gunicorn, start_redis, start_worker

TIMEOUT_PATTERN = re.compile(r"504|timed out|timeout|RemoteDisconnected|reset|500", re.I)


@dataclass
class Config:
    name: str
    what: str
    env: dict[str, str] = field(default_factory=dict)
    users: tuple[str, ...] = ("LightUser", "HeavyUser")
    celery: bool = False


GTHREAD = {"LAB2_WORKERS": "2", "LAB2_WORKER_CLASS": "gthread", "LAB2_THREADS": "4"}
CONFIGS = [
    Config("light-only", "gthread 2x4, no heavy users (reference)", GTHREAD, ("LightUser",)),
    Config(
        "sync-1",
        "1 sync worker: heavy and light share it (= variant single_sync_worker)",
        {"LAB2_VARIANT": "single_sync_worker"},
    ),
    Config("sync-4", "4 sync workers", {"LAB2_WORKERS": "4", "LAB2_WORKER_CLASS": "sync"}),
    Config(
        "sync-4+celery",
        "4 sync workers, heavy work offloaded to 1 Celery process (nice 10)",
        {"LAB2_WORKERS": "4", "LAB2_WORKER_CLASS": "sync"},
        ("LightUser", "OffloadUser"),
        celery=True,
    ),
    Config("gthread-2x4", "2 workers x 4 threads", GTHREAD),
    Config(
        "threads-1x8",
        "1 worker x 8 threads: every request shares one GIL",
        {"LAB2_WORKERS": "1", "LAB2_WORKER_CLASS": "gthread", "LAB2_THREADS": "8"},
    ),
    Config(
        "gthread-2x4+celery",
        "gthread 2x4, heavy work offloaded to 1 Celery process (nice 10)",
        GTHREAD,
        ("LightUser", "OffloadUser"),
        celery=True,
    ),
    Config(
        "broken:load_per_request",
        "gthread 2x4, variant load_per_request",
        {**GTHREAD, "LAB2_VARIANT": "load_per_request"},
    ),
    Config(
        "broken:global_lock",
        "gthread 2x4, variant global_lock",
        {**GTHREAD, "LAB2_VARIANT": "global_lock"},
    ),
    Config(
        "broken:short_timeout",
        "2 sync workers, timeout 2 s, variant short_timeout",
        {"LAB2_WORKERS": "2", "LAB2_VARIANT": "short_timeout"},
    ),
]


def locust(
    base: str, users: tuple[str, ...], seconds: int, prefix: Path, light: int, heavy: int
) -> None:
    n = light + (heavy if len(users) > 1 else 0)
    cmd = [
        venv_bin("locust"), "-f", str(LAB_DIR / "locustfile.py"), "--headless",
        "-u", str(n), "-r", str(n), "-t", f"{seconds}s", "--host", base,
        "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", *users,
    ]  # fmt: skip
    env = {**os.environ, "LAB2_LOAD_LIGHT": str(light), "LAB2_LOAD_HEAVY": str(heavy)}
    subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=seconds + 120)


def read_stats(prefix: Path) -> list[dict]:
    rows = []
    failures: dict[str, int] = {}
    fail_path = Path(f"{prefix}_failures.csv")
    if fail_path.exists():
        with open(fail_path) as fh:
            for r in csv.DictReader(fh):
                if TIMEOUT_PATTERN.search(r["Error"]):
                    failures[r["Name"]] = failures.get(r["Name"], 0) + int(r["Occurrences"])
    with open(f"{prefix}_stats.csv") as fh:
        for r in csv.DictReader(fh):
            if r["Name"] in ("Aggregated", "/jobs/[id]", "/jobs/explain"):
                continue
            count = int(r["Request Count"])
            rows.append(
                {
                    "endpoint": r["Name"],
                    "requests": count,
                    "rps": round(float(r["Requests/s"]), 2),
                    "p50_ms": float(r["50%"]) if count else float("nan"),
                    "p95_ms": float(r["95%"]) if count else float("nan"),
                    "p99_ms": float(r["99%"]) if count else float("nan"),
                    "error_pct": round(100.0 * int(r["Failure Count"]) / count, 1) if count else 0,
                    "timeouts": failures.get(r["Name"], 0),
                }
            )
    return rows


def run_config(cfg: Config, args: argparse.Namespace, workdir: Path) -> list[dict]:
    here = workdir / cfg.name.replace(":", "_")
    here.mkdir(parents=True)
    procs = []
    try:
        redis_port = free_port()
        env = {"LAB2_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", **cfg.env}
        if cfg.celery:
            procs.append(start_redis(redis_port, here / "redis"))
            procs.append(start_worker(env, here / "worker.log", concurrency=1, nice=10))
        port = free_port()
        procs.append(start_gunicorn(env, port, here / "gunicorn.log"))
        base = f"http://127.0.0.1:{port}"
        meter = ProcessMeter(*(p.pid for p in procs))
        cpu_before = meter.cpu_seconds()
        locust(base, cfg.users, args.seconds, here / "locust", args.light, args.heavy)
        rows = [{"config": cfg.name, **row} for row in read_stats(here / "locust")]
        # Server CPU (gunicorn, and Celery + Redis when used) over every request answered.
        cost = meter.cost_of(cpu_before, sum(r["requests"] for r in rows))
        return [{**row, **cost} for row in rows]
    finally:
        for proc in reversed(procs):
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="load per configuration")
    parser.add_argument("--light", type=int, default=4, help="light /predict users")
    parser.add_argument("--heavy", type=int, default=4, help="heavy users (2 per core here)")
    parser.add_argument("--only", default="", help="comma-separated config names")
    args = parser.parse_args(argv)
    chosen = [c for c in CONFIGS if not args.only or c.name in args.only.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="lab2-diagnose-"))
    print(f"{len(chosen)} configurations x {args.seconds}s of load; logs in {workdir}", flush=True)
    rows = []
    for cfg in chosen:
        print(f"- {cfg.name}: {cfg.what}", flush=True)
        rows.extend(run_config(cfg, args, workdir))
    table = print_table(rows, f"Lab 2 diagnosis ({args.seconds}s per configuration)")

    def p95(config: str, endpoint: str = "/predict") -> float | None:
        for r in rows:
            if r["config"] == config and r["endpoint"] == endpoint:
                return r["p95_ms"]
        return None

    summary = {}
    for base in ("sync-4", "gthread-2x4"):
        with_offload, without = p95(f"{base}+celery"), p95(base)
        if with_offload and without:
            ratio = with_offload / without
            summary[f"light_p95_ratio_{base}"] = round(ratio, 3)
            print(
                f"light /predict p95, {base} with Celery offload / without: "
                f"{with_offload:.0f} ms / {without:.0f} ms = {ratio:.3f} (goal <= 0.2)"
            )
    out = artifacts_root() / "bench"
    report = write_report(
        out / "lab2_diagnose.json",
        {
            "seconds_per_config": args.seconds,
            "users": {"light": args.light, "heavy": args.heavy},
            "cpus": cpu_count(),
            "configs": {c.name: c.what for c in chosen},
            "rows": rows,
            "summary": summary,
            "table": table,
            "modes": light_modes(rows, args.light),
        },
    )
    names = list(dict.fromkeys(r["config"] for r in rows))

    def value(config: str, key: str, light: bool) -> float:
        """The light (/predict) or heavy (/explain, job) row's ``key`` for one config."""
        found = (
            r[key] for r in rows if r["config"] == config and (r["endpoint"] == "/predict") == light
        )
        return float(next(found, float("nan")) or float("nan"))

    # One panel per quantity: (title, unit, row key, light endpoint?, log axis).
    shown = [
        ("light /predict p95", "ms (log)", "p95_ms", True, True),
        ("heavy path p95 (/explain or job)", "ms (log)", "p95_ms", False, True),
        ("light /predict throughput", "requests/s", "rps", True, False),
    ]
    panels = []
    for title, unit, key, light, log in shown:
        values = [value(n, key, light) for n in names]
        if any(v > 0 for v in values):  # NaN compares False: a quantity no config measured
            panels.append(Panel(title, unit, names, {key: values}, log=log))
    plot = plot_panels(
        out / "lab2_diagnose.png",
        panels,
        "Lab 2: the light endpoint under heavy traffic, per configuration",
        caption=f"{args.light} light + {args.heavy} heavy Locust users, {args.seconds} s each; "
        + machine_caption(),
    )
    print(f"wrote {report} and {plot}")
    return 0


def light_modes(rows: list[dict], light: int) -> list[dict]:
    """The light /predict row of each working configuration, as ``make report`` reads them
    (the deliberately broken variants are diagnosis exercises, not serving modes)."""
    return [
        mode_row(
            f"Flask {r['config']} (light /predict, heavy load beside)",
            r["rps"],
            concurrency=light,
            **{k: r[k] for k in ("p50_ms", "p95_ms", "p99_ms", "cpu_s_per_1k", "peak_rss_mb")},
        )
        for r in rows
        if r["endpoint"] == "/predict" and not r["config"].startswith("broken:")
    ]


if __name__ == "__main__":
    sys.exit(main())
