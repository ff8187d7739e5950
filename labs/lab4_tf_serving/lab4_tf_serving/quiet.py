"""Quiet TensorFlow start-up: the lab's terminal shows the lab's own lines (``LAB4_TF_LOG_LEVEL``).

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when its C++ library loads, so it is set before
the first ``import tensorflow`` (and inherited by every child process). A few lines (oneDNN, the
CUDA stub) are written through absl *before* that level is read ("All log messages before
absl::InitializeLog() ..."), so above level 0 the import itself runs with file descriptor 2
pointed at a temporary file, replayed only if the import fails; so does the device discovery,
whose ``failed call to cuInit`` is an ERROR line on every machine without a GPU. An import hook
does this for whichever module imports TensorFlow first, however it gets there
(``tensorflow_serving`` imports it too).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager


def tf_log_env(level: int) -> dict[str, str]:
    """What a process of this lab (or a child it starts) needs in its environment."""
    return {"TF_CPP_MIN_LOG_LEVEL": str(level), "LAB4_TF_LOG_LEVEL": str(level)}


@contextmanager
def stderr_captured():
    """fd 2 (C++ writes too, not only ``sys.stderr``) into a file, replayed on an exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; the real finders do the work
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec(module):
                with stderr_captured():
                    exec_module(module)
                    # Platform discovery (cuInit) logs an error on machines without a GPU.
                    module.config.list_physical_devices("GPU")

            spec.loader.exec_module = quiet_exec
        return spec


def install_quiet_tensorflow() -> None:
    from lab4_tf_serving.settings import Settings

    level = Settings().tf_log_level
    os.environ.update(tf_log_env(level))
    if level == 0 or "tensorflow" in sys.modules:
        return
    if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
