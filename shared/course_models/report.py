"""``make report``: every lab's latest benchmark on one static page, with costs.

It reads only what the ``bench-N`` targets wrote (``artifacts/bench/labN*.json``, and their
PNGs), so it is as fresh as the last benchmark of each lab; a lab never benchmarked is shown
"not run" with the command that runs it. The serving modes come from each JSON's "modes" list
(``bench.MODE_FIELDS``): a benchmark that adds a row there adds it to the page, its plots, the
cost table and the advisor, with no change here. The page is one HTML file with its plots
inlined as data URIs (also written beside it as PNGs): no network, no script from anywhere.
"""

from __future__ import annotations

import base64
import html
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_models import cost
from course_models.artifacts import artifacts_root, repo_root
from course_models.bench import Panel, human, machine_caption, plot_panels

JSON_NAME = re.compile(r"^lab(\d+)(?:_[\w.-]+)?\.json$")
DEFAULT_DAILY_ROWS = 5e6


@dataclass
class Lab:
    number: int
    title: str
    folder: str
    files: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    modes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return f"make bench-{self.number}"

    @property
    def ran(self) -> bool:
        return bool(self.files)


def discover_labs(labs_dir: Path) -> list[Lab]:
    """The course's labs, from their folders (``labs/labN_topic``) and README titles."""
    labs = []
    for folder in sorted(labs_dir.glob("lab*_*")):
        m = re.match(r"lab(\d+)_", folder.name)
        if not (m and folder.is_dir()):
            continue
        readme = folder / "README.md"
        first = readme.read_text().splitlines()[0] if readme.exists() else folder.name
        labs.append(Lab(int(m.group(1)), first.lstrip("# ").strip(), folder.name))
    return sorted(labs, key=lambda lab: lab.number)


def collect(bench_dir: Path, labs_dir: Path) -> list[Lab]:
    """Each lab with its benchmark JSON files and their mode rows (tagged with the lab)."""
    labs = {lab.number: lab for lab in discover_labs(labs_dir)}
    for path in sorted(bench_dir.glob("lab*.json")):
        m = JSON_NAME.match(path.name)
        if not m:
            continue
        number = int(m.group(1))
        lab = labs.setdefault(number, Lab(number, f"Lab {number}", f"lab{number}"))
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            doc = {"unreadable": str(exc)}
        lab.files.append((path, doc))
        for row in doc.get("modes") or []:
            if isinstance(row, dict) and row.get("mode") and row.get("rps") is not None:
                lab.modes.append({"lab": f"lab {number}", "source": path.name, **row})
    return [labs[n] for n in sorted(labs)]


def modes_by_name(labs: list[Lab]) -> dict[str, list[dict[str, Any]]]:
    """Mode name -> its rows (one per concurrency), across every lab that ran."""
    out: dict[str, list[dict[str, Any]]] = {}
    for lab in labs:
        for row in lab.modes:
            out.setdefault(row["mode"], []).append(row)
    return out


def load_modes(bench_dir: Path | None = None) -> tuple[list[Lab], dict[str, list[dict]]]:
    """What the advisor and the page read: the labs and their modes, by name."""
    root = repo_root() or Path.cwd()
    labs = collect(bench_dir or artifacts_root() / "bench", root / "labs")
    return labs, modes_by_name(labs)


# --- plots ------------------------------------------------------------------------------------


def _short(names: list[str]) -> list[str]:
    """Tick labels: the words every name shares dropped (e.g. "FastAPI"), wrapped to fit."""
    words = [n.split() for n in names]
    common = 0
    while len(names) > 1 and all(len(w) > common + 1 for w in words):
        if len({w[common] for w in words}) != 1:
            break
        common += 1
    return [textwrap.fill(" ".join(w[common:]), 14) for w in words]


def _log(values: list[float]) -> bool:
    real = [v for v in values if v == v and v > 0]
    return bool(real) and max(real) / min(real) > 30


def lab_figures(lab: Lab, out: Path) -> list[Path]:
    """Two figures per lab: latency and throughput by concurrency; CPU and memory per mode."""
    figures = []
    online = [r for r in lab.modes if r.get("kind", "online") == "online"]
    names = list(dict.fromkeys(r["mode"] for r in online))
    levels = sorted({r.get("concurrency") or 1 for r in online})
    caption = _caption(lab)
    if online:
        by = {(r["mode"], r.get("concurrency") or 1): r for r in online}
        labels = dict(zip(names, _short(names), strict=True))

        def series(key: str) -> dict[str, list[float]]:
            return {
                labels[n]: [float(by.get((n, c), {}).get(key) or float("nan")) for c in levels]
                for n in names
            }

        p95, rps = series("p95_ms"), series("rps")
        groups = [f"{c} client{'s' * (c > 1)}" for c in levels]
        flat = [v for vals in p95.values() for v in vals]
        figures.append(
            plot_panels(
                out / f"lab{lab.number}_latency_throughput.png",
                [
                    Panel("p95 latency", "ms", groups, p95, log=_log(flat)),
                    Panel(
                        "throughput",
                        "predictions / s",
                        groups,
                        rps,
                        log=_log([v for vals in rps.values() for v in vals]),
                    ),
                ],
                f"Lab {lab.number}: latency and throughput by concurrency",
                caption,
            )
        )
    best = {n: cost.best_row(rs) for n, rs in modes_by_name([lab]).items()}
    groups = _short(list(best))
    panels = []
    for title, unit, key in (
        ("CPU per 1,000 predictions (at the best throughput)", "CPU seconds", "cpu_s_per_1k"),
        ("peak memory of the serving processes", "MB", "peak_rss_mb"),
    ):
        values = [
            float(r.get(key) if r.get(key) is not None else float("nan")) for r in best.values()
        ]
        if any(v == v for v in values):
            panels.append(Panel(title, unit, groups, {key: values}, log=_log(values)))
    if panels:
        figures.append(
            plot_panels(
                out / f"lab{lab.number}_cpu_memory.png",
                panels,
                f"Lab {lab.number}: what each mode uses",
                caption,
            )
        )
    return figures


def cost_figure(rows: list[dict], prices: cost.Prices, out: Path) -> Path | None:
    priced = [r for r in rows if r["per_million"] is not None]
    if not priced:
        return None
    names = _short([r["mode"] for r in priced])
    values = [r["per_million"] for r in priced]
    return plot_panels(
        out / "cost_per_million.png",
        [
            Panel(
                "cost per million predictions",
                prices.currency,
                names,
                {"cost": values},
                log=_log(values),
            )
        ],
        "Every measured mode: CPU time and memory held, priced",
        f"{prices.caption()} — {machine_caption()}",
    )


def _caption(lab: Lab) -> str:
    where = []
    for path, doc in lab.files:
        m = doc.get("machine") or {}
        where.append(
            f"{path.name}: {m.get('platform', '?')}, {m.get('cpus', '?')} CPUs, "
            f"{doc.get('generated_at', '?')}"
        )
    return "; ".join(where)[:220]


# --- the page -------------------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;
padding:0 18px 40px;color:#1d232b}
h1{margin:22px 0 4px}h2{border-bottom:2px solid #d8dee6;padding-bottom:3px;margin-top:34px}
.meta{color:#566;font-size:13px}table{border-collapse:collapse;margin:10px 0;font-size:13px}
th,td{border:1px solid #d8dee6;padding:3px 7px;text-align:right}th{background:#f1f4f8}
td:first-child,th:first-child{text-align:left}.not-run{background:#fff6e0;padding:8px 12px;
border-left:4px solid #e0a000}.plot{max-width:100%;height:auto;display:block;margin:10px 0;
border:1px solid #e4e8ee;width:auto;max-height:480px}code{background:#f1f4f8;padding:1px 4px;
border-radius:3px}pre{background:#f6f8fa;padding:8px;font-size:12px;white-space:pre-wrap}
nav a{margin-right:12px}.na{color:#99a}
"""

ROW_COLUMNS = (
    ("concurrency", "clients"),
    ("rps", "predictions/s"),
    ("p50_ms", "p50 ms"),
    ("p95_ms", "p95 ms"),
    ("p99_ms", "p99 ms"),
    ("cpu_s_per_1k", "CPU s / 1k"),
    ("peak_rss_mb", "peak MB"),
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return '<td class="na">not measured</td>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"<td>{human(float(value))}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _modes_table(lab: Lab, prices: cost.Prices) -> str:
    head = "".join(f"<th>{h}</th>" for _, h in ROW_COLUMNS)
    body = []
    for row in sorted(lab.modes, key=lambda r: (r["mode"], r.get("concurrency") or 0)):
        cells = "".join(
            _cell(row.get(k) if k != "concurrency" or row.get("kind") != "batch" else "batch")
            for k, _ in ROW_COLUMNS
        )
        priced = cost.money(cost.per_million(row, prices), prices)
        body.append(f"<tr><td>{html.escape(row['mode'])}</td>{cells}<td>{priced}</td></tr>")
    return f"<table><tr><th>mode</th>{head}<th>cost / million</th></tr>{''.join(body)}</table>"


def _files_list(lab: Lab) -> str:
    items = []
    for path, doc in lab.files:
        m = doc.get("machine") or {}
        load = doc.get("load_average_start") or doc.get("load_average")
        extra = f", load average {load}" if load else ""
        note = (
            ""
            if doc.get("modes")
            else (
                f" — no per-mode figures in it (benchmarked before they were recorded): "
                f"re-run <code>{lab.command}</code>"
            )
        )
        when = html.escape(str(doc.get("generated_at", "?")))
        items.append(
            f"<li><code>{html.escape(path.name)}</code>: {when}"
            f" on {html.escape(str(m.get('platform', '?')))}, {m.get('cpus', '?')} CPUs, "
            f"Python {html.escape(str(m.get('python', '?')))}{extra}{note}</li>"
        )
    return f"<ul class=meta>{''.join(items)}</ul>"


def _lab_section(lab: Lab, prices: cost.Prices, out: Path, bench_dir: Path) -> str:
    title = html.escape(lab.title)
    status = "run" if lab.ran else "not-run"
    head = f'<section class="lab" id="lab-{lab.number}" data-status="{status}">'
    if not lab.ran:
        return (
            f"{head}<h2>{title}</h2><p class=not-run>not run — benchmark it with "
            f"<code>{lab.command}</code>, then <code>make report</code></p></section>"
        )
    parts = [head, f"<h2>{title}</h2>", _files_list(lab)]
    if lab.modes:
        parts.append(_modes_table(lab, prices))
        parts += [_img(p, f"lab {lab.number}: {p.stem}") for p in lab_figures(lab, out)]
    own = sorted(bench_dir.glob(f"lab{lab.number}*.png"))
    own = [p for p in own if JSON_NAME.match(p.with_suffix(".json").name)]
    if own:
        parts.append(f"<p class=meta>The benchmark's own plots (<code>{lab.command}</code>):</p>")
        parts += [_img(p, f"lab {lab.number}: {p.name}") for p in own]
    parts.append("</section>")
    return "\n".join(parts)


def _cost_section(rows: list[dict], prices: cost.Prices, out: Path, daily_rows: float) -> str:
    body = []
    for r in rows:
        body.append(
            f"<tr><td>{html.escape(r['mode'])}</td><td>{html.escape(r['lab'])}</td>"
            f"<td>{r['at']}</td>{_cell(r['rps'])}{_cell(r['cpu_s_per_1k'])}"
            f"{_cell(r['peak_rss_mb'])}{_cell(r['size'])}"
            f"<td>{cost.money(r['per_million'], prices)}</td>"
            f"<td>{cost.money(r['fixed'], prices)}</td><td>{html.escape(r['fixed_what'])}</td></tr>"
        )
    figure = cost_figure(rows, prices, out)
    return (
        '<section id="cost"><h2>Cost per mode</h2>'
        f"<p class=meta>Prices: {html.escape(prices.caption())}. Per million: the CPU seconds and "
        "the memory-hours the mode used for a million predictions at its best measured "
        "throughput. Fixed: a replica sized like the measured run (vCPUs it kept busy, its peak "
        "memory, in sellable steps) always on for a day, or, for batch, one scheduled window "
        f"over {cost.human_rows(daily_rows)} rows (start-up and minimum billing included). "
        "Advice for your constraint: <code>python -m course_models advise --p95-ms 50 "
        "--rps 200</code>.</p>"
        "<table><tr><th>mode</th><th>lab</th><th>at</th><th>predictions/s</th>"
        "<th>CPU s / 1k</th><th>peak MB</th><th>sized as</th><th>per million</th>"
        f"<th>fixed</th><th>fixed is</th></tr>{''.join(body)}</table>"
        + (_img(figure, "cost per million predictions") if figure else "")
        + "</section>"
    )


# The advisor's two questions the page answers; ``python -m course_models advise`` asks any.
PAGE_QUESTIONS = ((50.0, 200.0), (5e6, 6.0))


def _advice_section(modes: dict[str, list[dict]], prices: cost.Prices) -> str:
    (p95, rps), (rows, hours) = PAGE_QUESTIONS
    daily = f"{rows:.0e}".replace("e+0", "e")  # 5e6, as one types it
    answers = [
        cost.format_verdicts(
            cost.advise_online(modes, p95, rps, prices),
            prices,
            f"python -m course_models advise --p95-ms {p95:g} --rps {rps:g}",
            "per day always on",
            machine_caption(),
        ),
        cost.format_verdicts(
            cost.advise_batch(modes, rows, hours, prices),
            prices,
            f"python -m course_models advise --daily-rows {daily} --deadline-h {hours:g}",
            "per daily run",
            machine_caption(),
        ),
    ]
    body = "".join(f"<pre>{html.escape(a)}</pre>" for a in answers)
    return f'<section id="advice"><h2>Advice from these numbers</h2>{body}</section>'


def build(
    out_dir: Path | None = None,
    bench_dir: Path | None = None,
    prices: cost.Prices | None = None,
    daily_rows: float = DEFAULT_DAILY_ROWS,
) -> Path:
    """Write ``<out_dir>/index.html`` (and its PNGs beside it); return the page's path."""
    bench_dir = bench_dir or artifacts_root() / "bench"
    out = out_dir or artifacts_root() / "report"
    out.mkdir(parents=True, exist_ok=True)
    prices = prices or cost.load_prices()
    labs, modes = load_modes(bench_dir)
    rows = cost.cost_table(modes, prices, daily_rows)
    ran = [lab for lab in labs if lab.ran]
    nav = "".join(f'<a href="#lab-{lab.number}">Lab {lab.number}</a>' for lab in labs)
    page = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Serving modes on this machine — benchmark report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Serving modes on this machine</h1>",
        f"<p class=meta>Built on {html.escape(machine_caption())} from "
        f"<code>{html.escape(str(bench_dir))}</code>: {len(ran)} of {len(labs)} labs benchmarked, "
        f"{len(modes)} serving modes. Numbers are this machine's: compare modes measured here, "
        "not figures across machines.</p>",
        f'<nav><a href="#cost">Cost</a><a href="#advice">Advice</a>{nav}</nav>',
        _cost_section(rows, prices, out, daily_rows),
        _advice_section(modes, prices) if modes else "",
        *(_lab_section(lab, prices, out, bench_dir) for lab in labs),
        "</body></html>",
    ]
    path = out / "index.html"
    path.write_text("\n".join(page) + "\n")
    return path
