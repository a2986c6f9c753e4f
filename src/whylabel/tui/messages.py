"""Messages the labeling screen's workers post back to it (results of blocking work).

Contract: posted from worker threads with `post_message` (thread-safe); handled on the UI thread.
They carry plain data (ids, `Suggestion`s, a `TrainSummary`), never a database connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..suggestion import Suggestion
from .engine import TrainSummary


@dataclass
class EngineReady(Message):
    """The suggester is loaded (heavy imports done in the background)."""

    model_id: str


@dataclass
class EngineFailed(Message):
    error: str


@dataclass
class SuggestionsReady(Message):
    """Suggestions of the current model for some items (they replace older ones in place)."""

    suggestions: dict[int, Suggestion]
    model_id: str | None


@dataclass
class QueueReordered(Message):
    """Every unlabeled id in the new queue order (e.g. by the new model's margin)."""

    item_ids: list[int]


@dataclass
class TrainingDone(Message):
    summary: TrainSummary


@dataclass
class TrainingFailed(Message):
    error: str


@dataclass
class FillProgress(Message):
    """How far the background fill of the queue's suggestions is ("" when done)."""

    text: str
