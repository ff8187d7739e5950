"""Build the .mar archives: the digits CNN (v1, v2) and the support_intent transformer.

Why a state dict + model file and not TorchScript: ``torch.jit.script``/``trace`` are deprecated
in torch 2.13 (they warn), and the eager state dict is the artifact ``make train`` verified. The
archive ships the weights, the one file that defines the architecture
(``course_models/cnn.py``, which imports only torch) and the handler, so the TorchServe worker
needs neither this repository nor ``course_models`` installed.

The transformer's archive carries its tokenizer (``--extra-files``): the worker must split
text exactly as during fine-tuning, and must not reach a model hub to find out how.

    python -m lab3_torchserve.package --version 1 --store labs/lab3_torchserve/model_store
    python -m lab3_torchserve.package --model support_intent --store <model store>
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from course_models import cnn
from course_models.artifacts import load_artifact
from course_models.procs import venv_bin
from course_models.tasks import CLI_EXIT_CODE, TaskNotImplemented

MODEL_NAME = "digits_cnn"
TEXT_MODEL = "support_intent"
LAB_DIR = Path(__file__).resolve().parent.parent
HANDLER_FILE = Path(__file__).resolve().parent / "digits_handler.py"
TEXT_HANDLER_FILE = Path(__file__).resolve().parent / "text_handler.py"
MODEL_CONFIG_TEMPLATE = LAB_DIR / "model-config.yaml"
TEXT_MODEL_CONFIG = LAB_DIR / "text-model-config.yaml"
DEFAULT_STORE = LAB_DIR / "model_store"
# Files save_pretrained wrote next to the weights that the worker needs to rebuild model+tokenizer.
TEXT_EXTRA_FILES = (
    "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "index_to_name.json",
)  # fmt: skip


@dataclass
class Staged:
    """The files that go into one archive, and the manifest TorchServe will write for them."""

    directory: Path
    version: str
    weights: Path
    model_file: Path
    handler: Path
    labels: Path
    config: Path

    def manifest(self) -> dict:
        return {
            "model": {
                "modelName": MODEL_NAME,
                "modelVersion": self.version,
                "serializedFile": self.weights.name,
                "modelFile": self.model_file.name,
                "handler": self.handler.name,
            }
        }


def mar_name(version: int, model: str = MODEL_NAME) -> str:
    return f"{model}_v{version}.mar"


def model_version(version: int) -> str:
    """TorchServe version string for artifact version N (what describe/set-default use)."""
    return f"{int(version)}.0"


def stage(version: int, directory: Path, artifacts_root: str | Path | None = None) -> Staged:
    """Verify artifact ``digits_cnn/<version>`` and lay out the archive's files in ``directory``.

    This is also the model directory the handler unit tests initialise from (same files as the
    unpacked .mar), so the tests exercise exactly what TorchServe loads.
    """
    art = load_artifact(MODEL_NAME, version, artifacts_root)  # sha256 + torch version + loads
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / "model.pt"
    shutil.copyfile(art.path / art.metadata["model_file"], weights)
    model_file = directory / Path(cnn.__file__).name
    shutil.copyfile(cnn.__file__, model_file)
    handler = directory / HANDLER_FILE.name
    shutil.copyfile(HANDLER_FILE, handler)
    labels = directory / "index_to_name.json"
    labels.write_text(json.dumps({str(i): str(v) for i, v in enumerate(art.metadata["labels"])}))
    config = yaml.safe_load(MODEL_CONFIG_TEMPLATE.read_text())
    config["handler"].update(
        architecture=art.metadata.get("architecture", {}),
        weights_sha256=art.metadata["sha256"],
        artifact=f"{MODEL_NAME}/{art.version}",
    )
    config_path = directory / "model-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Staged(
        directory, model_version(art.version), weights, model_file, handler, labels, config_path
    )


def archiver_command(staged: Staged, export_path: Path) -> list[str]:
    """The torch-model-archiver call (printed by make mar-3, quoted in the README)."""
    return [
        venv_bin("torch-model-archiver"),
        "--model-name", MODEL_NAME,
        "--version", staged.version,
        "--serialized-file", str(staged.weights),
        "--model-file", str(staged.model_file),
        "--handler", str(staged.handler),
        "--extra-files", str(staged.labels),
        "--config-file", str(staged.config),
        "--export-path", str(export_path),
        "--force",
    ]  # fmt: skip


@dataclass
class StagedText:
    """The transformer's archive files: weights, handler, config, and the tokenizer files."""

    directory: Path
    version: str
    weights: Path
    handler: Path
    config: Path
    extra_files: list[Path] = field(default_factory=list)

    def manifest(self) -> dict:
        return {
            "model": {
                "modelName": TEXT_MODEL,
                "modelVersion": self.version,
                "serializedFile": self.weights.name,
                "handler": self.handler.name,
            }
        }


def stage_text(
    version: int, directory: Path, artifacts_root: str | Path | None = None
) -> StagedText:
    """Verify ``support_intent/<version>`` (weights and tokenizer sha256) and lay out its files."""
    art = load_artifact(TEXT_MODEL, version, artifacts_root)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (art.metadata["model_file"], *TEXT_EXTRA_FILES):
        if (art.path / name).is_file():
            shutil.copyfile(art.path / name, directory / name)
    handler = directory / TEXT_HANDLER_FILE.name
    shutil.copyfile(TEXT_HANDLER_FILE, handler)
    config = yaml.safe_load(TEXT_MODEL_CONFIG.read_text())
    config["handler"].update(
        max_length=int(art.metadata["max_length"]),
        weights_sha256=art.metadata["sha256"],
        artifact=f"{TEXT_MODEL}/{art.version}",
    )
    config_path = directory / "model-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    extras = [directory / n for n in TEXT_EXTRA_FILES if (directory / n).is_file()]
    weights = directory / art.metadata["model_file"]
    return StagedText(directory, model_version(art.version), weights, handler, config_path, extras)


def text_archiver_command(staged: StagedText, export_path: Path) -> list[str]:
    """The torch-model-archiver call for the transformer (printed by make mar-3)."""
    # BEGIN TASK 3.2: package the transformer with torch-model-archiver
    return [
        venv_bin("torch-model-archiver"),
        "--model-name", TEXT_MODEL,
        "--version", staged.version,
        "--serialized-file", str(staged.weights),
        "--handler", str(staged.handler),
        "--extra-files", ",".join(str(p) for p in staged.extra_files),
        "--config-file", str(staged.config),
        "--export-path", str(export_path),
        "--force",
    ]  # fmt: skip
    # STUB
    # raise TaskNotImplemented("3.2", "text_archiver_command (torch-model-archiver call)")
    # END TASK 3.2


def build_text_mar(
    version: int = 1,
    store: str | Path = DEFAULT_STORE,
    artifacts_root: str | Path | None = None,
    verbose: bool = False,
) -> Path:
    """Write ``<store>/support_intent_v<version>.mar``."""
    return _build(TEXT_MODEL, version, store, artifacts_root, verbose)


def build_mar(
    version: int,
    store: str | Path = DEFAULT_STORE,
    artifacts_root: str | Path | None = None,
    verbose: bool = False,
) -> Path:
    """Write ``<store>/digits_cnn_v<version>.mar`` (model name digits_cnn, version N.0)."""
    return _build(MODEL_NAME, version, store, artifacts_root, verbose)


def _build(
    model: str, version: int, store: str | Path, artifacts_root: str | Path | None, verbose: bool
) -> Path:
    """Stage, archive into a temp dir, move into the store as ``<model>_v<version>.mar``."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab3-mar-") as tmp:
        files = Path(tmp) / "files"
        if model == TEXT_MODEL:
            cmd = text_archiver_command(stage_text(version, files, artifacts_root), Path(tmp))
        else:
            cmd = archiver_command(stage(version, files, artifacts_root), Path(tmp))
        if verbose:
            print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, capture_output=not verbose)
        target = store / mar_name(version, model)
        # The archiver names the file after --model-name; keep one file per version in the store.
        shutil.move(Path(tmp) / f"{model}.mar", target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[MODEL_NAME, TEXT_MODEL], default=MODEL_NAME)
    parser.add_argument("--version", type=int, action="append", help="artifact version(s)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    args = parser.parse_args(argv)
    try:
        if args.model == TEXT_MODEL:
            paths = [build_text_mar(v, args.store, verbose=True) for v in args.version or [1]]
        else:
            paths = [build_mar(v, args.store, verbose=True) for v in args.version or [1, 2]]
    except TaskNotImplemented as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(CLI_EXIT_CODE) from None
    for path in paths:
        print(f"built {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
