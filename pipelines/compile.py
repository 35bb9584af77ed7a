"""Compile the pipeline to YAML (committed; a test fails when it is stale):

    .venv/bin/python -m pipelines.compile [--out pipelines/gig_pipeline.yaml]

Set GIG_IMAGE to the image your cluster pulls (default gig:0.1.0, see components/image.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kfp import compiler

from pipelines.gig_pipeline import gig_pipeline

COMPILED = Path(__file__).with_name("gig_pipeline.yaml")


def compile_pipeline(out: str | Path = COMPILED) -> Path:
    compiler.Compiler().compile(gig_pipeline, package_path=str(out))
    return Path(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(COMPILED))
    print(f"compiled {compile_pipeline(parser.parse_args().out)}")
