"""The trainer under preemption, divergence, collapse, MLflow tracking and DDP, via the real CLI."""

import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from gig_core.training.checkpoint import load_checkpoint
from gig_core.training.trainer import ModeCollapseWarning, TrainingDiverged, train
from tests.conftest import tiny_train_config

TINY = dict(g_channels=16, d_channels=16, embed_dim=8, z_dim=32, batch_size=16, lr_g=1e-3, lr_d=1e-3,
            grid_columns=4, deterministic=True, threads=1)


def _gig_train(tmp_path: Path, tiny_run, out: str, **flags) -> subprocess.Popen:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {**TINY, "data_dir": tiny_run.preprocess.out_dir}}))
    args = [
        sys.executable,
        "-m",
        "gig_core.cli",
        "train",
        "--quiet",
        "--params",
        str(params),
        "--out-dir",
        str(tmp_path / out),
    ]
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, f"training ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def _same_weights(a: dict, b: dict) -> bool:
    pairs = [(a["ema"], b["ema"])] + [(a["parts"][n], b["parts"][n]) for n in a["parts"]]
    return all(torch.equal(x[k], y[k]) for x, y in pairs for k in x)


def test_killed_with_sigkill_and_resumed_equals_uninterrupted(tiny_run, tmp_path):
    steps = 300
    straight = _gig_train(tmp_path, tiny_run, "straight", steps=steps, checkpoint_every=25, sample_every=1000)
    killed = _gig_train(tmp_path, tiny_run, "resumed", steps=steps, checkpoint_every=25, sample_every=1000)
    _wait_for(tmp_path / "resumed" / "checkpoint.pt", killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    at_kill = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["step"]
    assert 0 < at_kill < steps
    resumed = _gig_train(
        tmp_path, tiny_run, "resumed", steps=steps, checkpoint_every=25, sample_every=1000, resume="auto"
    )
    assert resumed.wait() == 0, resumed.communicate()
    assert straight.wait() == 0, straight.communicate()
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert a["step"] == b["step"] == steps
    assert _same_weights(a, b), f"resumed from step {at_kill} but the weights differ from an uninterrupted run"


def test_sigterm_writes_a_checkpoint_before_exiting(tiny_run, tmp_path):
    process = _gig_train(tmp_path, tiny_run, "run", steps=100_000, checkpoint_every=0, sample_every=20)
    _wait_for(tmp_path / "run" / "samples" / "step_000020.png", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert 20 <= state["step"] < 100_000
    resumed = _gig_train(
        tmp_path, tiny_run, "run", steps=state["step"] + 5, checkpoint_every=0, sample_every=1000, resume="auto"
    )
    assert resumed.wait() == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == state["step"] + 5


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_run, tmp_path):
    data, out = Path(tiny_run.preprocess.out_dir), tmp_path / "run"
    common = dict(model="wgan-gp", beta1=0.0, regularizer="none", log_every=1, checkpoint_every=1, sample_every=1000)
    train(tiny_train_config(data, out, steps=4, **common), progress=False)
    good = (out / "checkpoint.pt").read_bytes()
    # resumed with absurd learning rates (taken from the config on resume), the weights blow up
    with pytest.raises(TrainingDiverged, match=r"not finite at step 5 .* the last good checkpoint is"):
        train(tiny_train_config(data, out, steps=200, lr_g=1e30, lr_d=1e30, resume="auto", **common), progress=False)
    assert (out / "checkpoint.pt").read_bytes() == good


def _ignore_z(state: dict, z_dim: int) -> None:
    """Zero the weights through which z enters the conditional DCGAN: its images then depend on the labels only."""
    for weights in (state["parts"]["generator"], state["ema"]):
        weights["body.convs.0.weight"][:z_dim] = 0


def test_collapse_guard_names_the_cells_of_a_generator_that_ignores_z(tiny_run, tmp_path):
    """The conditional DCGAN without the mode-seeking term collapses on the tiny catalog by step
    100 by itself; with z cut off from its weights and frozen, every cell shows one image."""
    import csv

    data, out = Path(tiny_run.preprocess.out_dir), tmp_path / "run"
    common = dict(model="cgan", log_every=20, checkpoint_every=0, collapse_threshold=0.3)
    with pytest.warns(
        ModeCollapseWarning, match=r"possible mode collapse at step 100: within \d of \d condition cells"
    ):
        train(tiny_train_config(data, out, steps=100, sample_every=100, **common), progress=False)
    state = load_checkpoint(out / "checkpoint.pt")
    _ignore_z(state, state["arch"]["z_dim"])
    torch.save(state, out / "checkpoint.pt")
    with pytest.warns(
        ModeCollapseWarning,
        match=r"possible mode collapse at step 120: within (\d) of \1 condition "
        r"cells .*Watches / Black 0\.00",
    ):
        summary = train(
            tiny_train_config(data, out, steps=120, lr_g=0.0, resume="auto", sample_every=20, **common), progress=False
        )
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert [int(r["step"]) for r in rows] == [20, 40, 60, 80, 100, 120]
    assert float(rows[-1]["within_class_diversity"]) == 0.0  # the loss plots show it
    assert (
        summary["within_class_diversity"] == 0.0 and summary["within_class_diversity_cells"]["Watches / Black"] == 0.0
    )


def test_collapse_guard_stays_quiet_on_the_default_family(tiny_run, tmp_path):
    import csv

    data, out = Path(tiny_run.preprocess.out_dir), tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModeCollapseWarning)
        summary = train(
            tiny_train_config(
                data, out, model="hcgan", steps=120, log_every=20, sample_every=60, collapse_threshold=0.3
            ),
            progress=False,
        )
    rows = list(csv.DictReader((out / "losses.csv").open()))
    assert min(float(r["within_class_diversity"]) for r in rows) > 0.3 and summary["within_class_diversity_worst"] > 0.3


def test_per_step_metrics_go_to_mlflow(tiny_run, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    summary = train(
        tiny_train_config(
            Path(tiny_run.preprocess.out_dir), tmp_path / "run", steps=6, log_every=2, sample_every=3, tracking_uri=uri
        ),
        progress=False,
    )
    client = MlflowClient(tracking_uri=uri)
    history = client.get_metric_history(summary["mlflow_run_id"], "loss_d")
    assert [m.step for m in history] == [2, 4, 6]
    run = client.get_run(summary["mlflow_run_id"]).data.metrics
    assert {
        "grad_norm_d",
        "grad_norm_g",
        "augment_p",
        "images_per_s",
        "guard_within_class_diversity",  # the collapse guard's estimate; within_class_diversity is the evaluation's
        "guard_within_class_diversity_worst",
    } <= set(run)
    assert "within_class_diversity" not in run


def test_two_process_ddp_on_cpu_with_gloo(tiny_run, tmp_path):
    """`gig train --processes 2` launches two gloo processes through torchrun, as the Kubeflow
    train step does with N GPUs."""
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "train": {
                    **TINY,
                    "data_dir": tiny_run.preprocess.out_dir,
                    "steps": 8,
                    "sample_every": 4,
                    "log_every": 2,
                    "checkpoint_every": 4,
                    "augment": {"ada_target": 0.1, "ada_interval": 2, "ada_kimg": 0.1},
                }
            }
        )
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gig_core.cli",
            "train",
            "--quiet",
            "--params",
            str(params),
            "--processes",
            "2",
            "--out-dir",
            str(tmp_path / "ddp"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 8 steps" in result.stdout
    import json

    summary = json.loads((tmp_path / "ddp" / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 8
    assert summary["augment_p"] > 0  # ADA's probability moved on the signs of both ranks
    state = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert len(state["ranks"]) == 2  # both ranks' data order and RNG, for an exact resume
    assert not torch.equal(state["ranks"][0]["batches"]["order"], state["ranks"][1]["batches"]["order"])
    assert yaml.safe_load((tmp_path / "ddp" / "launch_params.yaml").read_text())["train"]["processes"] == 2


def test_runs_left_running_are_closed_killed_or_failed(tiny_run, tmp_path):
    """SIGKILL leaves the MLflow run RUNNING; the next training of that out_dir marks it KILLED. A run that
    diverges marks itself FAILED."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed = _gig_train(tmp_path, tiny_run, "run", steps=100_000, checkpoint_every=0, sample_every=10,
                        tracking_uri=uri)
    _wait_for(tmp_path / "run" / "samples" / "step_000010.png", killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    client = MlflowClient(tracking_uri=uri)
    (left,) = client.search_runs(client.get_experiment_by_name("gig").experiment_id)
    assert left.info.status == "RUNNING"
    data = Path(tiny_run.preprocess.out_dir)
    train(tiny_train_config(data, tmp_path / "run", steps=2, log_every=1, tracking_uri=uri), progress=False)
    assert client.get_run(left.info.run_id).info.status == "KILLED"

    common = dict(model="wgan-gp", beta1=0.0, regularizer="none", log_every=1, tracking_uri=uri)
    with pytest.raises(TrainingDiverged):
        train(tiny_train_config(data, tmp_path / "diverged", steps=50, lr_g=1e30, lr_d=1e30, **common), progress=False)
    statuses = {r.info.run_id: r.info.status for r in client.search_runs(left.info.experiment_id)}
    assert sorted(statuses.values()) == ["FAILED", "FINISHED", "KILLED"]
