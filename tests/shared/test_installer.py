"""`make lab-N` builds the venv one lab at a time: the installer, and what each lab imports."""

import subprocess
import sys

import pytest

from course_models import installer, sysdeps

PIP_CONFIG = """\
:env:.find-links='/opt/wheels'
global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'
global.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.cert='/etc/ssl/certs/ca.crt'
"""


@pytest.mark.points(0)
def test_pip_configuration_becomes_uv_flags(monkeypatch):
    def fake_run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 0, stdout=PIP_CONFIG, stderr="")

    monkeypatch.setattr(installer.subprocess, "run", fake_run)
    flags, env = installer.uv_source_flags(installer.pip_config("python"))
    assert flags == [
        "--find-links",
        "/opt/wheels",  # once, though pip lists it from the environment and from pip.conf
        "--extra-index-url",
        "file:///opt/a/simple",
        "--extra-index-url",
        "file:///opt/b/simple",
        "--constraint",
        "/etc/xdg/pip/constraints.txt",
        "--index-strategy",
        "unsafe-best-match",
    ]
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca.crt"}


@pytest.mark.points(0)
def test_pip_variables_are_read_when_no_pip_can_print_them(monkeypatch):
    monkeypatch.setattr(installer, "_pip_works", lambda python: False)
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/w1 /w2")
    for var in ("PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_TRUSTED_HOST", "PIP_CERT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    flags, _ = installer.uv_source_flags(installer.configured_sources("python"))
    url = "https://mirror.example/simple"
    assert flags[:6] == ["--index-url", url, "--find-links", "/w1", "--find-links", "/w2"]


@pytest.mark.points(0)
def test_a_failing_step_names_itself_its_log_and_the_command(tmp_path, capsys):
    with pytest.raises(installer.StepFailed):
        installer.step("train churn", [sys.executable, "-c", "print('boom'); exit(3)"], tmp_path)
    err = capsys.readouterr().err
    log = tmp_path / "train-churn.log"
    assert "boom" in log.read_text()
    assert "step failed: train churn" in err and str(log) in err
    assert f"{sys.executable} -c" in err  # the command to rerun


@pytest.mark.points(0)
def test_a_step_prints_one_line_with_its_duration(tmp_path, capsys):
    installer.step("say hello", [sys.executable, "-c", "print('hello ' * 1000)"], tmp_path)
    out = capsys.readouterr().out
    assert out.startswith(">> say hello ... ") and out.endswith(" s\n") and out.count("\n") == 1


@pytest.mark.points(0)
def test_each_lab_asks_only_for_its_system_packages():
    assert [n.what for n in sysdeps.needed(1)] == ["python3.11-venv"]
    assert "redis-server" in [n.what for n in sysdeps.needed(2)]
    assert "java 17" not in [n.what for n in sysdeps.needed(5)]
    assert len(sysdeps.needed()) == len(sysdeps.NEEDS)


# What `make lab-N` starts must import without the heavy frameworks other labs need: a student
# on lab 1 has no torch, TensorFlow or Airflow installed.
HEAVY = {"torch", "tensorflow", "keras", "airflow", "transformers", "ts"}
LAB_ENTRY_POINTS = {
    1: ["lab1_fastapi.app", "lab1_fastapi.__main__"],
    2: ["lab2_flask_celery.app", "lab2_flask_celery.run", "lab2_flask_celery.tasks"],
    5: ["lab5_batch_vs_realtime.service", "lab5_batch_vs_realtime.__main__"],
}
ALLOWED = {5: {"airflow"}}


@pytest.mark.points(0)
@pytest.mark.parametrize("lab", sorted(LAB_ENTRY_POINTS))
def test_a_lab_imports_no_framework_it_does_not_need(lab):
    code = (
        "import importlib, sys\n"
        f"for m in {LAB_ENTRY_POINTS[lab]!r}: importlib.import_module(m)\n"
        "import course_models, course_models.train, course_models.artifacts\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split()) & (HEAVY - ALLOWED.get(lab, set()))
    assert not loaded, f"lab {lab} imports {sorted(loaded)} at import time"
