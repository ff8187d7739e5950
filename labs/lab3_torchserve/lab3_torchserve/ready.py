"""Lab readiness: every registered model's default version has a worker that can answer.

TorchServe's own ``GET /ping`` is a *liveness* check: it says ``Healthy`` while the frontend
runs and no worker is failing its health check; a model whose only worker was just killed (and
is being restarted) still reports ``Healthy``, and requests to it wait or fail meanwhile. So
``make lab-3``, compose and Kubernetes probe this instead:

    python -m lab3_torchserve.ready --management http://127.0.0.1:8081     # exit 0 ready, 1 not
    python -m lab3_torchserve.ready --management URL --wait 120            # poll until ready

It asks the management API for the models (``GET /models``) and, for each, the default
version's workers (``GET /models/<name>``); READY workers count, STARTING/UNLOADING do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Readiness:
    ready: bool
    models: dict[str, int] = field(default_factory=dict)  # model -> READY workers (default ver.)
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ready


def check(management_url: str, expect: tuple[str, ...] = (), timeout: float = 5.0) -> Readiness:
    """One look at the management API; never raises for a server that is down or half up."""
    try:
        with httpx.Client(base_url=management_url, timeout=timeout) as http:
            listed = http.get("/models", params={"limit": 1000})
            listed.raise_for_status()
            names = [m["modelName"] for m in listed.json().get("models", [])]
            counts = {name: _ready_workers(http, name) for name in names}
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Readiness(False, reason=f"management API at {management_url}: {exc}")
    missing = [m for m in expect if m not in counts]
    idle = [m for m, n in counts.items() if n == 0]
    if missing:
        return Readiness(False, counts, f"not registered: {', '.join(missing)}")
    if not counts:
        return Readiness(False, counts, "no model registered")
    if idle:
        return Readiness(False, counts, f"no READY worker for the default version of {idle}")
    return Readiness(True, counts, "ready")


def _ready_workers(http: httpx.Client, model: str) -> int:
    response = http.get(f"/models/{model}")
    response.raise_for_status()
    (entry,) = response.json()  # without a version: the default version only
    return sum(1 for w in entry.get("workers", []) if w.get("status") == "READY")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--model", action="append", default=[], help="must be registered")
    parser.add_argument("--wait", type=float, default=0.0, help="poll up to this many seconds")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        state = check(args.management, tuple(args.model))
        if state or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    counts = " ".join(f"{m}={n}" for m, n in state.models.items())
    print(f"{'ready' if state else 'NOT ready'}: {state.reason} {counts}".rstrip())
    return 0 if state else 1


if __name__ == "__main__":
    sys.exit(main())
