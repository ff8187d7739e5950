"""The shared package's layering and manners: no import cycle, TensorFlow quiet on `list`."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )


@pytest.mark.points(0)
def test_the_scorer_depends_on_neither_the_loader_nor_pandas():
    """The loader calls the scorer's check; the scorer imports only the types they share."""
    out = _python(
        "import sys, course_models.scoring\n"
        "print(sorted(m for m in ('course_models.artifacts', 'pandas') if m in sys.modules))"
    )
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.points(0)
def test_checking_artifacts_starts_no_framework(trained_artifacts):
    """`course_models list` verifies every artifact, the Keras one included, from package
    metadata: TensorFlow is not imported, so none of its native start-up lines are printed."""
    code = (
        "import sys\n"
        "from course_models.__main__ import main\n"
        "main(['list'])\n"
        "print('LOADED', sorted(m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules))"
    )
    out = _python(code)
    assert "LOADED []" in out.stdout, out.stdout
    assert "digits_keras" in out.stdout and "version_mismatch" not in out.stdout, out.stdout
    assert "absl" not in out.stderr and "oneDNN" not in out.stderr, out.stderr
