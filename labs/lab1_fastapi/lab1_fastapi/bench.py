"""``make bench-1``: what serving costs, and what the execution variant and worker count buy.

Everything is measured in one run on this machine, against real uvicorn processes on
loopback, so the ratios are comparable even where the absolute numbers are not:

1. overhead: served p50/p95 at concurrency 1 minus the in-process model call;
2. throughput of the blocking / threadpool / micro-batched variants at concurrency 1, 8, 32;
3. /health latency while predict is under load, per variant (the blocking one stalls it);
4. uvicorn --workers 1 vs 2;
5. scoring: the sklearn pipeline vs the compiled fast scorer, in-process (one record) and served
   (threadpool and batched at c=1 and c=32), against a no-op endpoint on the same stack (the
   ceiling: parsing, validation and response building without the model).

The load generator is this process (threads, one keep-alive raw-socket connection each);
it shares the 2 cores with the server, which is part of what the numbers show.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

from course_models import procs
from course_models.artifacts import artifacts_root, load_artifact
from course_models.bench import (
    LoadResult,
    Panel,
    ProcessMeter,
    mode_from_load,
    plot_panels,
    print_table,
    run_load,
    write_report,
)
from course_models.tabular import example_record
from lab1_fastapi import server as lab_server
from lab1_fastapi.model import ModelRegistry, build_scorer
from lab1_fastapi.settings import PREDICT_MODES, SCORING_MODES, Settings

VERSION = 2
BODY = json.dumps(example_record(VERSION)).encode()
HEADERS = {"content-type": "application/json"}


@contextmanager
def server(log_dir: Path, **overrides: object) -> Iterator[tuple[str, ProcessMeter]]:
    """A real uvicorn started with the lab's own command line (``server.command``), and a
    meter of its processes' CPU and memory."""
    settings = Settings(
        _env_file=None,
        artifacts_dir=artifacts_root(),
        access_log=False,
        log_level="warning",
        noop_endpoint=True,
        **overrides,
    )
    argv, env = lab_server.command(settings, procs.free_port())
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAB1_")}
    tag = "-".join(f"{k}{v}" for k, v in sorted(overrides.items())) or "default"
    log = log_dir / f"lab1-uvicorn-{tag}.log"
    with procs.running(argv, env={**clean, **env}, log=log) as proc:
        url = f"http://127.0.0.1:{env['LAB1_PORT']}"
        try:
            procs.wait_http(f"{url}/ready", timeout=120, proc=proc)
        except Exception:
            print(procs.tail(log), file=sys.stderr)
            raise
        yield url, ProcessMeter(proc.pid)


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


class Conn:
    """One keep-alive HTTP/1.1 connection on a raw socket, the way ``wrk`` drives a server.

    The load generator shares the 2 cores with the server, so its own cost per request shows up
    as "serving overhead". Requests are encoded once and answers are read by Content-Length
    (every answer of this server carries one), which costs about half the client CPU of the
    stdlib ``http.client`` and a quarter of ``httpx``'s; ``paired_overheads`` measures all
    three on the same route so the client's share is visible (``--client`` rows).
    """

    def __init__(self, url: str):
        self.address = _address(url)
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.requests: dict[tuple[str, str], bytes] = {}

    def _request(self, method: str, path: str) -> bytes:
        key = (method, path)
        if key not in self.requests:
            head = f"{method} {path} HTTP/1.1\r\nHost: {self.address[0]}\r\n"
            body = BODY if method == "POST" else b""
            if body:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            self.requests[key] = f"{head}\r\n".encode() + body
        return self.requests[key]

    def _read_until(self, done: Callable[[bytes], bool]) -> None:
        while not done(self.buffer):
            assert self.sock is not None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buffer += chunk

    def send(self, method: str, path: str) -> tuple[int, list[str]]:
        """(status, Server-Timing values) of one request; reconnects after any error."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            self.sock.sendall(self._request(method, path))
            self._read_until(lambda b: b"\r\n\r\n" in b)
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            status_line, *lines = head.decode("latin-1").split("\r\n")
            fields = [line.partition(":") for line in lines]
            length = next(int(v) for k, _, v in fields if k.strip().lower() == "content-length")
            timing = [v.strip() for k, _, v in fields if k.strip().lower() == "server-timing"]
            self._read_until(lambda b: len(b) >= length)
            self.buffer = self.buffer[length:]
            return int(status_line.split()[1]), timing
        except (OSError, ValueError, StopIteration):
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


def caller(url: str, path: str, method: str = "POST") -> Callable[[int], bool]:
    """call(i) -> ok, with one keep-alive connection per load thread."""
    local = threading.local()

    def call(_: int) -> bool:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = Conn(url)
        return conn.send(method, path)[0] == 200

    return call


Send = Callable[[str, str], tuple[int, list[str]]]


def httpx_send(client: httpx.Client) -> Send:
    def send(method: str, path: str) -> tuple[int, list[str]]:
        body = BODY if method == "POST" else None
        r = client.request(method, path, content=body, headers=HEADERS)
        return r.status_code, r.headers.get_list("server-timing")

    return send


def stdlib_send(url: str) -> Send:
    """The stdlib ``http.client`` on one keep-alive connection: the middle of the three."""
    conn = http.client.HTTPConnection(*_address(url), timeout=30)

    def send(method: str, path: str) -> tuple[int, list[str]]:
        conn.request(method, path, body=BODY if method == "POST" else None, headers=HEADERS)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.headers.get_all("server-timing") or []

    return send


CLIENTS = ("raw", "http.client", "httpx")
OVERHEAD_ROUTES = ("/v2/churn/predict", "/lab/blocking/predict", "/lab/batched/predict")


Samples = dict[str, list[float]]


def _sender(client: str, url: str, hx: httpx.Client) -> Send:
    if client == "raw":
        return Conn(url).send
    return stdlib_send(url) if client == "http.client" else httpx_send(hx)


def _pairs(score: Callable[[], object], send: Send, path: str, n: int, into: Samples) -> None:
    """``n`` pairs of (one in-process model call, one served request), appended to ``into``."""
    for _ in range(n):
        t0 = time.perf_counter()
        score()
        t1 = time.perf_counter()
        status, timing_headers = send("POST", path)
        t2 = time.perf_counter()
        assert status == 200, status
        timing = _server_timing(timing_headers)
        into["local"].append((t1 - t0) * 1000)
        into["served"].append((t2 - t1) * 1000)
        into["app"].append(timing["app"])
        into["model"].append(timing.get("model", timing.get("batch", float("nan"))))


def paired_overheads(
    url: str,
    keys: list[tuple[str, str]],
    n: int,
    scoring: str = "fast",
    rounds: int = 5,
    warmup: int = 100,
) -> list[dict]:
    """In-process model call and served request, interleaved so both see the same machine load.

    Shared machines drift (other jobs come and go), and a server that just started is slower
    for its first few hundred requests; so every (route, client) pair of ``keys`` is warmed up,
    then measured in ``rounds`` slices taken in turn, and each row is the median of ``n``
    pairs. The server's ``Server-Timing`` header splits the served time into model, framework
    and network + client.
    """
    registry = ModelRegistry("churn", [VERSION], scoring=scoring)
    registry.load()
    record = [example_record(VERSION)]

    def score() -> object:
        return registry.predict(VERSION, record)

    samples: dict[tuple[str, str], Samples] = {
        key: {k: [] for k in ("local", "served", "app", "model")} for key in keys
    }
    with httpx.Client(base_url=url, timeout=30.0) as hx:
        senders = {key: _sender(key[1], url, hx) for key in keys}
        for key in keys:
            _pairs(score, senders[key], key[0], warmup, {k: [] for k in samples[key]})
        for _ in range(rounds):
            for key in keys:
                _pairs(score, senders[key], key[0], max(n // rounds, 1), samples[key])
    return [
        _overhead_row(route, client, scoring, samples[(route, client)]) for route, client in keys
    ]


def _overhead_row(route: str, client: str, scoring: str, samples: Samples) -> dict:
    c = {k: np.asarray(v) for k, v in samples.items()}

    def med(values: np.ndarray) -> float:
        return round(float(np.median(values)), 3)

    return {
        "route": route,
        "client": client,
        "scoring": scoring,
        "in_process_p50_ms": med(c["local"]),
        "in_process_p95_ms": round(float(np.percentile(c["local"], 95)), 3),
        "served_p50_ms": med(c["served"]),
        "served_p95_ms": round(float(np.percentile(c["served"], 95)), 3),
        "overhead_p50_ms": round(med(c["served"]) - med(c["local"]), 3),
        "overhead_p95_ms": round(
            float(np.percentile(c["served"], 95) - np.percentile(c["local"], 95)), 3
        ),
        "server_model_p50_ms": med(c["model"]),
        "framework_p50_ms": med(c["app"] - c["model"]),
        "network_client_p50_ms": med(c["served"] - c["app"]),
    }


def _server_timing(values: list[str]) -> dict[str, float]:
    out = {}
    for value in values:
        for metric in value.split(","):
            name, _, dur = metric.strip().partition(";dur=")
            if dur:
                out[name] = float(dur)
    return out


def under_load(
    url: str, mode: str, seconds: float, concurrency: int
) -> tuple[LoadResult, LoadResult]:
    """Predict load on one variant while a single client keeps probing /health."""
    box: dict[str, LoadResult] = {}
    loader = threading.Thread(
        target=lambda: box.setdefault(
            "load",
            run_load(caller(url, f"/lab/{mode}/predict"), concurrency, duration=seconds),
        )
    )
    loader.start()
    time.sleep(0.5)  # let the load ramp up first
    health = run_load(caller(url, "/health", "GET"), 1, label=mode, duration=seconds - 1.0)
    loader.join()
    return box["load"], health


def in_process_scoring(n: int = 2000) -> list[dict]:
    """p50/p95 of scoring ONE record in this process, per version and scoring path."""
    rows = []
    for version in (1, 2):
        artifact = load_artifact("churn", version, artifacts_root())
        record = [example_record(version)]
        for mode in SCORING_MODES:
            score = build_scorer(artifact, mode)
            for _ in range(50):
                score(record)
            times = []
            # The pipeline is ~50x slower: fewer runs give as stable a median in bounded time.
            for _ in range(n if mode == "fast" else max(n // 10, 100)):
                t0 = time.perf_counter()
                score(record)
                times.append((time.perf_counter() - t0) * 1000)
            rows.append(
                {
                    "version": version,
                    "scoring": mode,
                    "p50_ms": round(float(np.median(times)), 4),
                    "p95_ms": round(float(np.percentile(times, 95)), 4),
                }
            )
    return rows


def variants_and_health(
    url: str, secs: float, levels: tuple[int, ...], meter: ProcessMeter | None = None
) -> dict:
    """Throughput per execution variant and concurrency, then /health while each is loaded."""
    throughput = []
    for mode in PREDICT_MODES:
        for c in levels:
            call = caller(url, f"/lab/{mode}/predict")
            r = run_load(call, c, mode, duration=secs, warmup=10, meter=meter)
            throughput.append(r)
            print(f"   {mode:10s} c={c:<3d} {r.rps:7.1f} req/s p95 {r.pct(95):7.2f} ms")
    idle = run_load(caller(url, "/health", "GET"), 1, "idle", requests=600, warmup=50)
    health_rows = [{"variant": "idle (no load)", **_health(idle, None)}]
    print(">> /health while predict is loaded (c=32)", flush=True)
    for mode in PREDICT_MODES:
        load, health = under_load(url, mode, secs + 1.0, 32)
        health_rows.append({"variant": mode, **_health(health, load)})
    return {"throughput": throughput, "health": health_rows, "health_idle": idle}


SCORING_ROUTES = ("threadpool", "batched", "noop")


def interleaved_rps(url: str, c: int, secs: float, rounds: int = 3) -> dict[str, LoadResult]:
    """Each route's load in ``rounds`` alternating slices, so machine drift hits them alike.

    On a shared machine the load moves from one second to the next; measuring the routes one
    after another would credit that drift to whichever route ran in the quiet moment.
    """
    parts: dict[str, list[LoadResult]] = {route: [] for route in SCORING_ROUTES}
    for _ in range(rounds):
        for route in SCORING_ROUTES:
            call = caller(url, f"/lab/{route}/predict")
            parts[route].append(run_load(call, c, route, duration=secs / rounds, warmup=5))
    return {
        route: LoadResult(
            route,
            c,
            sum(r.requests for r in runs),
            sum(r.errors for r in runs),
            sum(r.seconds for r in runs),
            [ms for r in runs for ms in r.latencies_ms],
        )
        for route, runs in parts.items()
    }


def served_scoring(url: str, scoring: str, secs: float, overhead: dict) -> list[dict]:
    """Served req/s and p50 of one scoring path: threadpool and batched at c=1 and c=32, plus
    the no-op endpoint (same stack, no model) as the ceiling, interleaved on one server."""
    rows = []
    for c in (1, 32):
        for route, r in interleaved_rps(url, c, secs).items():
            rows.append(
                {
                    "scoring": scoring,
                    "route": f"/lab/{route}/predict",
                    "c": c,
                    "rps": round(r.rps, 1),
                    "p50_ms": round(r.pct(50), 3),
                    "p95_ms": round(r.pct(95), 3),
                    "in_process_p50_ms": overhead["in_process_p50_ms"],
                    "served_c1_p50_ms": overhead["served_p50_ms"],
                }
            )
            print(f"   {scoring:8s} {route:10s} c={c:<3d} {r.rps:7.1f} req/s", flush=True)
    return rows


def workers_compare(w1: dict[str, LoadResult], w2: dict[str, LoadResult]) -> list[dict]:
    return [
        {
            "variant": m,
            "c": 32,
            "workers_1_rps": round(w1[m].rps, 1),
            "workers_2_rps": round(w2[m].rps, 1),
            "ratio_2_over_1": round(w2[m].rps / w1[m].rps, 2),
            "workers_1_p95_ms": round(w1[m].pct(95), 2),
            "workers_2_p95_ms": round(w2[m].pct(95), 2),
        }
        for m in w1
    ]


# The lab's speed targets (README), checked on numbers from this one run.
OLD_DEFAULT_C1_RPS = 93.0  # lab 1's default mode at c=1 before the compiled scorer (README)


def targets(scoring_local: list[dict], served: list[dict]) -> dict:
    def rps(scoring: str, route: str, c: int) -> float:
        return next(
            r["rps"] for r in served if (r["scoring"], r["route"], r["c"]) == (scoring, route, c)
        )

    fast_v2 = next(r for r in scoring_local if (r["version"], r["scoring"]) == (2, "fast"))
    slow_v2 = next(r for r in scoring_local if (r["version"], r["scoring"]) == (2, "pipeline"))
    fast_served = next(r for r in served if r["scoring"] == "fast")
    served_minus_local = fast_served["served_c1_p50_ms"] - fast_served["in_process_p50_ms"]
    batched_c32 = rps("fast", "/lab/batched/predict", 32)
    noop_c32 = rps("fast", "/lab/noop/predict", 32)
    default_c1 = rps("fast", "/lab/threadpool/predict", 1)
    return {
        "fast_v2_in_process_p50_ms": fast_v2["p50_ms"],
        "pipeline_over_fast_in_process": round(slow_v2["p50_ms"] / fast_v2["p50_ms"], 1),
        "fast_v2_p50_le_0.3ms": fast_v2["p50_ms"] <= 0.3,
        "served_c1_minus_in_process_ms": round(served_minus_local, 3),
        "served_minus_in_process_le_0.5ms": served_minus_local <= 0.5,
        "batched_c32_over_noop_c32": round(batched_c32 / noop_c32, 2),
        "batched_ge_0.5x_noop": batched_c32 >= 0.5 * noop_c32,
        "default_c1_over_old_93rps": round(default_c1 / OLD_DEFAULT_C1_RPS, 1),
        "default_c1_ge_5x_old": default_c1 >= 5 * OLD_DEFAULT_C1_RPS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each load step")
    parser.add_argument("--out", default="artifacts/bench", help="folder for JSON and PNG")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    secs, levels = args.seconds, (1, 8, 32)
    report: dict = {"settings": {"seconds": secs, "version": VERSION, "levels": levels}}
    report["load_average_start"] = _load_average()

    print(">> in-process scoring of one record: pipeline vs fast", flush=True)
    report["scoring_in_process"] = in_process_scoring()
    # LAB1_SCORING picks the main servers' scoring path; the other path gets one server too.
    scoring = Settings(_env_file=None).scoring
    other = next(m for m in SCORING_MODES if m != scoring)
    report["settings"]["scoring"] = scoring
    with server(out, scoring=scoring) as (url, meter):
        print(f">> 1 worker at {url} (scoring={scoring}): overhead at concurrency 1", flush=True)
        # The default deployment (threadpool) first, then the other variants for comparison,
        # then the default route with the other two clients: how much of "overhead" is the
        # client's own work (all three share the 2 cores with the server).
        keys = [(path, "raw") for path in OVERHEAD_ROUTES]
        keys += [("/v2/churn/predict", client) for client in CLIENTS[1:]]
        overheads = paired_overheads(url, keys, 1000, scoring=scoring)
        print(">> throughput per variant and concurrency", flush=True)
        measured = variants_and_health(url, secs, levels, meter)
        for row in overheads:
            row["health_roundtrip_p50_ms"] = round(measured["health_idle"].pct(50), 3)
        w1 = {m: _load32(url, m, secs) for m in ("threadpool", "batched")}
        print(f">> served, scoring={scoring} (interleaved with the no-op ceiling)", flush=True)
        served = served_scoring(url, scoring, secs, overheads[0])
    with server(out, workers=2, scoring=scoring) as (url, meter2):
        print(">> workers: 2", flush=True)
        w2 = {m: _load32(url, m, secs, meter2) for m in ("threadpool", "batched")}
    with server(out, scoring=other) as (url, _):
        print(f">> served, scoring={other}", flush=True)
        [second] = paired_overheads(url, [("/v2/churn/predict", "raw")], 300, scoring=other)
        served += served_scoring(url, other, secs, second)
    report["served_scoring"] = served
    report.update(
        overhead=overheads,
        throughput=measured["throughput"],
        health_under_load=measured["health"],
        workers=workers_compare(w1, w2),
    )
    report["ratios"] = ratios(report)
    report["targets"] = targets(report["scoring_in_process"], report["served_scoring"])
    report["modes"] = [
        mode_from_load(r, f"FastAPI {r.label}, 1 worker") for r in measured["throughput"]
    ] + [mode_from_load(r, f"FastAPI {m}, 2 workers") for m, r in w2.items()]
    report["load_average_end"] = _load_average()
    print_report(report, levels)
    write_outputs(out, report, levels)


def _load_average() -> list[float] | None:
    """1/5/15-minute load: on a shared machine, the context every figure needs."""
    getloadavg = getattr(os, "getloadavg", None)  # absent on Windows
    try:
        return [round(x, 2) for x in getloadavg()] if getloadavg else None
    except OSError:
        return None


def _load32(url: str, mode: str, secs: float, meter: ProcessMeter | None = None) -> LoadResult:
    call = caller(url, f"/lab/{mode}/predict")
    return run_load(call, 32, mode, duration=secs, warmup=10, meter=meter)


def ratios(report: dict) -> dict:
    rps = {(r.label, r.concurrency): r.rps for r in report["throughput"]}
    health = {r["variant"]: r for r in report["health_under_load"]}
    overheads = report["overhead"]
    return {
        "overhead_p50_ms": overheads[0]["overhead_p50_ms"],
        "best_overhead_p50_ms": min(o["overhead_p50_ms"] for o in overheads),
        "batched_over_threadpool_c32": round(rps[("batched", 32)] / rps[("threadpool", 32)], 2),
        "batched_over_blocking_c32": round(rps[("batched", 32)] / rps[("blocking", 32)], 2),
        "health_p95_blocking_over_threadpool": round(
            health["blocking"]["health_p95_ms"] / health["threadpool"]["health_p95_ms"], 2
        ),
        "workers_2_over_1_threadpool": report["workers"][0]["ratio_2_over_1"],
    }


def print_report(report: dict, levels: tuple[int, ...]) -> None:
    print()
    print_table(report["scoring_in_process"], "In-process scoring of one record (ms)")
    print()
    print_table(report["overhead"], "Serving overhead at concurrency 1 (model v2, one row)")
    print()
    table = []
    for mode in PREDICT_MODES:
        row: dict = {"variant": mode}
        for c in levels:
            r = next(t for t in report["throughput"] if t.label == mode and t.concurrency == c)
            row[f"rps c={c}"] = round(r.rps, 1)
            row[f"p95 ms c={c}"] = round(r.pct(95), 2)
        table.append(row)
    print_table(table, "Throughput by execution variant (1 uvicorn worker)")
    print()
    print_table(report["health_under_load"], "/health latency while predict runs at concurrency 32")
    print()
    print_table(report["workers"], "uvicorn workers 1 vs 2 (concurrency 32)")
    print()
    print_table(report["served_scoring"], "Served: pipeline vs fast scoring (1 worker, model v2)")
    print()
    print_table([report["ratios"]], "Ratios")
    print()
    print_table([report["targets"]], "Speed targets, this run")
    print(
        f"\nload average (1/5/15 min) at start {report['load_average_start']}, "
        f"at end {report['load_average_end']}, on {os.cpu_count()} CPUs"
    )


def write_outputs(out: Path, report: dict, levels: tuple[int, ...]) -> list[Path]:
    """JSON plus three PNGs; requests/s and milliseconds always get separate axes."""
    paths = [write_report(out / "lab1.json", report)]
    by = {(r.label, r.concurrency): r for r in report["throughput"]}
    groups = [f"c={c}" for c in levels]
    paths.append(
        plot_panels(
            out / "lab1_throughput.png",
            [
                Panel(
                    "throughput",
                    "requests / s",
                    groups,
                    {m: [by[(m, c)].rps for c in levels] for m in PREDICT_MODES},
                ),
                Panel(
                    "p95 latency",
                    "ms",
                    groups,
                    {m: [by[(m, c)].pct(95) for c in levels] for m in PREDICT_MODES},
                    log=True,
                ),
            ],
            "Lab 1: execution variants, 1 uvicorn worker, model v2",
        )
    )
    health = report["health_under_load"]
    variants = [r["variant"] for r in health]
    paths.append(
        plot_panels(
            out / "lab1_health.png",
            [
                Panel(
                    "/health while predict runs at c=32",
                    "ms",
                    variants,
                    {q: [r[f"health_{q}_ms"] for r in health] for q in ("p50", "p95")},
                    log=True,
                ),
                Panel(
                    "predict throughput meanwhile",
                    "requests / s",
                    variants,
                    {"predict": [r["predict_rps"] for r in health]},
                ),
            ],
            "Lab 1: does predict load stall the liveness probe?",
        )
    )
    paths.append(plot_panels(out / "lab1_scoring.png", scoring_panels(report), SCORING_TITLE))
    for path in paths:
        print(f"wrote {path}")
    return paths


SCORING_TITLE = "Lab 1: the sklearn pipeline vs the compiled scorer"


def scoring_panels(report: dict) -> list[Panel]:
    """In-process ms per record, then served req/s per route, pipeline vs fast."""
    local = report["scoring_in_process"]
    served = report["served_scoring"]
    keys = list(dict.fromkeys((r["route"].split("/")[2], r["c"]) for r in served))
    return [
        Panel(
            "in process, one record (p50)",
            "ms",
            ["v1", "v2"],
            {
                mode: [
                    next(r["p50_ms"] for r in local if (r["version"], r["scoring"]) == (v, mode))
                    for v in (1, 2)
                ]
                for mode in SCORING_MODES
            },
            log=True,
        ),
        Panel(
            "served, 1 worker, model v2",
            "requests / s",
            [f"{route} c={c}" for route, c in keys],
            {
                mode: [
                    next(
                        r["rps"]
                        for r in served
                        if (r["scoring"], r["route"], r["c"]) == (mode, f"/lab/{route}/predict", c)
                    )
                    for route, c in keys
                ]
                for mode in SCORING_MODES
            },
        ),
    ]


def _health(health: LoadResult, load: LoadResult | None) -> dict:
    return {
        "health_p50_ms": round(health.pct(50), 2),
        "health_p95_ms": round(health.pct(95), 2),
        "health_max_ms": round(max(health.latencies_ms), 2),
        "predict_rps": round(load.rps, 1) if load else 0.0,
    }


if __name__ == "__main__":
    main()
