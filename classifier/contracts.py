"""What the classifier hands the rest of the platform: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field


class NoActiveModel(RuntimeError):
    """No model version is active for the role asked for."""


@dataclass(frozen=True)
class ProductPrediction:
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)  # every class, by name
    model_version_id: int = 0
    model_version_name: str = ""

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.scores.items(), key=lambda item: item[1], reverse=True)[:k]
