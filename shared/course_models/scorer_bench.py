"""In-process p50/p99 of the churn scorer, pipeline vs compiled: no server, no HTTP.

``python -m course_models.scorer_bench`` prints the figures lab 1's README quotes as the
model's own cost.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from course_models.artifacts import load_artifact
from course_models.scoring import ChurnScorer, reference_records


def bench(repeats: int = 2000, root: str | None = None) -> list[dict[str, Any]]:
    """p50/p99 in-process latency of pipeline vs fast, 1 and 32 records, v1 and v2."""
    rows = []
    for version in (1, 2):
        loaded = load_artifact("churn", version, root)
        sample = reference_records(version, 64)
        for batch in (1, 32):
            records = sample[:batch]
            for mode in ("pipeline", "fast"):
                scorer = ChurnScorer.from_artifact(loaded, mode)
                n = repeats if mode == "fast" else max(repeats // 10, 50)
                for _ in range(min(n, 50)):
                    scorer.score_records(records)
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    scorer.score_records(records)
                    times.append(time.perf_counter() - t0)
                ms = np.asarray(times) * 1e3
                rows.append(
                    {
                        "version": version,
                        "records": batch,
                        "mode": mode,
                        "p50_ms": round(float(np.percentile(ms, 50)), 4),
                        "p99_ms": round(float(np.percentile(ms, 99)), 4),
                        "runs": n,
                    }
                )
    return rows


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_models.scorer_bench", description=__doc__
    )
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--artifacts", default=None)
    args = parser.parse_args(argv)
    rows = bench(args.repeats, args.artifacts)
    print(f"In-process churn scoring on {os.cpu_count()} CPUs (p50 / p99 ms)\n")
    print("| version | records | pipeline p50 | fast p50 | fast p99 | speed-up |")
    print("|---|---|---|---|---|---|")
    for version in (1, 2):
        for batch in (1, 32):
            pick = {r["mode"]: r for r in rows if r["version"] == version and r["records"] == batch}
            slow, fast = pick["pipeline"], pick["fast"]
            print(
                f"| v{version} | {batch} | {slow['p50_ms']:.3f} | {fast['p50_ms']:.3f} | "
                f"{fast['p99_ms']:.3f} | {slow['p50_ms'] / fast['p50_ms']:,.0f}× |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
