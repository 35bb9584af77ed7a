"""The human approval gate: with `register.approval: required`, a challenger that passes the
promotion rule waits for a person before it becomes champion.

Register marks such a version `approval=pending` and records which champion it was compared
with. A person approves or rejects it (in the gallery, with the approver token); the decision,
who and why are tags on the model version. Approval re-checks the rule first: the verdict holds
only against the champion it was made against, so when the champion has moved since, the
approval is refused as stale and the version must be registered (compared) again.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gig_core.errors import GigError
from gig_core.registry.promotion import CHAMPION

APPROVAL = "approval"  # tag: pending | approved | rejected | stale
COMPARED_WITH = "approval.compared_with"  # tag: the champion version the rule was checked against ("none")
PENDING, APPROVED, REJECTED, STALE = "pending", "approved", "rejected", "stale"
MAX_COMMENT = 2000


class ApprovalError(GigError):
    """An approval that cannot be carried out; `status` is its HTTP code."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApprovalDecision:
    version: str
    status: str  # approved | rejected | stale
    by: str
    comment: str
    champion: str | None  # the champion after the decision
    message: str


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version `alias` points at, or None when it points nowhere."""
    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def current_champion(client: MlflowClient, model_name: str) -> str | None:
    return alias_version(client, model_name, CHAMPION)


def mark_pending(client: MlflowClient, model_name: str, version: str, compared_with: str | None) -> None:
    client.set_model_version_tag(model_name, version, COMPARED_WITH, compared_with or "none")
    client.set_model_version_tag(model_name, version, APPROVAL, PENDING)


def decide_approval(client: MlflowClient, model_name: str, version: str, approve: bool, by: str,
                    comment: str) -> ApprovalDecision:
    """Approve (promote, if the rule still holds) or reject a pending version; the caller holds the
    registry's promotion lock. Records approval, approval.by, approval.comment, approval.at."""
    by, comment = by.strip(), comment.strip()
    if not by:
        raise ApprovalError("say who decides (the approver's name)", status=400)
    if not comment:
        raise ApprovalError("give a comment: why this version is approved or rejected", status=400)
    if len(comment) > MAX_COMMENT or len(by) > 200:
        raise ApprovalError(f"comment over {MAX_COMMENT} characters or name over 200", status=413)
    try:
        tags = client.get_model_version(model_name, version).tags
    except MlflowException:
        raise ApprovalError(f"{model_name} has no version {version}", status=404) from None
    if tags.get(APPROVAL) != PENDING:
        raise ApprovalError(f"version {version} is not waiting for approval (approval: {tags.get(APPROVAL, 'none')})")
    champion = current_champion(client, model_name)
    compared_with = tags.get(COMPARED_WITH, "none")
    if not approve:
        status, message = REJECTED, f"version {version} rejected; champion stays {champion and 'v' + champion}"
    elif (champion or "none") != compared_with:
        status = STALE
        message = (f"version {version} was compared with champion {compared_with}, but the champion is now "
                   f"v{champion}: the promotion rule's verdict is stale, so it is not promoted; register it "
                   f"again to compare it with v{champion}")
    else:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        status, champion = APPROVED, version
        message = f"version {version} approved and promoted to {CHAMPION}"
    at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    promoted = {APPROVED: "True", REJECTED: "False", STALE: "False"}[status]
    for key, value in {"approval.by": by, "approval.comment": comment, "approval.at": at,
                       "approval.message": message, "promoted": promoted, APPROVAL: status}.items():
        client.set_model_version_tag(model_name, version, key, value)
    return ApprovalDecision(version, status, by, comment, champion, message)
