"""`make chaos-2`: inject the faults lab 2 promises to survive, for real, and measure.

    python -m lab2_flask_celery.chaos [--only bodies,redis,sigkill,pool]

- bodies:  oversized bodies with Content-Length and chunked framing (50 MB too) -> 413
           JSON every time, and a cut body is never parsed;
- redis:   redis-server stopped (SIGTERM) mid-run and restarted on the same append-only
           file -> every accepted job answered correctly, exactly once;
- sigkill: the whole Celery worker SIGKILLed mid-job -> the status API says the worker is
           gone within a few heartbeats; the job is redelivered after the visibility timeout;
- pool:    only the pool process SIGKILLed -> requeued at once, but to the BACK of the queue.

The tests (tests/lab2/test_chaos.py) run the same functions and assert on what they return.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from course_models.artifacts import artifacts_root
from course_models.bench import print_table, write_report
from course_models.procs import timeout_scale, wait_until
from course_models.tabular import example_record
from lab2_flask_celery.service import explain_record
from lab2_flask_celery.services import Stack
from lab2_flask_celery.settings import Settings

# Small, fast jobs; limits short enough that a redelivery happens within seconds (a job of
# these sizes takes well under a second; the time limit leaves ten times that), stretched by the
# machine's load when the drills start (procs.timeout_scale: 3x beside two busy loops on 2 cores),
# so a busy machine delays the drills instead of failing the jobs.
_K = timeout_scale()
FAST = {
    "LAB2_EXPLAIN_PERMUTATIONS": "6",
    "LAB2_EXPLAIN_BACKGROUND": "4",
    "LAB2_TASK_SOFT_TIME_LIMIT": f"{8 * _K:.0f}",
    "LAB2_TASK_TIME_LIMIT": f"{10 * _K:.0f}",
    "LAB2_VISIBILITY_TIMEOUT": f"{11 * _K:.0f}",
    "LAB2_UNACKED_RESTORE_INTERVAL": "1",
    "LAB2_HEARTBEAT_INTERVAL": "0.5",
}
SLOW = {**FAST, "LAB2_EXPLAIN_PERMUTATIONS": "80"}  # about a second per job: time to kill it
SECOND_JOBS = {"LAB2_EXPLAIN_PERMUTATIONS": "40"}  # a fraction of a second: many jobs, quickly
TERMINAL = {"success", "failure"}


def customer(i: int) -> dict[str, Any]:
    return {**example_record(2), "age": 18 + i % 70, "tenure_months": i % 72}


def same_answer(result: dict, expected: dict) -> bool:
    keys = ("prediction", "base_value", "contributions", "evaluations", "model")
    return all(result.get(k) == expected[k] for k in keys)


def expected_for(stack: Stack, record: dict, **env: str) -> dict:
    """What a worker started with ``env`` must answer: the same computation, in this process."""
    return explain_record(Settings(**stack.settings(**env)), record)


# --- bodies ------------------------------------------------------------------------------


def send_raw(base: str, chunks: Iterable[bytes], chunked: bool, length: int | None = None):
    """POST /predict with chosen framing; reads the answer even if the server answered early."""
    u = urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest("POST", "/predict")
        conn.putheader("Content-Type", "application/json")
        conn.putheader(
            *(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(length)))
        )
        conn.endheaders()
        try:
            for chunk in chunks:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: read what it said
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    except OSError as exc:
        return type(exc).__name__, None, b""
    finally:
        conn.close()


def pieces(data: bytes, size: int = 1 << 16) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def body_limits(base: str, limit: int) -> list[dict[str, Any]]:
    """The oversized-body experiment's bodies, each with Content-Length and chunked framing."""
    record = json.dumps(example_record(2)).encode()
    fits = record + b" " * (limit - len(record))  # exactly the limit: valid, must be 200
    cases = {
        "valid record padded to the limit": fits,
        "padded record + 2 MB garbage": fits + b"x" * 2_000_000,
        "limit + 1 byte": fits + b" ",
        "50 MB of '['": b"[" * 50_000_000,
    }
    rows = []
    for name, body in cases.items():
        for chunked in (False, True):
            started = time.perf_counter()
            status, ctype, answer = send_raw(base, pieces(body), chunked, len(body))
            rows.append(
                {
                    "case": name,
                    "framing": "chunked" if chunked else "Content-Length",
                    "bytes": len(body),
                    "status": status,
                    "json": ctype == "application/json",
                    "error": json.loads(answer).get("error") if ctype == "application/json" else "",
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
    return rows


# --- jobs --------------------------------------------------------------------------------


class Jobs:
    """Submit and poll through the HTTP API, keeping every status each job was seen in."""

    def __init__(self, base: str):
        self.client = httpx.Client(base_url=base, timeout=10)
        self.seen: dict[str, list[str]] = {}
        self.last: dict[str, dict] = {}

    def submit(self, record: dict) -> str:
        response = self.client.post("/jobs/explain", json=record)
        if response.status_code != 202:
            raise AssertionError(f"submit answered {response.status_code}: {response.text}")
        job_id = response.json()["job_id"]
        self.seen[job_id] = []
        return job_id

    def poll(self, job_id: str) -> dict | None:
        """The job's state, or None while the API answers 503 (Redis down)."""
        response = self.client.get(f"/jobs/{job_id}")
        if response.status_code == 503:
            return None
        body = response.json()
        if response.status_code != 200:
            raise AssertionError(f"GET /jobs/{job_id} answered {response.status_code}: {body}")
        if not self.seen[job_id] or self.seen[job_id][-1] != body["status"]:
            self.seen[job_id].append(body["status"])
        self.last[job_id] = body
        return body

    def states(self) -> dict[str, str]:
        return {j: (self.poll(j) or {}).get("status", "unreachable") for j in self.seen}

    def wait_all(self, timeout: float) -> None:
        pending = set(self.seen)

        def done() -> bool:
            for j in list(pending):
                body = self.poll(j)
                if body and body["status"] in TERMINAL:
                    pending.discard(j)
            return not pending

        wait_until(done, timeout, 0.2, f"{len(pending)} jobs to finish")

    def close(self) -> None:
        self.client.close()


def log_has(path: Path, pattern: str) -> bool:
    return re.search(pattern, path.read_text(errors="replace")) is not None


def redis_restart(
    stack: Stack, base: str, n_jobs: int = 20, down: float = 5.0, timeout: float = 120
) -> dict[str, Any]:
    """Redis restart: stop Redis while a job runs, keep it down ``down`` seconds (the fault), and
    restart it on the same append-only file. ``stack``'s Redis runs with ``persist=True`` and
    ``base`` is a gunicorn in front of it; this starts (and leaves running) one worker."""
    worker_log = stack.tmp / "redis-worker.log"
    stack.start_worker("redis-worker", **SECOND_JOBS)
    jobs = Jobs(base)
    records = {jobs.submit(customer(i)): customer(i) for i in range(n_jobs)}
    ids = list(records)
    in_flight: list[str] = []

    def one_running_after_some_done() -> bool:
        states = jobs.states()
        in_flight[:] = [j for j, s in states.items() if s == "started"]
        return sum(s == "success" for s in states.values()) >= n_jobs // 4 and bool(in_flight)

    wait_until(one_running_after_some_done, timeout, 0.01, "a job in flight mid-run")
    done_before = sum(jobs.last[j]["status"] == "success" for j in ids)
    stopped = time.perf_counter()
    stack.stop_redis()
    wait_until(
        lambda: log_has(worker_log, r"Connection to broker lost|Cannot connect to redis"),
        30,
        0.1,
        "the worker to notice Redis is gone",
    )
    api_down = jobs.poll(ids[0]) is None  # the API answers 503 meanwhile
    time.sleep(max(0.0, down - (time.perf_counter() - stopped)))  # the outage itself
    stack.start_redis(persist=True)
    down_s = time.perf_counter() - stopped
    jobs.wait_all(timeout)
    expected = {j: expected_for(stack, r, **SECOND_JOBS) for j, r in records.items()}
    correct = [j for j in ids if same_answer(jobs.last[j].get("result", {}), expected[j])]
    log = worker_log.read_text(errors="replace")
    ran = {j: len(re.findall(rf"lab2\.explain\[{j}\] succeeded", log)) for j in ids}
    out = {
        "jobs": n_jobs,
        "done_before_stop": done_before,
        "in_flight_at_stop": in_flight,
        "redis_down_s": round(down_s, 1),
        "api_503_while_down": api_down,
        "success": sum(jobs.last[j]["status"] == "success" for j in ids),
        "correct": len(correct),
        "answered_once": sum(
            jobs.seen[j].count("success") == 1 and "failure" not in jobs.seen[j] for j in ids
        ),
        "ran_twice": [j for j, n in ran.items() if n > 1],
        "redelivered_reused_result": len(re.findall(r"redelivered, result already stored", log)),
        "in_flight_history": {j: jobs.seen[j] for j in in_flight},
        "total_s": round(time.perf_counter() - stopped, 1),
    }
    jobs.close()
    return out


def start_slow_job(base: str) -> tuple[Jobs, str, dict]:
    jobs = Jobs(base)
    record = customer(7)
    job_id = jobs.submit(record)
    wait_until(
        lambda: (jobs.poll(job_id) or {}).get("status") in {"started", *TERMINAL},
        60,
        0.02,
        "the job to start",
    )
    if jobs.last[job_id]["status"] != "started":
        raise AssertionError(f"the job finished before it could be killed: {jobs.last[job_id]}")
    return jobs, job_id, record


def worker_sigkill(stack: Stack, base: str, timeout: float = 90) -> dict[str, Any]:
    """Worker kill: SIGKILL the whole worker mid-job; the API reports it, redelivery follows.
    ``base`` is a gunicorn on ``stack``'s Redis; the two workers are started here."""
    first = stack.start_worker("sigkill-worker1")
    jobs, job_id, record = start_slow_job(base)
    status_before_kill = jobs.last[job_id]["status"]
    stack.kill_group(first)
    killed = time.perf_counter()
    wait_until(
        lambda: jobs.poll(job_id).get("worker_alive") is False,
        30,
        0.1,
        "the API to see the worker gone",
    )
    gone_after = time.perf_counter() - killed
    gone_body = dict(jobs.last[job_id])
    stack.start_worker("sigkill-worker2")  # ready well within the visibility timeout
    jobs.wait_all(timeout)
    out = {
        "job_id": job_id,
        "record": record,
        "status_before_kill": status_before_kill,
        "worker_gone_reported_after_s": round(gone_after, 2),
        "status_while_gone": gone_body,
        "redelivered_after_s": round(time.perf_counter() - killed, 1),
        "visibility_timeout_s": Settings(**stack.settings()).effective_visibility_timeout,
        "final_status": jobs.last[job_id]["status"],
        "result": jobs.last[job_id].get("result"),
        "correct": same_answer(jobs.last[job_id].get("result", {}), expected_for(stack, record)),
        "ran_by_worker2": log_has(
            stack.tmp / "sigkill-worker2.log", rf"lab2\.explain\[{job_id}\] succeeded"
        ),
    }
    jobs.close()
    return out


def pool_child_kill(stack: Stack, base: str, queued: int = 3, timeout: float = 120) -> dict:
    """Pool-process kill: SIGKILL only the pool process; where does its job go? (One worker, started
    here, on ``stack``'s Redis behind ``base``.)"""
    worker = stack.start_worker("pool-worker")
    jobs, victim, _ = start_slow_job(base)
    behind = [jobs.submit(customer(100 + i)) for i in range(queued)]
    os.kill(jobs.last[victim]["worker_pid"], signal.SIGKILL)
    jobs.wait_all(timeout)
    log = (stack.tmp / "pool-worker.log").read_text(errors="replace")
    order = sorted([victim, *behind], key=lambda j: log.find(f"lab2.explain[{j}] succeeded"))
    out = {
        "jobs_queued_behind": queued,
        "all_success": all(jobs.last[j]["status"] == "success" for j in [victim, *behind]),
        "victim_finished_position": order.index(victim) + 1,
        "of": len(order),
        "worker_survived": worker.poll() is None,
        "worker_lost_logged": "WorkerLostError" in log or "SIGKILL" in log,
    }
    jobs.close()
    return out


# --- the experiment a student runs ---------------------------------------------------------

EXPERIMENTS = {"redis": redis_restart, "sigkill": worker_sigkill, "pool": pool_child_kill}


def run(name: str, workdir: Path) -> Any:
    """One experiment on its own redis-server (append-only file on) and gunicorn."""
    stack = Stack(workdir / name, **SLOW)
    try:
        if name != "bodies":
            stack.start_redis(persist=True)
        _, base = stack.start_gunicorn()
        if name == "bodies":
            return body_limits(base, Settings().max_content_length)
        return EXPERIMENTS[name](stack, base)
    finally:
        stack.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="bodies,redis,sigkill,pool")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="lab2-chaos-"))
    print(f"logs in {workdir}", flush=True)
    results: dict[str, Any] = {}
    for name in args.only.split(","):
        print(f"- {name} ...", flush=True)
        results[name] = run(name, workdir)
        if name == "bodies":
            print_table(results[name], "Oversized bodies, both framings")
        else:
            print(json.dumps(results[name], indent=2), flush=True)
    report = write_report(artifacts_root() / "bench" / "lab2_chaos.json", results)
    print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
