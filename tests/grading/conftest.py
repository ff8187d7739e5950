"""Fixtures: a small instructor repository built in a temp folder — one lab (lab 9) with task
regions in a Python module and a config file, public and hidden checks, an answer template and
a key — so the release and grading tools are tested without the real labs."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

SECRET_SUM = "total = first + second  # the reference sum"
SECRET_CONFIG = "greeting=hello from the reference solution"
SECRET_KEY = "The answer key says forty-two, because of the seed."
SECRET_README = "Instructors: give half marks for a partial diagnosis."

FILES = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        addopts = ["--import-mode=importlib"]
        """,
    "README.md": f"""
        # Demo course

        Run `make lab-9`.

        <!-- BEGIN INSTRUCTOR -->
        ## Grading notes
        {SECRET_README}
        <!-- END INSTRUCTOR -->

        ## Layout
        Labs live in labs/.
        """,
    "labs/lab9_demo/README.md": """
        # Lab 9 — demo

        ## Your tasks
        ### Task 9.1 — Add two numbers (3 points)
        Write `add` in `lab9_demo/core.py`.

        ### Task 9.2 — Configure the greeting (2 points)
        Set `greeting` in `config.properties`.

        ### Task 9.3 — Explain the result (4 points, written, reviewed by hand)
        Answer in `answers/lab9.md`.
        """,
    "labs/lab9_demo/lab9_demo/__init__.py": '"""Lab 9."""\n',
    "labs/lab9_demo/lab9_demo/core.py": f'''
        """The demo lab's code."""


        class TaskNotImplemented(NotImplementedError):
            pass


        def add(first: int, second: int) -> int:
            # BEGIN TASK 9.1: add two numbers
            {SECRET_SUM}
            return total
            # STUB
            # raise TaskNotImplemented("task 9.1 not implemented: add")
            # END TASK 9.1


        def double(value: int) -> int:
            return value * 2
        ''',
    "labs/lab9_demo/config.properties": f"""
        # The demo lab's settings.
        port=0
        # BEGIN TASK 9.2: the greeting
        {SECRET_CONFIG}
        # STUB
        # greeting=CHANGE_ME
        # END TASK 9.2
        """,
    "answers/lab9.md": """
        # Lab 9 answers

        ## Question 9.3
        (your answer)
        """,
    "instructor/lab9.md": f"""
        # Lab 9 key
        {SECRET_KEY}
        """,
    "tests/conftest.py": '"""Shared fixtures (none)."""\n',
    "tests/lab9/test_core.py": """
        from pathlib import Path

        import pytest

        from lab9_demo.core import add, double

        CONFIG = Path(__file__).resolve().parents[2] / "labs/lab9_demo/config.properties"


        @pytest.mark.task("9.1")
        @pytest.mark.points(2)
        def test_add():
            assert add(2, 3) == 5


        @pytest.mark.task("9.2")
        @pytest.mark.points(2)
        def test_greeting():
            assert "greeting=hello" in CONFIG.read_text()


        @pytest.mark.points(0)
        def test_double_internal():
            assert double(2) == 4
        """,
    "tests/lab9/hidden/test_hidden.py": """
        import pytest

        from lab9_demo.core import add


        @pytest.mark.task("9.1")
        @pytest.mark.points(1)
        def test_add_negative():
            assert add(-2, -3) == -5
        """,
}


def git(root: Path, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=root, check=True, capture_output=True)


def make_repo(root: Path, extra: dict[str, str] | None = None) -> Path:
    """Write the demo repository into ``root``, git-init and commit it."""
    for rel, text in {**FILES, **(extra or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "demo")
    return root


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "instructor")


@pytest.fixture
def demo_secrets() -> list[str]:
    """Text that must never reach the demo's student edition."""
    return [SECRET_SUM, SECRET_CONFIG, SECRET_KEY, SECRET_README]
