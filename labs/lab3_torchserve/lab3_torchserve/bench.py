"""``make bench-3``: server-side batching and worker scale-out under 16 concurrent clients.

One TorchServe. The digits CNN is registered four ways (batch_size 1 or 8, 1 or 2 workers),
then the support_intent transformer twice (batch_size 1 and 8, 1 worker). For each: warm up,
run a bounded load, and read the batch sizes TorchServe actually formed from the handler's
batch-size histogram (delta of _sum/_count on /metrics).
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
from course_models.bench import (
    Panel,
    ProcessMeter,
    mode_from_load,
    plot_panels,
    print_table,
    run_load,
    write_report,
)
from course_models.datasets import load_digits_split
from course_models.text_data import INTENTS, support_splits
from lab3_torchserve.client import ManagementClient, fetch_metrics, metric_total
from lab3_torchserve.package import MODEL_NAME, TEXT_MODEL, build_mar, build_text_mar, mar_name
from lab3_torchserve.server import TorchServe

# (model, batch_size, workers)
SCENARIOS = [
    (MODEL_NAME, 1, 1), (MODEL_NAME, 8, 1), (MODEL_NAME, 1, 2), (MODEL_NAME, 8, 2),
    (TEXT_MODEL, 1, 1), (TEXT_MODEL, 8, 1),
]  # fmt: skip
HEADERS = {"Content-Type": "application/json"}
BATCH_METRIC = {MODEL_NAME: "DigitsBatchSize", TEXT_MODEL: "TextBatchSize"}


def batch_stats(metrics_url: str, model: str) -> tuple[float, float, float]:
    """(sum, count, batches of size <= 1) of the model's batch-size histogram."""
    text = fetch_metrics(metrics_url)
    name = BATCH_METRIC[model]
    return (
        metric_total(text, f"{name}_sum"),
        metric_total(text, f"{name}_count"),
        metric_total(text, f"{name}_bucket", le="1.0"),
    )


def workload(model: str) -> tuple[list[bytes], list[str]]:
    """Request bodies and the label each should get: held-out digits, or held-out messages."""
    if model == TEXT_MODEL:
        texts, labels = support_splits(42).test
        return [json.dumps({"text": t}).encode() for t in texts], [INTENTS[y] for y in labels]
    _, x_test, _, y_test = load_digits_split()
    return [json.dumps(x.ravel().round(4).tolist()).encode() for x in x_test], [
        str(y) for y in y_test
    ]


class Caller:
    """``call(i)`` for run_load: one keep-alive http.client connection per thread.

    The load generator shares the 2 cores with TorchServe; http.client costs a fraction of
    httpx's CPU per request, so the server, not the client, is what saturates.
    """

    def __init__(self, host: str, port: int, model: str):
        self.host, self.port, self.path = host, port, f"/predictions/{model}"
        payloads, labels = workload(model)
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
            conn.request("POST", self.path, body=self.payloads[k], headers=HEADERS)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            return False
        if response.status != 200:
            return False
        # A wrong label is the model's error, not the server's: counted, not an error.
        if json.loads(body)["label"] != self.labels[k]:
            with self.lock:
                self.wrong += 1
        return True


def run(
    concurrency: int, seconds: float, max_batch_delay_ms: int, store: Path, warmup: int = 100
) -> tuple[list[dict], list[dict]]:
    """(result rows, the same runs as ``make report``'s mode rows)."""
    rows, modes = [], []
    with TorchServe(store, workdir=store / "server") as server:
        assert server.proc is not None
        meter = ProcessMeter(server.proc.pid)  # the Java frontend and its Python workers
        mgmt = ManagementClient(server.management_url)
        for model, batch_size, workers in SCENARIOS:
            mar = mar_name(1, model)
            mgmt.register(mar, model, batch_size, max_batch_delay_ms, initial_workers=workers)
            call = Caller(server.host, server.inference_port, model)
            run_load(call, concurrency, requests=warmup)
            before = batch_stats(server.metrics_url, model)
            call.wrong = 0
            label = f"{model} batch {batch_size}, {workers} worker{'s' if workers > 1 else ''}"
            result = run_load(call, concurrency, label=label, duration=seconds, meter=meter)
            after = batch_stats(server.metrics_url, model)
            d_sum, d_count, d_single = (a - b for a, b in zip(after, before, strict=True))
            result.extra = {
                "model": model,
                "batch_size": batch_size,
                "workers": workers,
                "batches": int(d_count),
                "mean_batch": round(d_sum / d_count, 2) if d_count else 0.0,
                "single_pct": round(100.0 * d_single / d_count, 1) if d_count else 0.0,
                "accuracy": round(1.0 - call.wrong / max(1, result.requests - result.errors), 3),
            }
            rows.append(result.summary())
            modes.append(mode_from_load(result, f"TorchServe {label}"))
            mgmt.unregister(model)
    return rows, modes


def ratios_of(rows: list[dict]) -> dict[str, float]:
    by = {(r["model"], r["batch_size"], r["workers"]): r["rps"] for r in rows}
    d, t = MODEL_NAME, TEXT_MODEL
    return {
        "transformer_batch8_vs_batch1": round(by[t, 8, 1] / by[t, 1, 1], 2),
        "cnn_batch8_vs_batch1_1worker": round(by[d, 8, 1] / by[d, 1, 1], 2),
        "cnn_batch8_vs_batch1_2workers": round(by[d, 8, 2] / by[d, 1, 2], 2),
        "cnn_2workers_vs_1worker_batch1": round(by[d, 1, 2] / by[d, 1, 1], 2),
        "cnn_2workers_vs_1worker_batch8": round(by[d, 8, 2] / by[d, 8, 1], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--max-batch-delay", type=int, default=10, help="ms")
    parser.add_argument("--out", type=Path, default=artifacts_root() / "bench" / "lab3_torchserve")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lab3-bench-store-") as store:
        build_mar(1, store)
        build_text_mar(1, store)
        rows, modes = run(args.concurrency, args.seconds, args.max_batch_delay, Path(store))
    ratios = ratios_of(rows)
    columns = ["label", "rps", "p50_ms", "p95_ms", "mean_batch", "single_pct", "errors"]
    print_table([{c: r[c] for c in columns} for r in rows], "Lab 3 — TorchServe batching")
    print("\nratios: " + ", ".join(f"{k}={v}" for k, v in ratios.items()))
    goal = ratios["transformer_batch8_vs_batch1"] >= 2.5
    print(f"goal transformer batch 8 >= 2.5x batch 1 throughput: {'met' if goal else 'NOT met'}")
    write_report(
        args.out.with_suffix(".json"),
        {
            "benchmark": "lab3_torchserve",
            "concurrency": args.concurrency,
            "seconds_per_scenario": args.seconds,
            "max_batch_delay_ms": args.max_batch_delay,
            "results": rows,
            "ratios": ratios,
            "goal_transformer_batch8_2_5x_met": goal,
            "modes": modes,
        },
    )
    panels = []
    for model in (TEXT_MODEL, MODEL_NAME):
        mine = [r for r in rows if r["model"] == model]
        groups = [f"batch {r['batch_size']}, {r['workers']}w" for r in mine]
        panels += [
            Panel(f"{model}: throughput", "requests/s", groups, {"rps": [r["rps"] for r in mine]}),
            Panel(f"{model}: p95 latency", "ms", groups, {"p95": [r["p95_ms"] for r in mine]}),
        ]
    plot_panels(
        args.out.with_suffix(".png"),
        panels,
        title=f"TorchServe batching, {args.concurrency} concurrent clients",
    )
    print(f"wrote {args.out.with_suffix('.json')} and .png")


if __name__ == "__main__":
    main()
