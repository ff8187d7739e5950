"""The shared package's layering and manners: no import cycle, TensorFlow quiet on `list`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import course_models


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )


def _imports(path: Path) -> set[str]:
    """course_models modules a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("course_models.")}


@pytest.mark.points(0)
def test_the_shared_package_has_no_import_cycle():
    """The loader calls the scorer's check; the scorer imports only the types they share."""
    package = Path(course_models.__file__).parent
    graph = {f"course_models.{p.stem}": _imports(p) for p in package.glob("*.py")}
    assert "course_models.artifacts" not in graph["course_models.scoring"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert not cycles, f"modules on an import cycle: {cycles}"


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
