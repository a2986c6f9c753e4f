"""What a suggester proposes for an item, and the interface every suggester offers.

Contract: this module is light (no spaCy, no scikit-learn), so the UI and the CLI can pass
suggestions around before the heavy libraries are loaded. A `Suggester` turns texts into
`Suggestion`s: a calibrated probability per reason, the reasons above the threshold (what the UI
pre-selects), the evidence behind each (character spans into the text, for highlighting), and
two summary numbers: `confidence` (how sure it is of the whole decision) and `margin` (how close
the least sure reason is to the threshold; the `uncertain` queue orders by it, smallest first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

DEFAULT_THRESHOLD = 0.5


class Evidence(NamedTuple):
    """A span of the text behind a reason. A named tuple: suggesting makes millions of them."""

    start: int
    end: int
    text: str
    weight: float  # how much this span pushed the reason's score up (log-odds, or cue weight)

    def to_json(self) -> list:
        return [self.start, self.end, self.text, round(self.weight, 4)]

    @classmethod
    def from_json(cls, value: Sequence) -> Evidence:
        return cls(int(value[0]), int(value[1]), str(value[2]), float(value[3]))


@dataclass(frozen=True)
class Suggestion:
    probabilities: dict[str, float]
    reasons: tuple[str, ...] = ()
    evidence: dict[str, tuple[Evidence, ...]] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD

    @property
    def confidence(self) -> float:
        """Probability that the whole decision (each reason in or out) is right, assuming independence."""
        conf = 1.0
        for p in self.probabilities.values():
            conf *= p if p >= self.threshold else 1.0 - p
        return conf

    @property
    def margin(self) -> float:
        """Distance of the least certain reason from the threshold: 0 = a coin flip."""
        if not self.probabilities:
            return 0.0
        return min(abs(p - self.threshold) for p in self.probabilities.values())

    def to_row(self, item_id: int, model_id: str) -> dict:
        """The shape `Store.save_suggestions` takes."""
        return {
            "item_id": item_id,
            "model_id": model_id,
            "probabilities": {r: round(p, 4) for r, p in self.probabilities.items()},
            "reasons": list(self.reasons),
            "evidence": {r: [e.to_json() for e in ev] for r, ev in self.evidence.items()},
            "confidence": round(self.confidence, 4),
            "margin": round(self.margin, 4),
        }

    @classmethod
    def from_row(cls, row: dict, threshold: float = DEFAULT_THRESHOLD) -> Suggestion:
        """Back from what `Store.suggestion` returns."""
        return cls(
            probabilities=dict(row["probabilities"]),
            reasons=tuple(row.get("reasons") or ()),
            evidence={r: tuple(Evidence.from_json(e) for e in ev) for r, ev in (row.get("evidence") or {}).items()},
            threshold=threshold,
        )


@runtime_checkable
class Suggester(Protocol):
    """Anything that proposes reasons: the cue-phrase matcher, a trained model, a test fake."""

    model_id: str
    threshold: float

    def suggest(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[Suggestion]:
        ...
