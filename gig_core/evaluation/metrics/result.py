from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MetricResult:
    values: dict[str, Any] = field(default_factory=dict)  # to metrics.json: floats, or {class: float}
    details: dict[str, Any] = field(default_factory=dict)  # for the report only

    def update(self, other: "MetricResult") -> None:
        self.values.update(other.values)
        self.details.update(other.details)
