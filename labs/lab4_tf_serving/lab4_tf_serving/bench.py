"""``make bench-4``: REST vs gRPC latency, one digit up to a ~1 MB tensor, one request at a time.

Each timed call includes the client's own encoding and decoding (JSON text vs a TensorProto),
because that cost is part of what a client pays for choosing the protocol. The server is the
stand-in unless LAB4_URL and LAB4_GRPC_ADDR point at a running TF Serving.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import httpx
import numpy as np

from course_models import bench, procs
from course_models.artifacts import artifacts_root
from lab4_tf_serving.client import GrpcClient
from lab4_tf_serving.settings import Settings

SIZES = [1, 16, 256, 4096]  # images of 8x8 float32: 256 B ... 1 MiB
REQUESTS = {1: 300, 16: 300, 256: 150, 4096: 40}


def _server(tmp: Path):
    from lab4_tf_serving.launcher import standin_cmd

    s = Settings()
    if not (s.models_dir / "digits").is_dir():
        from lab4_tf_serving.export import export_all

        export_all(s.models_dir)
    rest, grpc_port = procs.free_port(), procs.free_port()
    proc = procs.start(standin_cmd(s, rest, grpc_port), log=tmp / "server.log")
    procs.wait_http(f"http://{s.host}:{rest}/v1/models/digits", timeout=120, proc=proc)
    return proc, f"http://{s.host}:{rest}", f"{s.host}:{grpc_port}"


def measure(
    rest_url: str, grpc_addr: str, quick: bool = False, meter: bench.ProcessMeter | None = None
) -> tuple[list[dict], list[dict]]:
    """(one row per tensor size, and each protocol and size as ``make report``'s mode rows)."""
    rng = np.random.default_rng(0)
    http = httpx.Client(base_url=rest_url, timeout=120)
    rpc = GrpcClient(grpc_addr, timeout=120)
    url = "/v1/models/digits/versions/2:predict"
    rows, modes = [], []
    try:
        for n in SIZES:
            x = rng.random((n, 8, 8), dtype=np.float32)
            count = max(10, REQUESTS[n] // (5 if quick else 1))
            json_bytes = len(json.dumps({"instances": x.tolist()}))

            def rest_call(_i: int, x=x) -> bool:
                r = http.post(url, content=json.dumps({"instances": x.tolist()}),
                              headers={"Content-Type": "application/json"})  # fmt: skip
                return r.status_code == 200 and len(np.asarray(r.json()["predictions"])) == len(x)

            def grpc_call(_i: int, x=x) -> bool:
                out = rpc.predict("digits", {"image": x}, version=2)["probabilities"]
                return out.shape == (len(x), 10)

            results = {}
            for label, call in (("REST", rest_call), ("gRPC", grpc_call)):
                results[label] = r = bench.run_load(
                    call, 1, requests=count, warmup=5, label=f"{label} n={n}", meter=meter
                )
                modes.append(_mode(r, f"TF Serving {label}, {n} image{'s' * (n > 1)}", n))
            rest_r, grpc_r = results["REST"], results["gRPC"]
            rows.append(
                {
                    "images": n,
                    "tensor_bytes": x.nbytes,
                    "json_bytes": json_bytes,
                    "requests": count,
                    "rest_p50_ms": round(rest_r.pct(50), 2),
                    "rest_p95_ms": round(rest_r.pct(95), 2),
                    "grpc_p50_ms": round(grpc_r.pct(50), 2),
                    "grpc_p95_ms": round(grpc_r.pct(95), 2),
                    "grpc_over_rest_p50": round(grpc_r.pct(50) / rest_r.pct(50), 3),
                    "errors": rest_r.errors + grpc_r.errors,
                }
            )
    finally:
        http.close()
        rpc.close()
    return rows, modes


def _mode(result: bench.LoadResult, name: str, images: int) -> dict:
    """Per prediction (one image), not per request: a request here carries ``images`` rows."""
    row = bench.mode_from_load(result, name, predictions_per_request=images)
    row["rps"] = round(result.rps * images, 1)
    if "cpu_s_per_1k" in row:
        row["cpu_s_per_1k"] = round(row["cpu_s_per_1k"] / images, 5)
    return row


def main(quick: bool = False) -> int:
    settings = Settings()
    rest_url, grpc_addr = settings.url, settings.grpc_addr
    target = "TF Serving at " + str(rest_url) if rest_url and grpc_addr else "lab 4 stand-in"
    from lab4_tf_serving.launcher import exit_on_sigterm

    exit_on_sigterm()
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        if not (rest_url and grpc_addr):
            proc, rest_url, grpc_addr = _server(Path(tmp))
        try:
            meter = bench.ProcessMeter(proc.pid) if proc is not None else None
            rows, modes = measure(rest_url, grpc_addr, quick, meter)
        finally:
            if proc is not None:
                procs.stop(proc)
    bench.print_table(rows, f"Lab 4 — REST vs gRPC, sequential requests ({target})")
    big = rows[-1]
    goal = big["grpc_over_rest_p50"] <= 0.6
    print(
        f"\n1 MiB tensor: gRPC p50 = {big['grpc_over_rest_p50']:.2f} x REST p50 "
        f"(goal <= 0.6: {'met' if goal else 'NOT met'})"
    )
    out = artifacts_root() / "bench"
    bench.write_report(
        out / "lab4.json", {"target": target, "rows": rows, "goal_met": goal, "modes": modes}
    )
    bench.bar_plot(
        out / "lab4.png",
        [f"{r['images']} img\n{r['tensor_bytes'] // 1024 or r['tensor_bytes']}"
         f"{' KiB' if r['tensor_bytes'] >= 1024 else ' B'}" for r in rows],
        {
            "REST p50": [r["rest_p50_ms"] for r in rows],
            "gRPC p50": [r["grpc_p50_ms"] for r in rows],
        },
        ylabel="ms (log)",
        title=f"Lab 4: REST vs gRPC latency ({target})",
        log=True,
    )  # fmt: skip
    print(f"wrote {out / 'lab4.json'} and {out / 'lab4.png'}")
    return 0
