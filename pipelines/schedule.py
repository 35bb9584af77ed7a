"""Create the nightly retraining as a recurring run on a Kubeflow Pipelines endpoint:

    .venv/bin/python -m pipelines.schedule --host https://kfp.example.com \\
        --catalog-uri s3://shop-catalog/current/ --mlflow-tracking-uri https://mlflow.example.com \\
        [--cron "0 0 3 * * *"] [--experiment gig] [--set train.steps=3000] [--param gpu_limit=4]

The stage settings are params.yaml's, compiled into the pipeline (pipelines/compile.py);
`--set SECTION.KEY=VALUE` overrides one for this schedule, as `dvc exp run -S` does locally.
`--param NAME=VALUE` sets another pipeline parameter (GPUs, node selector, evaluation cache).

One run at a time (max_concurrency=1: a slow night never overlaps the next), and no catch-up
(a paused schedule does not replay the nights it missed). The cron has six fields, seconds
first, as KFP expects.
"""

from __future__ import annotations

import argparse

import yaml

from gig_core.config import resolve_params
from pipelines.compile import COMPILED, PROJECT_PARAMS

JOB_NAME = "gig-nightly-retrain"


def _assignments(items: list[str]) -> dict:
    """NAME=VALUE pairs, each VALUE read as YAML (3000 -> int, true -> bool, [a, b] -> list)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"schedule: expected NAME=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value) if value else ""
    return out


def recurring_run_request(args: argparse.Namespace) -> dict:
    """The arguments of kfp.Client.create_recurring_run, apart from the experiment."""
    params = {"catalog_uri": args.catalog_uri, "mlflow_tracking_uri": args.mlflow_tracking_uri}
    params.update(_assignments(args.param))
    if args.set:
        params["overrides"] = _assignments(args.set)
        resolve_params(PROJECT_PARAMS, params["overrides"])  # a typo fails here, not at 03:00 in the cluster
    return dict(job_name=args.job_name, cron_expression=args.cron, max_concurrency=1, no_catchup=True,
                pipeline_package_path=str(COMPILED), params=params, enable_caching=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="KFP API endpoint")
    parser.add_argument("--catalog-uri", required=True)
    parser.add_argument("--mlflow-tracking-uri", required=True)
    parser.add_argument("--cron", default="0 0 3 * * *", help="six-field cron, seconds first (default: 03:00 daily)")
    parser.add_argument("--experiment", default="gig")
    parser.add_argument("--job-name", default=JOB_NAME)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one params.yaml value for these runs, e.g. train.steps=3000")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="another pipeline parameter, e.g. gpu_limit=4")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import kfp

    args = parse_args(argv)
    client = kfp.Client(host=args.host)
    experiment = client.create_experiment(args.experiment)
    run = client.create_recurring_run(experiment_id=experiment.experiment_id, **recurring_run_request(args))
    print(f"recurring run {run.recurring_run_id} ({args.job_name}): {args.cron}, max_concurrency=1, no catch-up")


if __name__ == "__main__":
    main()
