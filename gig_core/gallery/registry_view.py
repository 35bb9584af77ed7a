"""What the gallery shows of the registry: every version with its metrics, verdict and approval,
the generators behind champion and challenger (read weights-only), a version's evaluation report."""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gig_core.registry.approval import APPROVAL, alias_version
from gig_core.registry.loading import load_generator
from gig_core.registry.promotion import CHALLENGER, CHAMPION
from gig_core.sampling import GeneratorBundle
from gig_core.tracking import check_registry

# fid_ci_low/high are the interval of fid_bias_corrected (the raw FID is biased upwards)
METRICS = ("fid", "fid_bias_corrected", "fid_ci_low", "fid_ci_high", "fid_floor", "fid_real_n", "c2st_accuracy",
           "c2st_ci_low", "c2st_ci_high", "c2st_tested", "c2st_indistinguishable", "c2st_floor",
           "within_class_diversity", "precision", "recall", "r_precision", "r_precision_real")
REPORT_ARTIFACT = "evaluation/report.html"
CACHED_GENERATORS = 4


@dataclass
class VersionRecord:
    version: str
    created_ms: int
    aliases: list[str]
    run_id: str
    metrics: dict[str, float]
    promoted: str  # True | False | pending
    reason: str
    approval: str  # "" | pending | approved | rejected | stale
    approval_by: str = ""
    approval_comment: str = ""
    approval_message: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.version)


class RegistryView:
    """One registered model's versions, read from the registry at `tracking_uri`."""

    def __init__(self, model_name: str, tracking_uri: str):
        check_registry(tracking_uri, must_exist=True)
        self.model_name, self.tracking_uri = model_name, tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._generators: OrderedDict[str, GeneratorBundle] = OrderedDict()

    def champion_and_challenger(self) -> tuple[str | None, str | None]:
        return (alias_version(self.client, self.model_name, CHAMPION),
                alias_version(self.client, self.model_name, CHALLENGER))

    def record(self, version: str) -> VersionRecord:
        found = self.client.get_model_version(self.model_name, version)
        metrics = {}
        if found.run_id:
            try:
                run_metrics = self.client.get_run(found.run_id).data.metrics
                metrics = {k: float(run_metrics[k]) for k in METRICS if k in run_metrics}
            except MlflowException:
                pass
        tags = dict(found.tags)
        for key in METRICS:  # the evaluation's figures as register tagged them win over the run's latest value
            if key in tags:
                metrics[key] = float(tags[key])
        if "c2st_ci_low" in metrics:  # versions evaluated before the flag was recorded: metrics/c2st.py's rule
            metrics.setdefault("c2st_indistinguishable", float(metrics["c2st_ci_low"] <= 0.5))
        return VersionRecord(
            version=str(found.version), created_ms=int(found.creation_timestamp or 0), aliases=sorted(found.aliases),
            run_id=found.run_id or "", metrics=metrics, promoted=tags.get("promoted", ""),
            reason=tags.get("promotion_reason", ""), approval=tags.get(APPROVAL, ""),
            approval_by=tags.get("approval.by", ""), approval_comment=tags.get("approval.comment", ""),
            approval_message=tags.get("approval.message", ""), description=found.description or "", tags=tags,
        )

    def history(self) -> list[VersionRecord]:
        """Every version, oldest first."""
        versions = self.client.search_model_versions(f"name = '{self.model_name}'")  # without their aliases
        return sorted((self.record(str(v.version)) for v in versions), key=lambda r: r.number)

    def generator(self, version: str) -> GeneratorBundle:
        """The version's generator, weights-only; the last few stay in memory."""
        if version not in self._generators:
            self._generators[version] = load_generator(f"models:/{self.model_name}/{version}", self.tracking_uri)
            while len(self._generators) > CACHED_GENERATORS:
                self._generators.popitem(last=False)
        self._generators.move_to_end(version)
        return self._generators[version]

    def report_html(self, version: str) -> str | None:
        """The evaluation report logged with the version's run, or None when it has none."""
        run_id = self.client.get_model_version(self.model_name, version).run_id
        if not run_id:
            return None
        with tempfile.TemporaryDirectory(prefix="gig-report-") as scratch:
            try:
                path = self.client.download_artifacts(run_id, REPORT_ARTIFACT, scratch)
            except (MlflowException, OSError):
                return None
            return Path(path).read_text(encoding="utf-8")
