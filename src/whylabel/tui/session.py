"""One researcher's labeling session: the queue, decisions, undo and review, with no UI.

Contract: `LabelSession` owns the UI thread's `Store`. Every decision is committed
(`Store.annotate`) before the method returns, so whatever the UI shows next is already on disk.
History is never rewritten: an undo appends an annotation that restores this annotator's previous
state of the item (`reasons=None` = unlabeled again, origin "undo"). The queue is a list of item
ids in memory, loaded once per filter: a keystroke touches one item (one small transaction and a
few indexed reads), never the whole queue. Nothing is dropped from a queue: skipping moves an
item to the end, and reordering (the `uncertain` queue after a retrain) keeps every pending id.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice

from ..codebook import Codebook
from ..store import Store

ORDERS = ("uncertain", "newest", "random", "breakpoint")


@dataclass(frozen=True)
class QueueFilter:
    """Which items the queue holds; empty fields do not filter."""

    breakpoint: str | None = None
    source: str | None = None
    reason: str | None = None  # the item's current suggestion includes this reason
    search: str | None = None  # text contains this (case-insensitive)
    disagrees: bool = False  # labeled items whose label differs from the stored suggestion

    def describe(self) -> str:
        parts = []
        if self.disagrees:
            parts.append("disagrees with model")
        if self.breakpoint:
            parts.append(f"breakpoint {self.breakpoint}")
        if self.source:
            parts.append(f"source {self.source}")
        if self.reason:
            parts.append(f"suggested {self.reason}")
        if self.search:
            parts.append(f'text "{self.search}"')
        return ", ".join(parts) or "all items"

    @property
    def active(self) -> bool:
        return self != QueueFilter()


@dataclass(frozen=True)
class Decision:
    """One saved decision of this session, with what undo needs to restore."""

    item_id: int
    reasons: tuple[str, ...]
    note: str | None
    previous: tuple[str, ...] | None  # this annotator's label before (None: unlabeled)
    previous_note: str | None
    from_queue: bool  # taken from the pending queue (undo puts it back in front)
    annotation_id: int


@dataclass
class Current:
    """What the UI shows: the item, this annotator's label of it, the note draft."""

    item: dict
    label: tuple[str, ...] | None
    note: str | None
    reviewing: bool  # walking back through labeled items (left/right)
    review_pos: int = 0  # 1-based position in the history while reviewing
    review_len: int = 0
    stored_note: str | None = None  # the note of the label as stored (what undo restores)


class LabelSession:
    origin = "ui"  # how decisions are stored (a team queue stores adjudications)
    undo_origin = "undo"

    def __init__(
        self,
        store: Store,
        codebook: Codebook,
        *,
        annotator: str,
        order: str = "uncertain",
        queue_filter: QueueFilter | None = None,
        blind: bool = False,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if order not in ORDERS:
            raise ValueError(f"unknown queue order {order!r} (expected one of: {', '.join(ORDERS)})")
        self.store = store
        self.codebook = codebook
        self.annotator = annotator
        self.order = order
        self.blind = blind
        self.seed = seed
        self.clock = clock
        self.filter = queue_filter or QueueFilter()
        self.pending: deque[int] = deque()
        self.total = 0
        self.skipped: set[int] = set()
        self.undo_stack: list[Decision] = []
        self.decisions = 0  # net decisions this session (undo takes one back)
        self.labels_since_train = 0
        self.started = clock()
        # Items this annotator labeled (and did not undo), in the order of their latest decision.
        mine = store.labeled(annotator)
        have = {r["id"] for r in mine}
        self.history: list[int] = [i for i in store.labeled_by(annotator) if i in have]
        self.review: int | None = None  # index into history while reviewing
        self.counts: dict[str, int] = {}
        for r in mine:
            for name in r["reasons"] or ("none",):
                self.counts[name] = self.counts.get(name, 0) + 1
        self._current: Current | None = None
        self.load_queue()

    # -- queue ----------------------------------------------------------------------------------

    @property
    def queue_annotator(self) -> str | None:
        """Blind coding counts only this annotator's labels; otherwise any label is done."""
        return self.annotator if self.blind else None

    def load_queue(self, queue_filter: QueueFilter | None = None) -> None:
        """(Re)build the pending ids for a filter: one query, not per keystroke."""
        if queue_filter is not None:
            self.filter = queue_filter
        f = self.filter
        s = self.store
        if f.disagrees:
            ids = s.disagreements(self.annotator)
            if f.breakpoint or f.source or f.search or f.reason:
                scope = set(self._scope_ids(f, unlabeled=False))
                ids = [i for i in ids if i in scope]
            self.pending = deque(ids)
            self.total = len(ids)
        else:
            ids = self._scope_ids(f, unlabeled=True)
            self.pending = deque(ids)
            if f.reason:
                self.total = len(self._scope_ids(f, unlabeled=False))
            else:
                self.total = s.count_scope(breakpoint=f.breakpoint, source=f.source, search=f.search)
        self.skipped.clear()
        self.review = None
        self._current = None

    def _scope_ids(self, f: QueueFilter, *, unlabeled: bool) -> list[int]:
        ids = self.store.queue(order=self.order, annotator=self.queue_annotator, breakpoint=f.breakpoint,
                               source=f.source, search=f.search, unlabeled=unlabeled, seed=self.seed)
        if f.reason:
            keep = self.store.suggested_with(f.reason)
            ids = [i for i in ids if i in keep]
        return ids

    def reorder(self, ids: Sequence[int]) -> None:
        """Adopt a new order (e.g. by the new model's margin) without dropping any pending item."""
        if not self.pending:
            return
        head = self.pending[0]
        pending = set(self.pending)
        seen = {head}
        new = [head]
        for i in ids:
            if i in pending and i not in seen and i not in self.skipped:
                new.append(i)
                seen.add(i)
        new += [i for i in self.pending if i not in seen and i not in self.skipped]
        new += [i for i in self.pending if i in self.skipped and i != head]
        self.pending = deque(new)

    def upcoming(self, n: int) -> list[int]:
        """The current item and the next ones, for prefetching suggestions."""
        out = list(islice(self.pending, 0, n))
        if self.review is not None:
            out.insert(0, self.history[self.review])
        return out

    @property
    def labeled_in_scope(self) -> int:
        return self.total - len(self.pending)

    # -- the current item ----------------------------------------------------------------------

    def current(self) -> Current | None:
        if self._current is None:
            self._current = self._load_current()
        return self._current

    def _current_id(self) -> int | None:
        if self.review is not None:
            return self.history[self.review]
        return self.pending[0] if self.pending else None

    def _load_current(self) -> Current | None:
        item_id = self._current_id()
        if item_id is None:
            return None
        item = self.store.item(item_id)
        if item is None:  # deleted behind our back: never show a ghost
            self._forget(item_id)
            return self._load_current()
        ann = self._annotation_of(item_id)
        label = tuple(ann["reasons"]) if ann else None
        note = ann["note"] if ann else None
        return Current(item=item, label=label, note=note, stored_note=note,
                       reviewing=self.review is not None,
                       review_pos=(self.review or 0) + 1, review_len=len(self.history))

    def _annotation_of(self, item_id: int) -> dict | None:
        """The decision this session shows as "yours" and undo restores."""
        return self.store.current_annotation(item_id, self.annotator)

    def _forget(self, item_id: int) -> None:
        if self.review is not None:
            self.history.pop(self.review)
            if self.review >= len(self.history):
                self.review = None
        elif self.pending and self.pending[0] == item_id:
            self.pending.popleft()
            self.total = max(0, self.total - 1)

    def set_note(self, note: str | None) -> None:
        cur = self.current()
        if cur is not None:
            cur.note = note or None

    # -- decisions ------------------------------------------------------------------------------

    def decide(self, reasons: Iterable[str]) -> Decision | None:
        """Save a decision on the current item (committed before returning) and move on."""
        cur = self.current()
        if cur is None:
            return None
        wanted = set(reasons)
        ordered = tuple(n for n in self.codebook.reason_names if n in wanted)
        item_id = cur.item["id"]
        from_queue = self.review is None
        ann_id = self.store.annotate(item_id, ordered, annotator=self.annotator, note=cur.note,
                                     origin=self.origin, codebook_hash=self.codebook.hash)
        decision = Decision(item_id=item_id, reasons=ordered, note=cur.note, previous=cur.label,
                            previous_note=cur.stored_note, from_queue=from_queue, annotation_id=ann_id)
        self.undo_stack.append(decision)
        self._count(cur.label, -1)
        self._count(ordered, +1)
        self.decisions += 1
        self.labels_since_train += 1
        if from_queue:
            self.pending.popleft()
            self.skipped.discard(item_id)
            if item_id in self.history:
                self.history.remove(item_id)
            self.history.append(item_id)
        else:
            self._step_review(+1)
        self._current = None
        return decision

    def skip(self) -> bool:
        """Move the current item to the end of the queue (nothing stored); False if nothing moved."""
        if self.review is not None:
            self._step_review(+1)
            self._current = None
            return True
        if len(self.pending) < 2:
            return False
        item_id = self.pending.popleft()
        self.pending.append(item_id)
        self.skipped.add(item_id)
        self._current = None
        return True

    def undo(self) -> Decision | None:
        """Withdraw this session's last decision by appending one that restores the state before it."""
        if not self.undo_stack:
            return None
        d = self.undo_stack.pop()
        self.store.annotate(d.item_id, d.previous, annotator=self.annotator, note=d.previous_note,
                            origin=self.undo_origin, codebook_hash=self.codebook.hash)
        self._count(d.reasons, -1)
        self._count(d.previous, +1)
        self.decisions -= 1
        self.labels_since_train = max(0, self.labels_since_train - 1)
        if d.from_queue:
            if d.previous is None and d.item_id in self.history:
                self.history.remove(d.item_id)
            if d.item_id in self.pending:
                self.pending.remove(d.item_id)
            self.pending.appendleft(d.item_id)
            self.review = None
        else:
            self.review = self.history.index(d.item_id) if d.item_id in self.history else None
        self._current = None
        return d

    def back(self) -> bool:
        """Walk back through labeled items (left)."""
        if not self.history:
            return False
        if self.review is None:
            self.review = len(self.history) - 1
        elif self.review > 0:
            self.review -= 1
        else:
            return False
        self._current = None
        return True

    def forward(self) -> bool:
        """Walk forward (right); past the newest labeled item, back to the queue."""
        if self.review is None:
            return False
        self._step_review(+1)
        self._current = None
        return True

    def _step_review(self, step: int) -> None:
        assert self.review is not None
        self.review += step
        if self.review >= len(self.history):
            self.review = None

    def _count(self, reasons: Sequence[str] | None, sign: int) -> None:
        if reasons is None:
            return
        for r in reasons or ("none",):
            self.counts[r] = max(0, self.counts.get(r, 0) + sign)

    # -- progress ---------------------------------------------------------------------------------

    def pace(self) -> float | None:
        """Decisions per hour this session; None until there is something to measure."""
        elapsed = self.clock() - self.started
        if self.decisions < 2 or elapsed < 20:
            return None
        return self.decisions / elapsed * 3600
