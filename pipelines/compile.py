"""Compile the pipeline to YAML with params.yaml as its `params` default (committed; a test fails
when it is stale, so a change to params.yaml reaches production with the next commit):

    .venv/bin/python -m pipelines.compile [--params params.yaml] [--out pipelines/gig_pipeline.yaml]

Set GIG_IMAGE to the image your cluster pulls (default gig:0.1.0, see components/image.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kfp import compiler

from gig_core.config import DEFAULT_PARAMS, read_params_file, resolve_params
from pipelines.gig_pipeline import gig_pipeline

COMPILED = Path(__file__).with_name("gig_pipeline.yaml")
PROJECT_PARAMS = Path(__file__).resolve().parents[1] / DEFAULT_PARAMS


def without_nulls(params: dict) -> dict:
    """params.yaml minus its `null`s (KFP parameters cannot hold one); null means "not set", as absent does."""
    return {k: without_nulls(v) if isinstance(v, dict) else v for k, v in params.items() if v is not None}


def compile_pipeline(out: str | Path = COMPILED, params_file: str | Path = PROJECT_PARAMS) -> Path:
    params = without_nulls(read_params_file(params_file))
    resolve_params(params)  # a bad value fails here, not in the cluster's first step
    compiler.Compiler().compile(gig_pipeline, package_path=str(out), pipeline_parameters={"params": params})
    return Path(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(PROJECT_PARAMS), help="the params.yaml compiled in as the default")
    parser.add_argument("--out", default=str(COMPILED))
    args = parser.parse_args()
    print(f"compiled {compile_pipeline(args.out, args.params)} with the params of {args.params}")
