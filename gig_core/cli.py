"""The `gig` command: one subcommand per pipeline stage, plus generate.

Every stage flag is generated from the stage's config dataclass, so `gig train --help` lists
exactly what params.yaml's `train:` section accepts, and a flag overrides that value.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gig_core.config import DEFAULT_PARAMS, SECTIONS, ConfigError, TrainConfig, load_section
from gig_core.errors import GigError

DEBUG_ENV = "GIG_DEBUG"  # set to 1 for tracebacks instead of one-line errors
# flags of the command, not of a stage's config
NON_CONFIG_FLAGS = {"command", "params", "quiet", "verbose", "attr", "title"}


# Flags named after what they mean where the config key's name is ambiguous: `--model` is a model
# URI in evaluate, generate and serve, but the family in train. The old flag stays, deprecated.
RENAMED_FLAGS = {TrainConfig: {"model": ("--family", "--model")}}


def _add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    renamed = RENAMED_FLAGS.get(cls, {})
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        dest = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            _add_config_flags(parser, tp, prefix=f"{dest}.")
            continue
        flag = "--" + dest.replace(".", "-").replace("_", "-")
        flags = [f"-{f.name}", flag] if len(f.name) == 1 else [flag]
        if f.name in renamed:
            flags = list(renamed[f.name])
        if dest == "out_dir":
            flags.append("--out")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        kwargs: dict[str, Any] = dict(dest=dest, default=argparse.SUPPRESS, help=help_text)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is list:
            kwargs.update(nargs="*", metavar=dest.split(".")[-1].upper())
        else:
            name = renamed[f.name][0].lstrip("-") if f.name in renamed else dest.split(".")[-1]
            kwargs.update(type=tp, metavar=name.upper())
        parser.add_argument(*flags, **kwargs)


def _overrides(namespace: argparse.Namespace, skip: set[str]) -> dict[str, Any]:
    """Dotted flag destinations -> the nested dict that load_section merges over params.yaml."""
    out: dict[str, Any] = {}
    for dest, value in vars(namespace).items():
        if dest in skip:
            continue
        *parents, leaf = dest.split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def _print(result: dict) -> None:
    print(json.dumps(result, indent=2, sort_keys=True, default=str))


def _run_ingest(config, args) -> None:
    from gig_core.data.ingest import ingest_catalog

    summary = ingest_catalog(config, progress=not args.quiet)
    print(
        f"ingest: {summary['source']}: {summary['rows']} rows, {summary['accepted']} accepted, "
        f"{summary['quarantined']} quarantined ({summary['quarantined_fraction']:.2%}; "
        f"see {config.out_dir}/quarantine.csv)"
    )
    for reason, count in summary["reasons"].items():
        print(f"  {count:6d}  {reason}")
    print(f"  images fetched {summary['fetched_images']}, reused from the previous run {summary['reused_images']}")


def _run_preprocess(config, args) -> None:
    from gig_core.data.preprocess import preprocess_catalog

    summary = preprocess_catalog(config, progress=not args.quiet)
    print(
        f"preprocess: {summary['train_images']} train / {summary['heldout_images']} held-out images "
        f"at {summary['resolution']}px in {config.out_dir}"
    )


def _run_train(config, args) -> None:
    from gig_core.training.launch import launch_training

    summary = launch_training(config, progress=not args.quiet)
    print(f"train: {summary['steps']} steps at {summary['images_per_second']} images/s; sample grid {summary['grid']}")


def _run_evaluate(config, args) -> None:
    from gig_core.evaluation.evaluate import evaluate

    _print(evaluate(config, progress=not args.quiet, display=load_section("postprocess", args.params)))
    if config.report:
        print(f"evaluate: report {Path(config.out_dir) / 'report.html'}")


def _run_register(config, args) -> None:
    from gig_core.registry.register import register

    result = register(config, progress=not args.quiet, display=load_section("postprocess", args.params))
    waiting = "; waiting for approval in the gallery (register.approval: required)" if result.approval else ""
    print(
        f"register: {result.model_name} version {result.version} aliases {result.aliases}; "
        f"{result.promotion['reason']}{waiting}"
    )


def _run_generate(config, args) -> None:
    from gig_core.generate import generate_images_to

    attributes = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--attr expects KEY=VALUE, got {item!r}")
        attributes[key] = value
    written = generate_images_to(config, attributes, load_section("postprocess", args.params), args.title)
    print(f"generate: wrote {len(written.images)} images to {written.folder}; labelled grid {written.grid}")


def _run_serve(config, args) -> None:
    from gig_core.generate import load_bundle
    from gig_core.serving.app import build_app
    from gig_core.serving.listen import http_address, listening_socket, serve_forever

    sock = listening_socket(config.host, config.port, "serve")
    bundle = load_bundle(config.model, config.tracking_uri)
    print(
        f"serve: {config.model} on {http_address(sock)}/invocations (at most "
        f"{config.max_images} images, {config.max_rows} rows, {config.max_body_bytes} bytes per request)",
        flush=True,
    )
    serve_forever(build_app(bundle, config, load_section("postprocess", args.params)), sock,
                  limit_concurrency=config.max_waiting + 8)


def _run_gallery(config, args) -> None:
    from gig_core.gallery.app import build_gallery
    from gig_core.serving.listen import http_address, listening_socket, serve_forever

    sock = listening_socket(config.host, config.port, "gallery")
    app = build_gallery(config, load_section("postprocess", args.params), load_section("register", args.params))
    print(f"gallery: {config.model_name} from {config.tracking_uri} on {http_address(sock)}/", flush=True)
    serve_forever(app, sock, limit_concurrency=32)


STAGES: dict[str, tuple[Callable[[Any, argparse.Namespace], None], str]] = {
    "ingest": (_run_ingest, "Validate a catalog folder; write catalog.parquet and quarantine.csv."),
    "preprocess": (_run_preprocess, "Pad, resize and split the accepted photos into uint8 tensors."),
    "train": (_run_train, "Train a generator; write checkpoint, sample grids and loss curves."),
    "evaluate": (
        _run_evaluate,
        "Score a generator or a folder of images against held-out real images; write metrics.json and report.html.",
    ),
    "register": (_run_register, "Log to MLflow, register the model, move challenger/champion aliases."),
    "generate": (_run_generate, "Write display-ready PNGs and a labelled grid of a registered model or train output."),
    "serve": (_run_serve, "Serve a generator over HTTP (MLflow's scoring protocol), with request limits."),
    "gallery": (_run_gallery, "A web page to generate, compare, download and approve the registered model's images."),
}


def _sample_catalog(args) -> None:
    from gig_core.data.sample import materialize_sample_catalog, sample_catalog_path

    copied = materialize_sample_catalog(args.dest)
    print(
        f"sample catalog: {'copied to' if copied else 'already present at'} {args.dest} (from {sample_catalog_path()})"
    )


def _summary(args) -> None:
    from gig_core.summary import print_summary

    print_summary(args.params)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gig_core")
    except PackageNotFoundError:  # run from a checkout that was not pip-installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gig", description="GIG: product-image generators from a catalog.")
    parser.add_argument("--version", action="version", version=f"gig {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, description) in STAGES.items():
        sub = commands.add_parser(name, help=description, description=description + " Flags override params.yaml.")
        sub.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: params.yaml)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        sub.add_argument(
            "--verbose", action="store_true", help=f"show the traceback of an error (or set {DEBUG_ENV}=1)"
        )
        _add_config_flags(sub, SECTIONS[name])
        if name == "generate":
            sub.add_argument(
                "--attr",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="attribute of the images, e.g. --attr articleType=Tshirts (repeatable)",
            )
            sub.add_argument(
                "--title",
                action="append",
                default=[],
                metavar="TEXT",
                help='a product title, for a title model (train.model: tgan), e.g. --title "Women Pink Sports Watch"; '
                "repeatable: -n images per title, one grid row each",
            )
    sample = commands.add_parser("sample-catalog", help="Copy the bundled sample catalog to a folder (once).")
    sample.add_argument("dest", nargs="?", default="data")
    summary = commands.add_parser("summary", help="Print where the demo's grid, metrics and model are.")
    summary.add_argument("--params", default=DEFAULT_PARAMS)
    return parser


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """One line for the user and the exit status: 2 for input they can fix, 1 for an internal error."""
    if isinstance(exc, (GigError, FileNotFoundError, ValueError, PermissionError, IsADirectoryError)):
        text, status = str(exc), 2
    else:
        text, status = (
            (
                f"internal error {type(exc).__name__}: {exc}; rerun with --verbose (or {DEBUG_ENV}=1) "
                f"for the traceback and report it"
            ),
            1,
        )
    line = " ".join(text.split())  # one line, whatever the exception carried
    return (line[:997] + "..." if len(line) > 1000 else line), status


def _warn_deprecated_flags(command: str, argv: list[str]) -> None:
    for cls, names in RENAMED_FLAGS.items():
        if SECTIONS.get(command) is not cls:
            continue
        for new, *old in names.values():
            if any(arg == flag or arg.startswith(flag + "=") for arg in argv for flag in old):
                print(f"gig {command}: warning: {'/'.join(old)} is deprecated here; use {new}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _warn_deprecated_flags(args.command, sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "sample-catalog":
            _sample_catalog(args)
        elif args.command == "summary":
            _summary(args)
        else:
            run, _ = STAGES[args.command]
            config = load_section(args.command, args.params, _overrides(args, NON_CONFIG_FLAGS))
            run(config, args)
    except Exception as exc:
        if getattr(args, "verbose", False) or os.environ.get(DEBUG_ENV):
            raise
        line, status = describe_failure(exc)
        print(f"gig {args.command}: error: {line}", file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
