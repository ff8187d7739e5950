"""Find the Java 17 that TorchServe's frontend needs, also when ``java`` is not on PATH.

Homebrew's ``openjdk@17`` is keg-only: installed, but not linked into PATH. TorchServe runs
``$JAVA_HOME/bin/java`` when JAVA_HOME is set, so a found JDK is passed that way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HOMEBREW_JDKS = (Path("/opt/homebrew/opt/openjdk@17"), Path("/usr/local/opt/openjdk@17"))
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
    for jdk in HOMEBREW_JDKS:
        if (jdk / "bin" / "java").exists():
            hint = (
                f"java is not on PATH; using Homebrew's {jdk}. To put it on PATH for good: "
                f"echo 'export PATH=\"{jdk}/bin:$PATH\"' >> ~/.zshrc"
            )
            return {"JAVA_HOME": str(jdk)}, hint
    raise JavaNotFound(f"TorchServe needs Java 17 and none was found on PATH; {INSTALL_HINT}")
