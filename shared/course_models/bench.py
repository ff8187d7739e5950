"""Small, dependency-light helpers for the labs' benchmark scripts.

Benchmarks measure ratios inside one run (same machine, same moment), print a table and write
JSON plus a PNG so results can be compared and pasted into lab READMEs.
"""

from __future__ import annotations

import json
import math
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class LoadResult:
    label: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "error_pct": round(100.0 * self.errors / self.requests, 2) if self.requests else 0.0,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            **self.extra,
        }


class ProcessMeter:
    """CPU seconds and peak RSS of the processes that serve (each root and its children).

    The load generator is not counted: what a deployment pays for is the server. Peak RSS is the
    kernel's high-water mark (``VmHWM``) summed over the tree, an upper bound when forked
    workers share pages.
    """

    def __init__(self, *pids: int):
        import psutil

        self.roots = [psutil.Process(pid) for pid in pids]

    def _tree(self) -> list[Any]:
        import psutil

        found = []
        for root in self.roots:
            try:
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return found

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for proc in self._tree():
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def peak_rss_mb(self) -> float:
        import psutil

        total = 0.0
        for proc in self._tree():
            try:
                status = Path(f"/proc/{proc.pid}/status")
                hwm = [ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM:")]
                kb = float(hwm[0].split()[1]) if hwm else proc.memory_info().rss / 1024
            except (OSError, psutil.NoSuchProcess):
                continue
            total += kb / 1024
        return round(total, 1)

    def cost_of(self, cpu_before: float, predictions: int) -> dict[str, float]:
        """The fields a mode row needs, since ``cpu_before`` (a ``cpu_seconds()`` reading)."""
        cpu = self.cpu_seconds() - cpu_before
        return {
            "cpu_s_per_1k": round(1000.0 * cpu / max(predictions, 1), 4),
            "peak_rss_mb": self.peak_rss_mb(),
        }


def run_load(
    call: Callable[[int], bool],
    concurrency: int,
    label: str = "",
    requests: int | None = None,
    duration: float | None = None,
    warmup: int = 0,
    meter: ProcessMeter | None = None,
) -> LoadResult:
    """Drive ``call(i) -> ok`` from ``concurrency`` threads; bounded by count and/or time.

    Threads suit I/O-bound HTTP clients: the GIL is released while waiting on sockets. With a
    ``meter``, the server's CPU seconds per 1,000 answers and its peak RSS go into ``extra``.
    """
    if requests is None and duration is None:
        raise ValueError("give requests or duration")
    for i in range(warmup):
        call(i)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + duration if duration else float("inf")

    def worker() -> None:
        nonlocal errors, issued
        while True:
            with lock:
                if (requests is not None and issued >= requests) or time.perf_counter() >= deadline:
                    return
                i = issued
                issued += 1
            t0 = time.perf_counter()
            try:
                ok = call(i)
            except Exception:
                ok = False
            ms = (time.perf_counter() - t0) * 1000.0
            with lock:
                latencies.append(ms)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    cpu_before = meter.cpu_seconds() if meter else 0.0
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = LoadResult(
        label, concurrency, len(latencies), errors, time.perf_counter() - start, latencies
    )
    if meter:
        result.extra.update(meter.cost_of(cpu_before, result.requests - result.errors))
    return result


# The rows ``make report`` and ``python -m course_models advise`` read: every benchmark JSON
# may carry a top-level "modes" list of these. Only "mode" and "rps" are required; a missing
# figure is shown as "not measured".
MODE_FIELDS = {
    "mode": "name of the serving mode, the same string at every concurrency",
    "kind": '"online" (requests answered as they come) or "batch" (a scheduled job)',
    "concurrency": "clients in flight (online); null for batch",
    "rps": "predictions per second",
    "p50_ms": "latency per request, ms (p95_ms, p99_ms alike; null for batch)",
    "cpu_s_per_1k": "server CPU seconds per 1,000 predictions",
    "peak_rss_mb": "peak resident memory of the serving processes, MB",
    "predictions_per_request": "rows scored by one request (1 unless the request is a batch)",
}


def mode_row(mode: str, rps: float, kind: str = "online", **fields: Any) -> dict[str, Any]:
    """One row of a benchmark's "modes" list (see ``MODE_FIELDS``)."""
    return {"mode": mode, "kind": kind, "rps": round(float(rps), 1), **fields}


def mode_from_load(result: LoadResult, mode: str, **fields: Any) -> dict[str, Any]:
    """A mode row from a measured load: percentiles, throughput, and the meter's figures."""
    s = result.summary()
    keep = ("concurrency", "p50_ms", "p95_ms", "p99_ms", "errors", "cpu_s_per_1k", "peak_rss_mb")
    return mode_row(mode, s["rps"], **{k: s[k] for k in keep if k in s}, **fields)


def print_table(rows: Sequence[dict[str, Any]], title: str = "") -> str:
    """Print rows as a Markdown table (paste-able into a README) and return it."""
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = [f"| {' | '.join(cols)} |", f"|{'|'.join('---' for _ in cols)}|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    text = (f"### {title}\n\n" if title else "") + "\n".join(lines)
    print(text, flush=True)
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def write_report(path: str | Path, payload: dict[str, Any]) -> Path:
    """JSON with the machine and time, so numbers are never quoted without their context."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": cpu_count(),
        },
        **payload,
    }
    out.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    return out


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _json_default(value: Any) -> Any:
    if isinstance(value, LoadResult):
        return value.summary()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


@dataclass
class Panel:
    """One chart of a figure: ONE quantity (``unit``) on its y axis, bars grouped by ``groups``."""

    title: str
    unit: str
    groups: Sequence[str]
    series: dict[str, Sequence[float]]
    log: bool = False


def human(value: float) -> str:
    """Numbers as people write them: 2,340 · 93.4 · 1.82 · 0.0061 (never 2.34e+03)."""
    if value != value:  # NaN
        return "–"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude == 0:
        return "0"
    if magnitude >= 0.1:
        return f"{value:.2f}"
    return f"{value:.{1 - math.floor(math.log10(magnitude))}f}"  # 2 digits: 0.0061, 0.000063


def machine_caption() -> str:
    """What a reader needs to weigh the numbers: where and when they were measured."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    where = f"{platform.system()} {platform.machine()}, {cpu_count()} CPUs"
    return f"{where}, Python {platform.python_version()} — {when}"


def plot_panels(
    path: str | Path, panels: Sequence[Panel], title: str, caption: str | None = None
) -> Path:
    """Side-by-side bar charts as one PNG; each panel has its own axis and unit.

    The machine and date are always in the caption, so a screenshot is never quoted
    without its context.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    widths = [max(4.0, 1.3 * len(p.groups) * max(1, len(p.series)) ** 0.5) for p in panels]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(sum(widths), 4.6), squeeze=False, width_ratios=widths
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        x = np.arange(len(panel.groups))
        width = 0.8 / max(1, len(panel.series))
        for i, (name, values) in enumerate(panel.series.items()):
            bars = ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
            ax.bar_label(bars, labels=[human(float(v)) for v in values], fontsize=7)
        ax.set_xticks(x, panel.groups, rotation=15, ha="right")
        ax.set_ylabel(panel.unit)
        ax.set_title(panel.title, fontsize=10)
        if panel.log:
            ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: human(v)))
        if len(panel.series) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.text(0.5, 0.01, caption or machine_caption(), ha="center", fontsize=8, color="0.35")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def bar_plot(
    path: str | Path,
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    title: str,
    log: bool = False,
) -> Path:
    """One-panel shorthand for ``plot_panels`` (kept for the labs' existing calls)."""
    return plot_panels(path, [Panel(title, ylabel, groups, series, log)], title)
