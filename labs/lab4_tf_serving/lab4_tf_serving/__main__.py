"""``python -m lab4_tf_serving {export,inspect,serve,predict,lab,bench}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_models.tasks import CLI_EXIT_CODE, TaskNotImplemented


def _export(args) -> int:
    from lab4_tf_serving.export import export_all
    from lab4_tf_serving.settings import Settings

    for path in export_all(args.out or Settings().models_dir):
        print(f"exported {path}")
    return 0


def _inspect(args) -> int:
    from lab4_tf_serving.savedmodel import show_all, version_dirs

    target = Path(args.dir)
    if (target / "saved_model.pb").is_file():
        print(show_all(target))
        return 0
    versions = version_dirs(target)
    if not versions:
        print(f"{target}: neither a SavedModel nor a base path with version dirs", file=sys.stderr)
        return 1
    for v in versions:
        print(f"== {target / str(v)}")
        print(show_all(target / str(v)))
    return 0


def _predict(args) -> int:
    from lab4_tf_serving.client import demo

    return demo(args.rest, args.grpc, args.model, args.version, args.label, args.n, args.columnar)


def _lab(args) -> int:
    from lab4_tf_serving.launcher import main as lab

    return lab(print_only=args.print_cmd)


def _bench(args) -> int:
    from lab4_tf_serving.bench import main as bench

    return bench(quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab4_tf_serving", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="the TF-Serving-compatible local STAND-IN server (see --help)")
    p = sub.add_parser("export", help="export the Keras digits models as SavedModels")
    p.add_argument("--out", default=None, help="default: artifacts/lab4/models")
    p.set_defaults(run=_export)
    p = sub.add_parser("inspect", help="print signatures, like `saved_model_cli show --all`")
    p.add_argument("dir", help="a version directory, or a model base path (all versions)")
    p.set_defaults(run=_inspect)
    p = sub.add_parser("predict", help="send a few test digits over REST and gRPC")
    p.add_argument("--rest", default="http://127.0.0.1:8501")
    p.add_argument("--grpc", default="127.0.0.1:8500")
    p.add_argument("--model", default="digits")
    p.add_argument("--label", default=None)
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--columnar", action="store_true", help="REST columnar format ('inputs')")
    p.add_argument("-n", type=int, default=3)
    p.set_defaults(run=_predict)
    p = sub.add_parser("lab", help="start TF Serving (binary, Docker/podman) or the stand-in")
    p.add_argument("--print-cmd", action="store_true", help="print the command, start nothing")
    p.set_defaults(run=_lab)
    p = sub.add_parser("bench", help="REST vs gRPC latency over payload sizes")
    p.add_argument("--quick", action="store_true")
    p.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "serve":  # its own parser: flags spelled like the real server's
            from lab4_tf_serving.server import main as serve

            return serve(argv[1:])
        args = build_parser().parse_args(argv)  # unknown flags are an error, not ignored
        return args.run(args)
    except TaskNotImplemented as exc:
        print(exc, file=sys.stderr)
        return CLI_EXIT_CODE


if __name__ == "__main__":
    raise SystemExit(main())
