"""The `gig` command: one subcommand per pipeline stage, plus generate.

Every stage flag is generated from the stage's config dataclass, so `gig train --help` lists
exactly what params.yaml's `train:` section accepts, and a flag overrides that value.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from collections.abc import Callable
from typing import Any

from gig_core.config import DEFAULT_PARAMS, SECTIONS, ConfigError, load_section
from gig_core.errors import GigError


def _add_config_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        dest = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            _add_config_flags(parser, tp, prefix=f"{dest}.")
            continue
        flag = "--" + dest.replace(".", "-").replace("_", "-")
        flags = [f"-{f.name}", flag] if len(f.name) == 1 else [flag]
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
            kwargs.update(type=tp, metavar=dest.split(".")[-1].upper())
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
    print(f"ingest: {summary['source']}: {summary['rows']} rows, {summary['accepted']} accepted, "
          f"{summary['quarantined']} quarantined ({summary['quarantined_fraction']:.2%}; see {config.out_dir}/quarantine.csv)")
    for reason, count in summary["reasons"].items():
        print(f"  {count:6d}  {reason}")
    print(f"  images fetched {summary['fetched_images']}, reused from the previous run {summary['reused_images']}")


def _run_preprocess(config, args) -> None:
    from gig_core.data.preprocess import preprocess_catalog

    summary = preprocess_catalog(config, progress=not args.quiet)
    print(f"preprocess: {summary['train_images']} train / {summary['heldout_images']} held-out images "
          f"at {summary['resolution']}px in {config.out_dir}")


def _run_train(config, args) -> None:
    from gig_core.training.launch import launch_training

    summary = launch_training(config, progress=not args.quiet)
    print(f"train: {summary['steps']} steps at {summary['images_per_second']} images/s; sample grid {summary['grid']}")


def _run_evaluate(config, args) -> None:
    from gig_core.evaluation.evaluate import evaluate

    _print(evaluate(config, progress=not args.quiet))
    if config.report:
        print(f"evaluate: report {Path(config.out_dir) / 'report.html'}")


def _run_register(config, args) -> None:
    from gig_core.registry.register import register

    result = register(config, progress=not args.quiet)
    print(f"register: {result['model_name']} version {result['version']} aliases {result['aliases']}; "
          f"{result['promotion']['reason']}")


def _run_generate(config, args) -> None:
    from gig_core.generate import generate_grid

    attributes = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--attr expects KEY=VALUE, got {item!r}")
        attributes[key] = value
    print(f"generate: wrote {generate_grid(config, attributes)}")


STAGES: dict[str, tuple[Callable[[Any, argparse.Namespace], None], str]] = {
    "ingest": (_run_ingest, "Validate a catalog folder; write catalog.parquet and quarantine.csv."),
    "preprocess": (_run_preprocess, "Pad, resize and split the accepted photos into uint8 tensors."),
    "train": (_run_train, "Train a generator; write checkpoint, sample grids and loss curves."),
    "evaluate": (_run_evaluate, "Score a generator or a folder of images against held-out real images; write "
                                "metrics.json and report.html."),
    "register": (_run_register, "Log to MLflow, register the model, move challenger/champion aliases."),
    "generate": (_run_generate, "Write a PNG grid of images from a registered model or a train output."),
}


def _sample_catalog(args) -> None:
    from gig_core.data.sample import materialize_sample_catalog, sample_catalog_path

    copied = materialize_sample_catalog(args.dest)
    print(f"sample catalog: {'copied to' if copied else 'already present at'} {args.dest} (from {sample_catalog_path()})")


def _summary(args) -> None:
    from gig_core.summary import print_summary

    print_summary(args.params)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gig", description="GIG: product-image generators from a catalog.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, description) in STAGES.items():
        sub = commands.add_parser(name, help=description, description=description + " Flags override params.yaml.")
        sub.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: params.yaml)")
        sub.add_argument("--quiet", action="store_true", help="no progress bars")
        _add_config_flags(sub, SECTIONS[name])
        if name == "generate":
            sub.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                             help="attribute of the images, e.g. --attr articleType=Tshirts (repeatable)")
    sample = commands.add_parser("sample-catalog", help="Copy the bundled sample catalog to a folder (once).")
    sample.add_argument("dest", nargs="?", default="data")
    summary = commands.add_parser("summary", help="Print where the demo's grid, metrics and model are.")
    summary.add_argument("--params", default=DEFAULT_PARAMS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sample-catalog":
            _sample_catalog(args)
        elif args.command == "summary":
            _summary(args)
        else:
            run, _ = STAGES[args.command]
            config = load_section(args.command, args.params, _overrides(args, {"command", "params", "quiet", "attr"}))
            run(config, args)
    except (GigError, FileNotFoundError, ValueError) as exc:
        print(f"gig {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
