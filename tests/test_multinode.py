"""Several nodes: (a) the Kubeflow Trainer TrainJob the train step submits, through the real
`kubeflow` SDK against a stand-in Kubernetes API server on 127.0.0.1 that records what it is
sent; (b) a real two-node torchrun rendezvous on localhost (c10d, gloo) whose result equals one
node with two processes."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml

from gig_core.config import TrainConfig
from gig_core.training.launch import LaunchFailed, launch_training
from gig_core.training.trainjob import (
    JOB_PARAMS,
    TrainJobFailed,
    TrainJobTarget,
    job_folder,
    job_name,
    run_trainjob,
    stage_job,
    submit,
)
from tests.conftest import _free_port, tiny_train_config

API = "/apis/trainer.kubeflow.org/v1alpha1"
NAMESPACE = "shop-ml"
TORCH_RUNTIME = {  # Kubeflow Trainer's torch-distributed ClusterTrainingRuntime, as the SDK reads it
    "apiVersion": "trainer.kubeflow.org/v1alpha1",
    "kind": "ClusterTrainingRuntime",
    "metadata": {"name": "torch-distributed", "labels": {"trainer.kubeflow.org/framework": "torch"}},
    "spec": {
        "mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
        "template": {"spec": {"replicatedJobs": [{
            "name": "node",
            "template": {
                "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                "spec": {"template": {"spec": {"containers": [{"name": "node", "image": "pytorch/pytorch"}]}}},
            },
        }]}},
    },
}


class _KubernetesAPI(http.server.BaseHTTPRequestHandler):
    """Answers the calls TrainerClient makes: keeps every TrainJob it is sent, and reports each
    as `outcome` (a TrainJob condition) with one node pod whose log is `node_log`."""

    created: list[dict] = []
    outcome: str | None = None  # None: no pods yet, no conditions
    node_log = ""

    def _answer(self, status: int, body: dict | str) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _job(self, job: dict) -> dict:
        if self.outcome is None:
            return job
        condition = {"type": self.outcome, "status": "True", "reason": self.outcome, "message": "",
                     "lastTransitionTime": "2026-11-30T03:10:00Z"}
        return {**job, "status": {"conditions": [condition]}}

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        jobs = f"{API}/namespaces/{NAMESPACE}/trainjobs"
        pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
        if path == jobs:
            self._answer(200, {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJobList",
                               "items": [self._job(j) for j in self.created]})
        elif path.startswith(f"{jobs}/"):
            name = path.rsplit("/", 1)[1]
            found = [self._job(j) for j in self.created if j["metadata"]["name"] == name]
            self._answer(200, found[0]) if found else self._answer(404, {"kind": "Status", "code": 404})
        elif path.startswith(f"{API}/clustertrainingruntimes/torch-distributed"):
            self._answer(200, TORCH_RUNTIME)
        elif path == pods:
            items = [] if self.outcome is None else [{
                "metadata": {"name": "node-0-pod", "creationTimestamp": "2026-11-30T03:00:01Z",
                             "labels": {"jobset.sigs.k8s.io/replicatedjob-name": "node",
                                        "batch.kubernetes.io/job-completion-index": "0"}},
                "spec": {"containers": [{"name": "node", "image": "gig"}]},
                "status": {"phase": "Succeeded" if self.outcome == "Complete" else "Failed"},
            }]
            self._answer(200, {"apiVersion": "v1", "kind": "PodList", "items": items})
        elif path == f"{pods}/node-0-pod/log":
            self._answer(200, self.node_log)
        else:  # no namespaced TrainingRuntime of that name: the SDK falls back to the cluster's
            self._answer(404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path.startswith(f"{API}/namespaces/{NAMESPACE}/trainjobs"), self.path
        stored = {**body, "metadata": {**body["metadata"], "namespace": NAMESPACE,
                                       "creationTimestamp": "2026-11-30T03:00:00Z"}}
        self.created.append(stored)
        self._answer(201, stored)

    def log_message(self, *args):
        pass


@pytest.fixture
def trainer_client():
    from kubeflow.trainer import KubernetesBackendConfig, TrainerClient
    from kubernetes.client import Configuration

    _KubernetesAPI.created, _KubernetesAPI.outcome, _KubernetesAPI.node_log = [], None, ""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KubernetesAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = Configuration(host=f"http://127.0.0.1:{server.server_port}")
    yield TrainerClient(KubernetesBackendConfig(namespace=NAMESPACE, client_configuration=configuration))
    server.shutdown()


def test_train_step_submits_a_torch_trainjob_running_gig_train_on_every_node(trainer_client, tiny_run, tmp_path):
    config = replace(tiny_run.train, nodes=3, processes=0, out_dir=str(tmp_path / "model"))
    target = TrainJobTarget(image="registry.example.com/gig:0.1.0", shared_pvc="gig-shared",
                            shared_mount=str(tmp_path / "shared"), resources_per_node={"gpu": 4})
    name = job_name(config, data_fingerprint="abc")
    folder = stage_job(config, target, name)
    assert submit(trainer_client, config, target, name) == name
    (job,) = _KubernetesAPI.created
    spec = job["spec"]
    assert job["kind"] == "TrainJob" and job["metadata"]["name"] == name
    assert spec["runtimeRef"]["name"] == "torch-distributed" and spec["runtimeRef"]["kind"] == "ClusterTrainingRuntime"
    trainer = spec["trainer"]
    assert trainer["image"] == target.image and trainer["numNodes"] == 3
    assert float(trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"]) == 4
    params = str(job_folder(target, name) / JOB_PARAMS)
    assert trainer["command"] == ["torchrun", "-m", "gig_core.cli", "train", "--params", params, "--resume", "auto",
                                  "--quiet"]
    node = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    pod = node["template"]["spec"]["template"]["spec"]
    assert node["name"] == "node" and pod["volumes"] == [{"name": "gig-shared",
                                                           "persistentVolumeClaim": {"claimName": "gig-shared"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "gig-shared", "mountPath": target.shared_mount}]

    # What every node reads: the same train config, with data, outputs and checkpoints on the claim.
    staged = yaml.safe_load((folder / JOB_PARAMS).read_text())["train"]
    assert staged["data_dir"] == str(folder / "data") and staged["out_dir"] == str(folder / "train")
    assert staged["resume"] == "auto" and staged["nodes"] == 3 and (folder / "data" / "vocab.json").is_file()
    assert submit(trainer_client, config, target, name) == name and len(_KubernetesAPI.created) == 1  # a retry
    assert job_name(replace(config, out_dir="elsewhere"), "abc") == name != job_name(config, "other data")
    print(f"\nTrainJob {name}: {json.dumps(spec, sort_keys=True)}")


def test_train_step_streams_the_node_log_waits_and_fails_when_the_job_fails(trainer_client, tiny_run, tmp_path,
                                                                              capsys):
    config = replace(tiny_run.train, nodes=2, out_dir=str(tmp_path / "model"))
    target = TrainJobTarget(image="gig", shared_pvc="gig-shared", shared_mount=str(tmp_path / "shared"))
    _KubernetesAPI.outcome, _KubernetesAPI.node_log = "Failed", "step 10 loss_d 1.2\nRuntimeError: NCCL timeout\n"
    with pytest.raises(TrainJobFailed, match=r"TrainJob gig-train-\w+ ended Failed.*retrying the step resumes"):
        run_trainjob(config, target, data_fingerprint="abc", client=trainer_client)
    assert "RuntimeError: NCCL timeout" in capsys.readouterr().out  # node 0's log, in the step's own log
    assert not (tmp_path / "model").exists()  # nothing copied back from a failed job

    # The retried step finds the same job; this time it completed and its outputs are on the claim.
    _KubernetesAPI.outcome, _KubernetesAPI.node_log = "Complete", "step 60 done\n"
    shutil.copytree(tiny_run.train.out_dir, job_folder(target, job_name(config, "abc")) / "train")
    summary = run_trainjob(config, target, data_fingerprint="abc", client=trainer_client)
    assert len(_KubernetesAPI.created) == 1 and summary["steps"] == tiny_run.train.steps
    assert (tmp_path / "model" / "generator.pt").is_file() and "step 60 done" in capsys.readouterr().out


def test_several_nodes_do_not_start_on_one_machine_by_accident(tiny_run, tmp_path):
    with pytest.raises(LaunchFailed, match="train.nodes is 2"):
        launch_training(replace(tiny_run.train, nodes=2, out_dir=str(tmp_path)), progress=False)


def _params(path: Path, config: TrainConfig) -> Path:
    from dataclasses import asdict

    path.write_text(yaml.safe_dump({"train": asdict(config)}, sort_keys=False))
    return path


@pytest.mark.slow
def test_two_nodes_on_localhost_train_exactly_as_one_node_with_two_processes(tiny_run, tmp_path):
    base = tiny_train_config(Path(tiny_run.preprocess.out_dir), tmp_path, steps=12, sample_every=12,
                             log_every=4, tracking_uri="", deterministic=True, threads=1)
    two_nodes = _params(tmp_path / "nodes.yaml", replace(base, out_dir=str(tmp_path / "nodes"), nodes=2, processes=1))
    one_node = replace(base, out_dir=str(tmp_path / "one"), processes=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    port = _free_port()
    nodes = [
        subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
                          "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=gig-test",
                          "-m", "gig_core.cli", "train", "--params", str(two_nodes), "--quiet"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert all(node.returncode == 0 for node in nodes), outputs[0][-3000:] + outputs[1][-3000:]
    launch_training(one_node, progress=False)  # torchrun --standalone --nproc_per_node=2

    summaries = [json.loads((tmp_path / d / "train.json").read_text()) for d in ("nodes", "one")]
    assert summaries[0]["world_size"] == summaries[1]["world_size"] == 2
    generators = [torch.load(tmp_path / d / "generator.pt", weights_only=True)["state_dict"] for d in ("nodes", "one")]
    assert generators[0].keys() == generators[1].keys()
    assert all(torch.equal(generators[0][k], generators[1][k]) for k in generators[0])
    losses = [(tmp_path / d / "losses.csv").read_text() for d in ("nodes", "one")]
    assert _same_losses(*losses)
    print(f"\n2 nodes x 1 process (c10d rendezvous on 127.0.0.1:{port}, gloo) == 1 node x 2 processes: "
          f"{len(generators[0])} generator tensors equal, losses equal")


def _same_losses(a: str, b: str) -> bool:
    """Equal apart from the images/s column, which measures the machine, not the training."""
    def rows(text):
        lines = [line.split(",") for line in text.splitlines()]
        keep = [i for i, name in enumerate(lines[0]) if name != "images_per_s"]
        return [[row[i] for i in keep] for row in lines]
    return rows(a) == rows(b)
