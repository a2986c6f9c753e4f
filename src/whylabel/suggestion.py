"""What a suggester proposes for an item, and the interface every suggester offers.

Contract: this module is light (no spaCy, no scikit-learn), so the UI and the CLI can pass
suggestions around before the heavy libraries are loaded. A `Suggester` turns texts into
`Suggestion`s: a calibrated probability per reason, the reasons above the threshold (what the UI
pre-selects), the evidence behind each (character spans into the text, for highlighting), and
two summary numbers: `confidence` (how sure it is of the whole decision) and `margin` (how close
the least sure reason is to the threshold; the `uncertain` queue orders by it, smallest first).
A suggester may also offer `suggest_batch`, the same suggestions as a `SuggestionBatch` of arrays
(what batch labeling reads); `suggest_batch(suggester, ...)` gives that form for any suggester.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .codebook import Codebook

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


_tuple_new = tuple.__new__


class EvidenceUnits(NamedTuple):
    """The evidence spans of a batch as parallel lists, by (text, reason) pair and, within a pair,
    strongest first: batch labeling reads the words without an `Evidence` per span."""

    pair: list[int]  # index of the pair (SuggestionBatch.pair_text / pair_reason)
    start: list[int]
    end: list[int]
    text: list[str]
    weight: list[float]

    @classmethod
    def empty(cls) -> EvidenceUnits:
        return cls([], [], [], [], [])

    def spans(self, pairs: int) -> list[tuple[Evidence, ...]]:
        """Per pair, its spans as `Evidence` (made without the keyword layer of a named tuple's __new__)."""
        out: list[tuple[Evidence, ...]] = [()] * pairs
        evs = [_tuple_new(Evidence, x) for x in zip(self.start, self.end, self.text, self.weight)]
        p, n, i = self.pair, len(self.pair), 0
        while i < n:
            j = i + 1
            while j < n and p[j] == p[i]:
                j += 1
            out[p[i]] = tuple(evs[i:j])
            i = j
        return out

    @classmethod
    def of(cls, evidence: Sequence[Sequence[Evidence]]) -> EvidenceUnits:
        """From spans per pair (sorted here, strongest first)."""
        pair, start, end, text, weight = [], [], [], [], []
        for k, spans in enumerate(evidence):
            for e in sorted(spans, key=lambda e: -e.weight):
                pair.append(k)
                start.append(e.start)
                end.append(e.end)
                text.append(e.text)
                weight.append(e.weight)
        return cls(pair, start, end, text, weight)


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


_new = object.__new__
_setattr = object.__setattr__


@dataclass
class SuggestionBatch:
    """The suggestions for a batch of texts as arrays, for batch labeling: on a million rows one
    `Suggestion` object per text costs about a tenth of the model's own time.

    `probabilities` and `chosen` are numpy arrays (texts, reasons) in `reasons` order; evidence is
    given per (text, reason) pair: `pair_text`, `pair_reason`, and the spans in `units`.
    """

    reasons: tuple[str, ...]
    probabilities: Any
    chosen: Any
    threshold: float
    pair_text: list[int]
    pair_reason: list[int]
    units: EvidenceUnits
    confidence: Any = None  # (texts,) as `Suggestion.confidence`; None: computed from the probabilities
    vectors: Any = None  # (texts, DIM) sentence vectors the suggester read, to keep; None: words only

    def __len__(self) -> int:
        return len(self.probabilities)

    def suggestions(self) -> list[Suggestion]:
        reasons, thr = self.reasons, self.threshold
        per_text: list[dict] = [{} for _ in range(len(self))]
        for d, r, ev in zip(self.pair_text, self.pair_reason, self.units.spans(len(self.pair_text))):
            per_text[d][reasons[r]] = ev
        picked: dict[tuple, tuple[str, ...]] = {}
        out = []
        for row, chosen, ev in zip(self.probabilities.tolist(), self.chosen.tolist(), per_text):
            key = tuple(chosen)
            names = picked.get(key)
            if names is None:
                names = picked[key] = tuple(r for r, c in zip(reasons, chosen) if c)
            s = _new(Suggestion)  # frozen dataclass: its __init__ is the slow part at this volume
            _setattr(s, "__dict__", {"probabilities": dict(zip(reasons, row)), "reasons": names,
                                     "evidence": ev, "threshold": thr})
            out.append(s)
        return out

    def confidences(self) -> Any:
        if self.confidence is not None:
            return self.confidence
        import numpy as np

        P = self.probabilities
        F = np.where(P >= self.threshold, P, 1.0 - P)
        conf = np.ones(len(P))
        for r in range(F.shape[1]):  # in reason order, as `Suggestion.confidence` multiplies
            conf *= F[:, r]
        return conf

    @classmethod
    def of(cls, suggestions: Sequence[Suggestion], reasons: Sequence[str]) -> SuggestionBatch:
        """The batch form of any suggester's suggestions (reasons it does not know get 0)."""
        import numpy as np

        reasons = tuple(reasons)
        P = np.array([[s.probabilities.get(r, 0.0) for r in reasons] for s in suggestions], dtype=np.float64)
        P = P.reshape(len(suggestions), len(reasons))
        chosen = np.array([[r in s.reasons for r in reasons] for s in suggestions], dtype=bool)
        chosen = chosen.reshape(P.shape)
        index = {r: i for i, r in enumerate(reasons)}
        pd, pr, ev = [], [], []
        for d, s in enumerate(suggestions):
            for r, spans in s.evidence.items():
                if r in index and spans:
                    pd.append(d)
                    pr.append(index[r])
                    ev.append(spans)
        thr = suggestions[0].threshold if suggestions else DEFAULT_THRESHOLD
        conf = np.array([s.confidence for s in suggestions], dtype=np.float64)
        return cls(reasons, P, chosen, thr, pd, pr, EvidenceUnits.of(ev), conf)


@runtime_checkable
class Suggester(Protocol):
    """Anything that proposes reasons: the cue-phrase matcher, a trained model, a test fake."""

    model_id: str
    threshold: float

    def suggest(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[Suggestion]:
        ...


SuggesterFactory = Callable[["Codebook"], Suggester]
"""(codebook) -> Suggester: how `predict` workers and the labeling UI get a suggester other than
the model lookup's. A module-level function when it must cross into worker processes (pickled)."""


def suggest_batch(suggester: Suggester, texts: Sequence[str], langs: Sequence[str | None] | None,
                  reasons: Sequence[str]) -> SuggestionBatch:
    """A suggester's batch form: its own `suggest_batch` when it has one (the model), else built
    from `suggest`."""
    own = getattr(suggester, "suggest_batch", None)
    if own is not None:
        return own(texts, langs)
    return SuggestionBatch.of(suggester.suggest(texts, langs), reasons)
