"""Training on several nodes: the pipeline's train step hands the run to Kubeflow Trainer.

When `train.nodes > 1`, the train step submits a TrainJob (Kubeflow Trainer v2, through the
`kubeflow` SDK's TrainerClient) on the torch runtime: `nodes` pods, each running the same
`gig train` under torchrun, which reads the node count, the node's rank and the rendezvous
address from the PET_* variables the runtime sets. Trainer v2 rather than the Training
Operator's PyTorchJob: v2 is what Kubeflow maintains now (v1 is in maintenance), its runtimes
keep cluster details (images, gang scheduling, rendezvous) out of GIG, and the SDK submits,
streams logs and waits without hand-written manifests.

Every node sees one ReadWriteMany volume (a PVC) at the same path. The step copies the
preprocessed data there, writes the resolved train config beside it, and reads the outputs
back when the job completes. Checkpoints land there too, and the job runs with
`--resume auto`: a node restarted by the runtime, or a retried step (the job folder is named by
the run's inputs), continues from the last checkpoint instead of from step 0.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from gig_core.atomic import atomic_file
from gig_core.config import TrainConfig
from gig_core.errors import GigError

VOLUME = "gig-shared"
JOB_PARAMS = "params.yaml"


class TrainJobFailed(GigError):
    """The TrainJob ended Failed (or never finished); its logs were streamed above."""


@dataclass(frozen=True)
class TrainJobTarget:
    """Where and how the job runs: cluster facts, not training settings (those are train.*)."""

    image: str  # the image every node runs: the same one as the pipeline's steps
    shared_pvc: str  # a ReadWriteMany PersistentVolumeClaim mounted by the step and every node
    shared_mount: str = "/mnt/gig-shared"  # where the step and every node see it
    runtime: str = "torch-distributed"  # a (Cluster)TrainingRuntime of the torch framework
    resources_per_node: dict = field(default_factory=lambda: {"gpu": 1})
    namespace: str | None = None  # None: the step's own namespace
    timeout_s: int = 7 * 24 * 3600


def job_name(config: TrainConfig, data_fingerprint: str) -> str:
    """A DNS-safe name fixed by the run's inputs, so a retried step finds its own job and checkpoints."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("data_dir", "out_dir", "resume", "tracking_uri")}
    digest = hashlib.sha256(json.dumps([settings, data_fingerprint], sort_keys=True, default=str).encode())
    return f"gig-train-{digest.hexdigest()[:12]}"


def job_folder(target: TrainJobTarget, name: str) -> Path:
    return Path(target.shared_mount) / "trainjobs" / name


def job_command(params_file: str) -> list[str]:
    """What every node runs; torchrun takes --nnodes, --node-rank, --nproc-per-node and the master
    address from the runtime's PET_* variables."""
    return ["torchrun", "-m", "gig_core.cli", "train", "--params", params_file, "--resume", "auto", "--quiet"]


def job_options(target: TrainJobTarget, name: str, params_file: str) -> list:
    """The SDK options: the job's name, the command, and the shared volume on every node."""
    from kubeflow.trainer.options import (
        ContainerPatch,
        JobSetSpecPatch,
        JobSetTemplatePatch,
        JobSpecPatch,
        JobTemplatePatch,
        Name,
        PodSpecPatch,
        PodTemplatePatch,
        ReplicatedJobPatch,
        RuntimePatch,
        TrainerCommand,
        TrainingRuntimeSpecPatch,
    )

    pod = PodSpecPatch(
        volumes=[{"name": VOLUME, "persistentVolumeClaim": {"claimName": target.shared_pvc}}],
        containers=[ContainerPatch(name="node", volume_mounts=[{"name": VOLUME, "mountPath": target.shared_mount}])],
    )
    node = ReplicatedJobPatch(name="node", template=JobTemplatePatch(spec=JobSpecPatch(
        template=PodTemplatePatch(spec=pod))))
    volume = RuntimePatch(training_runtime_spec=TrainingRuntimeSpecPatch(
        template=JobSetTemplatePatch(spec=JobSetSpecPatch(replicated_jobs=[node]))))
    return [Name(name), TrainerCommand(job_command(params_file)), volume]


def stage_job(config: TrainConfig, target: TrainJobTarget, name: str) -> Path:
    """Copy the data to the shared volume (once) and write the config every node reads."""
    folder = job_folder(target, name)
    data = folder / "data"
    if not data.is_dir():
        shutil.copytree(config.data_dir, folder / "data.partial", dirs_exist_ok=True)
        (folder / "data.partial").rename(data)
    values = {**asdict(config), "data_dir": str(data), "out_dir": str(folder / "train"), "resume": "auto"}
    with atomic_file(folder / JOB_PARAMS, "w") as handle:
        yaml.safe_dump({"train": values}, handle, sort_keys=False)
    return folder


def submit(client, config: TrainConfig, target: TrainJobTarget, name: str) -> str:
    """Submit the TrainJob unless this name already runs (a retried step): returns its name."""
    from kubeflow.trainer import CustomTrainerContainer

    existing = {job.name for job in client.list_jobs()}
    if name in existing:
        return name
    trainer = CustomTrainerContainer(image=target.image, num_nodes=config.nodes,
                                     resources_per_node=dict(target.resources_per_node),
                                     env={"DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1"})
    params_file = str(job_folder(target, name) / JOB_PARAMS)
    return client.train(runtime=target.runtime, trainer=trainer, options=job_options(target, name, params_file))


def run_trainjob(config: TrainConfig, target: TrainJobTarget, data_fingerprint: str, client=None) -> dict:
    """Train on `config.nodes` nodes and copy the outputs to config.out_dir; returns train.json's summary."""
    from gig_core.layout import TrainOutputs

    if client is None:
        from kubeflow.trainer import KubernetesBackendConfig, TrainerClient

        client = TrainerClient(KubernetesBackendConfig(namespace=target.namespace))
    name = job_name(config, data_fingerprint)
    folder = stage_job(config, target, name)
    submit(client, config, target, name)
    for line in client.get_job_logs(name, follow=True):  # node-0's output, as the step's own
        print(line, flush=True)
    job = client.wait_for_job_status(name, status={"Complete", "Failed"}, timeout=target.timeout_s)
    if job.status != "Complete":
        raise TrainJobFailed(
            f"TrainJob {name} ended {job.status}; its node logs are above (kubectl logs -l "
            f"jobset.sigs.k8s.io/jobset-name={name}). Checkpoints are kept in {folder / 'train'}: retrying the "
            f"step resumes from them"
        )
    shutil.copytree(folder / "train", config.out_dir, dirs_exist_ok=True)
    return json.loads(TrainOutputs(config.out_dir).summary.read_text())
