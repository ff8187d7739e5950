"""``make bench-3``: server-side batching and worker scale-out under 16 concurrent clients.

One TorchServe, the same archive registered four ways (batch_size 1 or 8, 1 or 2 workers).
For each: warm up, run a bounded load, and read the batch sizes TorchServe actually formed
from the handler's ``DigitsBatchSize`` histogram (delta of _sum/_count on /metrics).
Writes artifacts/bench/lab3_torchserve.json and .png and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
from pathlib import Path

from course_models.artifacts import artifacts_root
from course_models.bench import bar_plot, print_table, run_load, write_report
from course_models.datasets import load_digits_split
from lab3_torchserve.client import ManagementClient, fetch_metrics, metric_total
from lab3_torchserve.package import MODEL_NAME, build_mar, mar_name
from lab3_torchserve.server import TorchServe

SCENARIOS = [(1, 1), (8, 1), (1, 2), (8, 2)]  # (batch_size, workers)
PATH = f"/predictions/{MODEL_NAME}"
HEADERS = {"Content-Type": "application/json"}


def batch_stats(metrics_url: str) -> tuple[float, float, float]:
    """(sum, count, batches of size <= 1) of the DigitsBatchSize histogram."""
    text = fetch_metrics(metrics_url)
    return (
        metric_total(text, "DigitsBatchSize_sum"),
        metric_total(text, "DigitsBatchSize_count"),
        metric_total(text, "DigitsBatchSize_bucket", le="1.0"),
    )


class Caller:
    """``call(i)`` for run_load: one keep-alive http.client connection per thread.

    The load generator shares the 2 cores with TorchServe; http.client costs a fraction of
    httpx's CPU per request, so the server, not the client, is what saturates.
    """

    def __init__(self, host: str, port: int, payloads: list[bytes], labels: list[str]):
        self.host, self.port = host, port
        self.payloads, self.labels = payloads, labels
        self.local = threading.local()
        self.lock = threading.Lock()
        self.wrong = 0

    def __call__(self, i: int) -> bool:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        k = i % len(self.payloads)
        try:
            conn.request("POST", PATH, body=self.payloads[k], headers=HEADERS)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            return False
        if response.status != 200:
            return False
        # A wrong digit is the model's error, not the server's: counted, not an error.
        if json.loads(body)["label"] != self.labels[k]:
            with self.lock:
                self.wrong += 1
        return True


def run(
    concurrency: int, seconds: float, max_batch_delay_ms: int, store: Path, warmup: int = 100
) -> list[dict]:
    _, x_test, _, y_test = load_digits_split()
    payloads = [json.dumps(x.ravel().round(4).tolist()).encode() for x in x_test]
    labels = [str(y) for y in y_test]
    rows = []
    with TorchServe(store, workdir=store / "server") as server:
        mgmt = ManagementClient(server.management_url)
        call = Caller(server.host, server.inference_port, payloads, labels)

        for batch_size, workers in SCENARIOS:
            mgmt.register(
                mar_name(1),
                MODEL_NAME,
                batch_size=batch_size,
                max_batch_delay_ms=max_batch_delay_ms,
                initial_workers=workers,
            )
            run_load(call, concurrency, requests=warmup)
            before = batch_stats(server.metrics_url)
            call.wrong = 0
            label = f"batch {batch_size}, {workers} worker{'s' if workers > 1 else ''}"
            result = run_load(call, concurrency, label=label, duration=seconds)
            after = batch_stats(server.metrics_url)
            d_sum, d_count, d_single = (a - b for a, b in zip(after, before, strict=True))
            result.extra = {
                "batch_size": batch_size,
                "workers": workers,
                "batches": int(d_count),
                "mean_batch": round(d_sum / d_count, 2) if d_count else 0.0,
                "single_pct": round(100.0 * d_single / d_count, 1) if d_count else 0.0,
                "accuracy": round(1.0 - call.wrong / max(1, result.requests - result.errors), 3),
            }
            rows.append(result.summary())
            mgmt.unregister(MODEL_NAME)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--max-batch-delay", type=int, default=10, help="ms")
    parser.add_argument("--out", type=Path, default=artifacts_root() / "bench" / "lab3_torchserve")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lab3-bench-store-") as store:
        build_mar(1, store)
        rows = run(args.concurrency, args.seconds, args.max_batch_delay, Path(store))
    by = {(r["batch_size"], r["workers"]): r for r in rows}
    ratios = {
        "batch8_vs_batch1_1worker": round(by[8, 1]["rps"] / by[1, 1]["rps"], 2),
        "batch8_vs_batch1_2workers": round(by[8, 2]["rps"] / by[1, 2]["rps"], 2),
        "2workers_vs_1worker_batch1": round(by[1, 2]["rps"] / by[1, 1]["rps"], 2),
        "2workers_vs_1worker_batch8": round(by[8, 2]["rps"] / by[8, 1]["rps"], 2),
    }
    columns = ["label", "rps", "p50_ms", "p95_ms", "mean_batch", "single_pct", "errors"]
    print_table([{c: r[c] for c in columns} for r in rows], "Lab 3 — TorchServe batching")
    print("\nratios: " + ", ".join(f"{k}={v}" for k, v in ratios.items()))
    goal = ratios["batch8_vs_batch1_1worker"] >= 2.0
    print(f"goal batch 8 >= 2x batch 1 throughput (1 worker): {'met' if goal else 'NOT met'}")
    write_report(
        args.out.with_suffix(".json"),
        {
            "benchmark": "lab3_torchserve",
            "concurrency": args.concurrency,
            "seconds_per_scenario": args.seconds,
            "max_batch_delay_ms": args.max_batch_delay,
            "results": rows,
            "ratios": ratios,
            "goal_batch8_2x_met": goal,
        },
    )
    bar_plot(
        args.out.with_suffix(".png"),
        [r["label"] for r in rows],
        {"requests/s": [r["rps"] for r in rows], "p95 ms": [r["p95_ms"] for r in rows]},
        ylabel="requests/s  |  ms (log scale)",
        title=f"TorchServe digits CNN, {args.concurrency} concurrent clients",
        log=True,
    )
    print(f"wrote {args.out.with_suffix('.json')} and .png")


if __name__ == "__main__":
    main()
