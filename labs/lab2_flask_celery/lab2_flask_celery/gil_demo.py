"""The GIL on this machine: the same work run serially, on N threads and on N processes.

    python -m lab2_flask_celery.gil_demo [--jobs N]

Three kinds of work, N jobs each (N = number of cores by default):
- explain: the /explain computation, pure Python -> threads give ~1x, processes ~N x.
- xgboost: a large batch through XGBoost's C++ predict, which releases the GIL while it
  runs -> threads help here too (native code is the exception, not the rule).
- sleep:   EXPLICITLY an I/O stand-in (time.sleep releases the GIL like a socket wait);
  it is not compute, and that is exactly why threads "scale" it perfectly.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from course_models.artifacts import artifacts_root
from course_models.bench import cpu_count, print_table, write_report
from course_models.datasets import make_churn
from course_models.tabular import example_record
from lab2_flask_celery.model import get_model

PERMUTATIONS = 48


def explain_job(_: int) -> float:
    return get_model().explain(example_record(2), PERMUTATIONS).prediction


_BATCH = None


def xgboost_job(_: int) -> float:
    global _BATCH
    model = get_model()
    if _BATCH is None:
        _BATCH = make_churn(100_000, seed=3)
    booster = model.artifact.model
    return float(booster.predict_proba(_BATCH)[:, 1].mean())


def sleep_job(_: int) -> float:
    time.sleep(1.0)  # I/O-bound contrast only: waiting, not computing
    return 0.0


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=cpu_count())
    args = parser.parse_args(argv)
    n = max(2, args.jobs)
    get_model()  # loaded before forking: every process starts with it
    xgboost_job(0)  # warm the batch too
    rows = []
    # fork (the Linux default here) shares the loaded model with the children.
    with ProcessPoolExecutor(n) as procs, ThreadPoolExecutor(n) as threads:
        list(procs.map(explain_job, range(n)))  # warm-up: each child builds its caches
        for name, job in (("explain", explain_job), ("xgboost", xgboost_job), ("sleep", sleep_job)):
            serial = timed(lambda job=job: [job(i) for i in range(n)])
            threaded = timed(lambda job=job: list(threads.map(job, range(n))))
            forked = timed(lambda job=job: list(procs.map(job, range(n))))
            rows.append(
                {
                    "work": name,
                    "jobs": n,
                    "serial_s": round(serial, 2),
                    "threads_s": round(threaded, 2),
                    "processes_s": round(forked, 2),
                    "thread_speedup": round(serial / threaded, 2),
                    "process_speedup": round(serial / forked, 2),
                }
            )
            print(f"  {name}: done", flush=True)
    table = print_table(rows, f"GIL demo: {n} jobs on {cpu_count()} cores")
    report = write_report(
        artifacts_root() / "bench" / "lab2_gil.json", {"rows": rows, "table": table}
    )
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
