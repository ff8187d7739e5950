"""Find the Java 17 that TorchServe's frontend needs, also when ``java`` is not on PATH.

Homebrew's ``openjdk@17`` is keg-only: installed, but not linked into PATH. TorchServe runs
``$JAVA_HOME/bin/java`` when JAVA_HOME is set, so a found JDK is passed that way. Where
Homebrew keeps it is known once, in ``course_models.sysdeps`` (``make setup`` checks the same).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from course_models.sysdeps import homebrew_jdk

INSTALL_HINT = (
    "install Java 17: `sudo apt-get install -y openjdk-17-jre-headless` (Debian/Ubuntu) or "
    "`brew install openjdk@17` (macOS)"
)


class JavaNotFound(RuntimeError):
    pass


def java_env(environ: dict[str, str] | None = None) -> tuple[dict[str, str], str | None]:
    """Extra environment for TorchServe, and a hint to print when the JDK was not on PATH."""
    environ = dict(os.environ if environ is None else environ)
    home = environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return {}, None
    if shutil.which("java", path=environ.get("PATH")):
        return {}, None
    jdk = homebrew_jdk()
    if jdk is not None:
        hint = (
            f"java is not on PATH; using Homebrew's {jdk}. To put it on PATH for good: "
            f"echo 'export PATH=\"{jdk}/bin:$PATH\"' >> ~/.zshrc"
        )
        return {"JAVA_HOME": str(jdk)}, hint
    raise JavaNotFound(f"TorchServe needs Java 17 and none was found on PATH; {INSTALL_HINT}")
