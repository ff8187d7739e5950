"""`make report` and the advisor, on small benchmark JSON written here (never a real benchmark):
the page opened in a real headless Chromium (no console errors, every lab's section and plot,
a screenshot saved), the cost arithmetic, and the advisor's verdicts from the same rows."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from course_models import bench, cost, report, sysdeps
from course_models.__main__ import main as cli
from course_models.artifacts import artifacts_root

PRICES = cost.Prices(vcpu_hour=0.04, gb_hour=0.004, source="test prices", date="2026-12")


def online(mode: str, c: int, rps: float, p95: float, cpu: float = 1.0, mb: float = 200.0):
    return bench.mode_row(
        mode, rps, concurrency=c, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95 * 2,
        cpu_s_per_1k=cpu, peak_rss_mb=mb,
    )  # fmt: skip


FIXTURES = {
    # lab 1: two modes at three concurrencies, plus a row from an engine this file never heard of
    "lab1.json": [
        *(
            online("FastAPI threadpool, 1 worker", c, r, p)
            for c, r, p in ((1, 600, 2), (8, 900, 12), (32, 950, 45))
        ),
        *(
            online("FastAPI batched, 1 worker", c, r, p, 0.5)
            for c, r, p in ((1, 400, 3), (8, 1500, 8), (32, 1800, 25))
        ),
        online("Ray Serve, 2 replicas", 32, 150, 60, 4.0, 900),
    ],
    "lab2_diagnose.json": [online("Flask gthread-2x4 (light /predict)", 4, 90, 30, 6.0, 300)],
    "lab4.json": [online("TF Serving gRPC, 1 image", 1, 250, 4, 3.0, 400)],
    "lab5.json": [
        online("Lab 5 real-time service", 8, 300, 40, 1.8, 250),
        bench.mode_row(
            "Lab 5 batch (Parquet in/out)", 180_000, "batch", cpu_s_per_1k=0.0055, peak_rss_mb=390
        ),
    ],
}


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    """Benchmark JSON as the bench-N targets write it; lab 3 never ran."""
    folder = tmp_path_factory.mktemp("bench")
    for name, modes in FIXTURES.items():
        bench.write_report(folder / name, {"rows": [], "modes": modes})
    # A lab's own plot beside its JSON, and a lab-2 JSON from before modes were recorded.
    bench.bar_plot(folder / "lab4.png", ["a", "b"], {"s": [1, 2]}, "ms", "lab 4 own plot")
    bench.write_report(folder / "lab2_gil.json", {"rows": [{"threads": 4, "seconds": 1.0}]})
    return folder


@pytest.fixture(scope="module")
def page(bench_dir, tmp_path_factory) -> Path:
    return report.build(tmp_path_factory.mktemp("report"), bench_dir, PRICES)


def test_every_lab_is_collected_and_extra_modes_come_from_the_data(bench_dir):
    labs, modes = report.load_modes(bench_dir)
    assert [lab.number for lab in labs] == [1, 2, 3, 4, 5]
    assert not labs[2].ran and labs[2].command == "make bench-3"
    assert "Ray Serve, 2 replicas" in modes
    assert len(modes["FastAPI batched, 1 worker"]) == 3
    assert {row["lab"] for row in modes["Lab 5 batch (Parquet in/out)"]} == {"lab 5"}


def test_cost_per_million_and_fixed_costs_follow_the_prices():
    row = online("m", 8, 1000.0, 10.0, cpu=2.0, mb=1024.0)
    # 2 CPU s per 1k -> 2,000 CPU s per million = 0.5556 vCPU-h; 1 GB held for 1,000 s.
    expected = 2000 / 3600 * 0.04 + 1.0 * 1000 / 3600 * 0.004
    assert cost.per_million(row, PRICES) == pytest.approx(expected)
    # it kept 2 cores busy (2 CPU s/1k at 1,000/s) and 1 GB: 24 h of that, always on
    assert cost.always_on_per_day(row, PRICES) == pytest.approx(24 * (2 * 0.04 + 1 * 0.004))
    batch = bench.mode_row("b", 10_000, "batch", cpu_s_per_1k=0.1, peak_rss_mb=300)
    hours = (5e6 / 10_000 + PRICES.batch_startup_seconds) / 3600
    assert cost.window_cost(batch, 5e6, PRICES) == pytest.approx(hours * (1 * 0.04 + 0.5 * 0.004))
    assert cost.per_million({"mode": "x", "rps": 5.0}, PRICES) is None  # not measured


def test_the_price_file_is_the_one_source(tmp_path, monkeypatch):
    default = cost.load_prices()
    assert default.vcpu_hour > 0 and default.source and default.date
    mine = tmp_path / "prices.toml"
    mine.write_text('source = "my cloud"\ndate = "2026-12-01"\nvcpu_hour = 1.0\ngb_hour = 0.5\n')
    monkeypatch.setenv(cost.PRICES_ENV, str(mine))
    assert cost.load_prices().vcpu_hour == 1.0
    mine.write_text("vcpu_hour = 1.0\n")
    with pytest.raises(SystemExit, match="missing date, gb_hour, source"):
        cost.load_prices(mine)


def test_advisor_online_says_which_modes_meet_and_why_the_others_do_not(bench_dir):
    _, modes = report.load_modes(bench_dir)
    verdicts = {v.mode: v for v in cost.advise_online(modes, 50, 200, PRICES)}
    assert verdicts["FastAPI batched, 1 worker"].meets
    assert verdicts["FastAPI threadpool, 1 worker"].meets
    assert verdicts["FastAPI batched, 1 worker"].row["concurrency"] == 32  # fastest within 50 ms
    ray = verdicts["Ray Serve, 2 replicas"]
    assert not ray.meets and "p95 60 ms" in ray.why
    flask = verdicts["Flask gthread-2x4 (light /predict)"]
    assert not flask.meets and "3 such replicas" in flask.why  # 200 / 90 per s
    assert not verdicts["Lab 5 batch (Parquet in/out)"].meets
    # a mode measured with 16 rows per request answers clients that batch, not this question
    batching = {"lab9.json": [online("TF gRPC, 16 images", 32, 9_000, 5, 0.1, 300)]}
    batching["lab9.json"][0]["predictions_per_request"] = 16
    tf = cost.advise_online({"TF": batching["lab9.json"]}, 50, 200, PRICES)[0]
    assert not tf.meets and "16 rows per request" in tf.why
    assert cost.advise_online({"TF": batching["lab9.json"]}, 50, 200, PRICES, 0, True)[0].meets
    # cheapest meeting mode first
    ranked = cost.advise_online(modes, 50, 200, PRICES)
    assert [v.meets for v in ranked[:3]] == [True, True, True]
    assert ranked[0].cost <= ranked[1].cost <= ranked[2].cost
    # within 3 ms only the c=1 points count: 600/s (threadpool) and 400/s (batched)
    strict = {v.mode: v for v in cost.advise_online(modes, 3, 500, PRICES)}
    assert strict["FastAPI threadpool, 1 worker"].meets
    assert strict["FastAPI threadpool, 1 worker"].row["concurrency"] == 1
    batched = strict["FastAPI batched, 1 worker"]
    assert (
        not batched.meets and "only 400 pred/s" in batched.why and "2 such replicas" in batched.why
    )


def test_advisor_batch_and_its_command_line(bench_dir, capsys):
    _, modes = report.load_modes(bench_dir)
    verdicts = {v.mode: v for v in cost.advise_batch(modes, 5e6, 6, PRICES)}
    assert verdicts["Lab 5 batch (Parquet in/out)"].meets
    assert not verdicts["Flask gthread-2x4 (light /predict)"].meets  # 5e6 / 90 per s = 15 h
    assert "15.45 h" in verdicts["Flask gthread-2x4 (light /predict)"].why
    argv = ["advise", "--daily-rows", "5e6", "--deadline-h", "6", "--bench-dir", str(bench_dir)]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "MEET the constraint" in out and "Lab 5 batch (Parquet in/out)" in out
    assert cli(["advise", "--p95-ms", "50", "--bench-dir", str(bench_dir)]) == 2


# --- the page in a real browser --------------------------------------------------------------


class Browser:
    """Headless Chromium driven over the DevTools protocol (websockets, loopback only)."""

    def __init__(self, binary: str, profile: Path):
        self.proc = subprocess.Popen(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", f"--user-data-dir={profile}",
                "--window-size=1280,900", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert self.proc.poll() is None, f"chromium exited with {self.proc.returncode}"
            assert time.monotonic() < deadline, "chromium wrote no DevToolsActivePort in 60 s"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        from websockets.sync.client import connect

        self.stack = contextlib.ExitStack()
        url = target["webSocketDebuggerUrl"]
        self.ws = self.stack.enter_context(connect(url, max_size=None, open_timeout=30))
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=120))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]
            self.events.append(msg)

    def open(self, url: str) -> list[str]:
        """Navigate, wait for the load event; the console errors and exceptions it raised."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(json.loads(self.ws.recv(timeout=120)))
        self.send("Runtime.evaluate", expression="1")  # drain what the load queued
        return [_error(e) for e in self.events if _error(e)]

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self.stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _error(event: dict) -> str:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a)) for a in params.get("args", []))
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return "exception: " + (details.get("exception", {}).get("description") or str(details))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return "log: " + params["entry"].get("text", "")
    return ""


@pytest.fixture(scope="module")
def browser():
    binary = sysdeps.chromium()
    assert binary, "no Chromium: `make setup` installs Debian's chromium (sysdeps.py)"
    profile = Path(tempfile.mkdtemp(prefix="report-chromium-"))
    b = Browser(binary, profile)
    yield b
    b.close()
    shutil.rmtree(profile, ignore_errors=True)


SECTIONS = """JSON.stringify([...document.querySelectorAll('section.lab')].map(s => ({
  id: s.id, status: s.dataset.status, text: s.innerText,
  plots: [...s.querySelectorAll('img.plot')].map(i => i.complete && i.naturalWidth > 100)})))"""


def test_the_browser_check_catches_a_broken_page(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><script>console.error('boom'); undefinedCall();</script></body></html>"
    )
    errors = browser.open(bad.as_uri())
    assert any("boom" in e for e in errors) and any("undefinedCall" in e for e in errors), errors


def test_the_page_loads_in_chromium_with_every_lab_and_plot(browser, page):
    errors = browser.open(page.as_uri())
    assert errors == [], errors
    sections = {s["id"]: s for s in json.loads(browser.evaluate(SECTIONS))}
    assert sorted(sections) == [f"lab-{n}" for n in range(1, 6)]
    for n in (1, 2, 4, 5):
        s = sections[f"lab-{n}"]
        assert s["status"] == "run" and s["plots"] and all(s["plots"]), (n, s["plots"])
    assert sections["lab-3"]["status"] == "not-run"
    assert "not run" in sections["lab-3"]["text"] and "make bench-3" in sections["lab-3"]["text"]
    assert "Ray Serve, 2 replicas" in sections["lab-1"]["text"]
    assert "re-run make bench-2" in sections["lab-2"]["text"]  # the JSON without modes
    assert len(sections["lab-4"]["plots"]) == 3  # two of the report's, one of the benchmark's
    cost_text = browser.evaluate("document.getElementById('cost').innerText")
    assert "test prices" in cost_text and "per million" in cost_text
    assert browser.evaluate("document.querySelectorAll('#cost img.plot').length") == 1
    advice = browser.evaluate("document.getElementById('advice').innerText")
    assert "--p95-ms 50 --rps 200" in advice and "--daily-rows 5e6 --deadline-h 6" in advice
    # offline: nothing on the page points anywhere but itself
    assert not browser.evaluate(
        "[...document.querySelectorAll('[src],link[href]')]"
        ".some(e => !(e.getAttribute('src') || e.getAttribute('href')).startsWith('data:'))"
    )
    shot = artifacts_root() / "report" / "test-screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
