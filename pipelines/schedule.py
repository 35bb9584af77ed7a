"""Create the nightly retraining as a recurring run on a Kubeflow Pipelines endpoint:

    .venv/bin/python -m pipelines.schedule --host https://kfp.example.com \\
        --catalog-uri s3://shop-catalog/current/ --mlflow-tracking-uri https://mlflow.example.com \\
        [--cron "0 0 3 * * *"] [--experiment gig] [--param steps=3000 --param model_family=hcgan]

One run at a time (max_concurrency=1: a slow night never overlaps the next), and no catch-up
(a paused schedule does not replay the nights it missed). The cron has six fields, seconds
first, as KFP expects.
"""

from __future__ import annotations

import argparse
import json

from pipelines.compile import COMPILED

JOB_NAME = "gig-nightly-retrain"


def recurring_run_request(args: argparse.Namespace) -> dict:
    """The arguments of kfp.Client.create_recurring_run, apart from the experiment."""
    params = {"catalog_uri": args.catalog_uri, "mlflow_tracking_uri": args.mlflow_tracking_uri}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = json.loads(value) if value[:1] in "[{0123456789-" or value in ("true", "false") else value
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
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="other pipeline parameters")
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
