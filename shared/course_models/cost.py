"""Measured CPU time and memory turned into money, and the advisor built on the same numbers.

Two kinds of cost per serving mode, both from the benchmark rows (``bench.MODE_FIELDS``):

* **per million predictions** — the CPU seconds and the memory-hours the mode actually used for
  them, at the price of a vCPU-hour and a GB-hour (``prices.toml``): what perfectly packed
  capacity would cost;
* **fixed** — what the mode costs whether or not predictions come: an always-on service pays
  for its replicas 24 hours a day; a batch job pays for a scheduled window (start-up included,
  at least the minimum billed time) once a day.

``advise`` answers "which measured modes meet this constraint on this machine, at what cost,
and why not the others" from those figures, nothing else.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PRICES = Path(__file__).with_name("prices.toml")
PRICES_ENV = "COURSE_PRICES"
HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Prices:
    vcpu_hour: float
    gb_hour: float
    source: str
    date: str
    currency: str = "USD"
    vcpu_step: float = 0.25
    gb_step: float = 0.5
    min_billed_seconds: float = 60.0
    batch_startup_seconds: float = 60.0
    path: str = ""

    def caption(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return (
            f"{self.currency} {self.vcpu_hour:g} per vCPU-hour, {self.gb_hour:g} per GB-hour "
            f"— {self.source}, {self.date}{where}"
        )


def load_prices(path: str | Path | None = None) -> Prices:
    """The one price file: ``path``, else ``$COURSE_PRICES``, else the course's default."""
    chosen = Path(path or os.environ.get(PRICES_ENV) or DEFAULT_PRICES)
    try:
        data = tomllib.loads(chosen.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"cannot read the price file {chosen}: {exc}") from exc
    fields = set(Prices.__dataclass_fields__) - {"path"}
    missing = {"vcpu_hour", "gb_hour", "source", "date"} - set(data)
    if missing:
        raise SystemExit(f"{chosen}: missing {', '.join(sorted(missing))}")
    known = {k: v for k, v in data.items() if k in fields}
    prices = Prices(**known, path=str(chosen))
    if prices.vcpu_hour < 0 or prices.gb_hour < 0:
        raise SystemExit(f"{chosen}: prices must not be negative")
    return prices


def _step_up(value: float, step: float) -> float:
    return max(step, math.ceil(value / step - 1e-9) * step) if step > 0 else value


def _num(row: dict, key: str) -> float | None:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def cores_used(row: dict) -> float | None:
    """Cores the mode kept busy at its measured throughput (CPU s per prediction x rate)."""
    cpu, rps = _num(row, "cpu_s_per_1k"), _num(row, "rps")
    return cpu * rps / 1000.0 if cpu is not None and rps else None


def size_of(row: dict, prices: Prices) -> tuple[float, float] | None:
    """(vCPUs, GB) of one replica or job running like the measured row, in sellable steps."""
    cores, mb = cores_used(row), _num(row, "peak_rss_mb")
    if cores is None or mb is None:
        return None
    return _step_up(cores, prices.vcpu_step), _step_up(mb / 1024.0, prices.gb_step)


def hourly(size: tuple[float, float], prices: Prices) -> float:
    return size[0] * prices.vcpu_hour + size[1] * prices.gb_hour


def per_million(row: dict, prices: Prices) -> float | None:
    """CPU time plus memory held, for 1e6 predictions at the measured rate."""
    cpu, mb, rps = _num(row, "cpu_s_per_1k"), _num(row, "peak_rss_mb"), _num(row, "rps")
    if cpu is None or mb is None or not rps:
        return None
    cpu_hours = cpu * 1000.0 / 3600.0
    gb_hours = mb / 1024.0 * (1e6 / rps) / 3600.0
    return cpu_hours * prices.vcpu_hour + gb_hours * prices.gb_hour


def always_on_per_day(row: dict, prices: Prices, replicas: int = 1) -> float | None:
    size = size_of(row, prices)
    return replicas * HOURS_PER_DAY * hourly(size, prices) if size else None


def window_hours(row: dict, rows: float, prices: Prices) -> float | None:
    """A scheduled job over ``rows`` at the measured rate, start-up included, billed minimum."""
    rps = _num(row, "rps")
    if not rps:
        return None
    seconds = rows / rps + prices.batch_startup_seconds
    return max(seconds, prices.min_billed_seconds) / 3600.0


def window_cost(row: dict, rows: float, prices: Prices) -> float | None:
    size, hours = size_of(row, prices), window_hours(row, rows, prices)
    return hours * hourly(size, prices) if size and hours is not None else None


def best_row(rows: list[dict]) -> dict:
    """The measured point a mode is summarised by: its highest throughput."""
    return max(rows, key=lambda r: _num(r, "rps") or 0.0)


def cost_table(modes: dict[str, list[dict]], prices: Prices, daily_rows: float) -> list[dict]:
    """One line per mode at its best throughput: per-million cost and the fixed cost."""
    out = []
    for name, rows in modes.items():
        row = best_row(rows)
        size = size_of(row, prices)
        batch = row.get("kind") == "batch"
        out.append(
            {
                "mode": name,
                "kind": row.get("kind", "online"),
                "lab": row.get("lab", ""),
                "at": "batch" if batch else f"c={row.get('concurrency', '?')}",
                "rps": _num(row, "rps"),
                "cpu_s_per_1k": _num(row, "cpu_s_per_1k"),
                "peak_rss_mb": _num(row, "peak_rss_mb"),
                "size": f"{size[0]:g} vCPU, {size[1]:g} GB" if size else None,
                "per_million": per_million(row, prices),
                "fixed": window_cost(row, daily_rows, prices)
                if batch
                else always_on_per_day(row, prices),
                "fixed_what": f"one {human_rows(daily_rows)}-row window a day"
                if batch
                else "1 replica always on, per day",
            }
        )
    return out


def human_rows(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n:g}"


def money(value: float | None, prices: Prices) -> str:
    if value is None:
        return "not measured"
    symbol = "$" if prices.currency == "USD" else f"{prices.currency} "
    if value >= 100:
        return f"{symbol}{value:,.0f}"
    if value >= 1:
        return f"{symbol}{value:.2f}"
    if value <= 0:
        return f"{symbol}0"
    return f"{symbol}{value:.{2 - math.floor(math.log10(value))}f}"  # 3 digits, never 6e-05


# --- the advisor ------------------------------------------------------------------------------


@dataclass
class Verdict:
    mode: str
    lab: str
    kind: str
    meets: bool
    why: str
    cost: float | None = None  # per day (online) or per run (batch)
    per_million: float | None = None
    row: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "row"} | {"row": self.row}


def advise_online(
    modes: dict[str, list[dict]],
    p95_ms: float,
    rps: float,
    prices: Prices,
    peak_rps: float = 0,
    client_batches: bool = False,
) -> list[Verdict]:
    """Each mode's best measured point with p95 within the target, against the rate to carry.

    "Meets" means on one instance like the benchmarked one (this machine); when it does not,
    the verdict says how many such replicas the same numbers would take. A mode measured with
    several rows per request (lab 4's batched images) answers another question, clients that
    batch, and is counted only with ``client_batches``.
    """
    need = max(rps, peak_rps or 0)
    out = []
    for name, rows in modes.items():
        lab = rows[0].get("lab", "")
        if rows[0].get("kind") == "batch":
            out.append(Verdict(name, lab, "batch", False, "a scheduled job: answers no request"))
            continue
        timed = [r for r in rows if _num(r, "p95_ms") is not None and _num(r, "rps")]
        if not timed:
            out.append(Verdict(name, lab, "online", False, "no p95 measured"))
            continue
        fast = [r for r in timed if _num(r, "p95_ms") <= p95_ms]
        if not fast:
            best = min(timed, key=lambda r: _num(r, "p95_ms"))
            why = (
                f"p95 {best['p95_ms']:g} ms at best (c={best.get('concurrency')}) "
                f"> {p95_ms:g} ms at every measured concurrency"
            )
            out.append(Verdict(name, lab, "online", False, why, row=best))
            continue
        row = best_row(fast)
        got = _num(row, "rps") or 0.0
        per_request = int(_num(row, "predictions_per_request") or 1)
        if per_request > 1 and not client_batches:
            why = (
                f"{per_request} rows per request (a client that batches): not one prediction per "
                "request as asked (--client-batches to count it)"
            )
            out.append(Verdict(name, lab, "online", False, why, row=row))
            continue
        replicas = max(1, math.ceil(need / got))
        per_m = per_million(row, prices)
        day = always_on_per_day(row, prices, replicas)
        at = f"{got:,.0f} pred/s with p95 {row['p95_ms']:g} ms at c={row.get('concurrency')}"
        if replicas == 1:
            out.append(Verdict(name, lab, "online", True, at, day, per_m, row))
        else:
            why = (
                f"only {at} < {need:,.0f} needed: {replicas} such replicas "
                "(not measured here: one machine)"
            )
            out.append(Verdict(name, lab, "online", False, why, day, per_m, row))
    return _ranked(out)


def advise_batch(
    modes: dict[str, list[dict]], daily_rows: float, deadline_h: float, prices: Prices
) -> list[Verdict]:
    """Each mode run as a daily job over ``daily_rows``: done before the deadline, at what cost.

    Online modes count too (a client sending every row as a request at the best measured rate),
    which is how the comparison shows what batch buys.
    """
    out = []
    for name, rows in modes.items():
        row = best_row(rows)
        kind = row.get("kind", "online")
        hours = window_hours(row, daily_rows, prices)
        if hours is None:
            out.append(Verdict(name, row.get("lab", ""), kind, False, "no throughput measured"))
            continue
        cost = window_cost(row, daily_rows, prices)
        per_m = per_million(row, prices)
        per_request = int(_num(row, "predictions_per_request") or 1)
        how = ""
        if kind == "online":
            how = f"{per_request} rows a request, " if per_request > 1 else "one request a row, "
        took = f"{how}{hours:.2f} h for {human_rows(daily_rows)} rows at {row['rps']:,.0f} rows/s"
        meets = hours <= deadline_h
        why = took if meets else f"{took} > the {deadline_h:g} h deadline"
        out.append(Verdict(name, row.get("lab", ""), kind, meets, why, cost, per_m, row))
    return _ranked(out)


def _ranked(verdicts: list[Verdict]) -> list[Verdict]:
    """Meeting modes first, cheapest first; then the rest, cheapest first."""
    return sorted(verdicts, key=lambda v: (not v.meets, v.cost is None, v.cost or 0.0, v.mode))


def format_verdicts(
    verdicts: list[Verdict], prices: Prices, question: str, cost_what: str, machine: str
) -> str:
    meets = [v for v in verdicts if v.meets]
    lines = [question, f"measured on {machine}", f"prices: {prices.caption()}", ""]
    if meets:
        lines.append(f"MEET the constraint ({len(meets)}), cheapest first:")
    else:
        lines.append("NO measured mode meets the constraint on this machine.")
    for v in meets:
        lines.append(
            f"  + {v.mode} [{v.lab}]: {money(v.cost, prices)} {cost_what}, "
            f"{money(v.per_million, prices)} per million predictions — {v.why}"
        )
    rest = [v for v in verdicts if not v.meets]
    if rest:
        lines += ["", f"do NOT meet it ({len(rest)}):"]
    for v in rest:
        lines.append(f"  - {v.mode} [{v.lab}]: {v.why}")
    return "\n".join(lines)
