"""``python -m lab4_tf_serving {export,inspect,serve,predict,lab,bench}``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":  # its own parser: flags spelled like tensorflow_model_server
        from lab4_tf_serving.server import main as serve

        return serve(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m lab4_tf_serving", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("serve", help="the TF-Serving-compatible local STAND-IN server (see --help)")
    p = sub.add_parser("export", help="export the Keras digits models as SavedModels")
    p.add_argument("--out", default=None, help="default: artifacts/lab4/models")
    p = sub.add_parser("inspect", help="print signatures, like `saved_model_cli show --all`")
    p.add_argument("dir", help="a version directory, or a model base path (all versions)")
    p = sub.add_parser("predict", help="send a few test digits over REST and gRPC")
    p.add_argument("--rest", default="http://127.0.0.1:8501")
    p.add_argument("--grpc", default="127.0.0.1:8500")
    p.add_argument("--model", default="digits")
    p.add_argument("--label", default=None)
    p.add_argument("--version", type=int, default=None)
    p.add_argument("-n", type=int, default=3)
    sub.add_parser("lab", help="start TF Serving (Docker/podman) or the stand-in; print URLs")
    p = sub.add_parser("bench", help="REST vs gRPC latency over payload sizes")
    p.add_argument("--quick", action="store_true")
    args, rest = parser.parse_known_args(argv)

    if args.cmd == "export":
        from lab4_tf_serving.export import export_all
        from lab4_tf_serving.settings import Settings

        out = args.out or Settings().models_dir
        for path in export_all(out):
            print(f"exported {path}")
        return 0
    if args.cmd == "inspect":
        from pathlib import Path

        from lab4_tf_serving.savedmodel import show_all, version_dirs

        target = Path(args.dir)
        if (target / "saved_model.pb").is_file():
            print(show_all(target))
            return 0
        versions = version_dirs(target)
        if not versions:
            print(f"{target}: neither a SavedModel nor a base path with version dirs")
            return 1
        for v in versions:
            print(f"== {target / str(v)}")
            print(show_all(target / str(v)))
        return 0
    if args.cmd == "predict":
        from lab4_tf_serving.client import demo

        return demo(args.rest, args.grpc, args.model, args.version, args.label, args.n)
    if args.cmd == "lab":
        from lab4_tf_serving.launcher import main as lab

        return lab(rest)
    if args.cmd == "bench":
        from lab4_tf_serving.bench import main as bench

        return bench(quick=args.quick)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
