"""Team queues in the labeling UI: double coding, adjudicating disagreements, reviewing suspicious labels.

Contract: `TeamSession` is a `LabelSession` whose queue comes from the team's labels instead of
the unlabeled items:
- `double`: blind, items someone else labeled and this annotator has not, from the fixed sample
  (`Store.double_coding_sample`: the same items for every second coder); decisions are ordinary
  labels (origin ui);
- `disagreements`: items whose coders differ and nobody has settled; the decision is stored with
  origin `adjudication`, and undo withdraws it (another adjudication row with no reasons);
- `suspicious`: labels the model contradicts, most suspicious first (ids ranked by the caller);
  the item's label is pre-selected, so enter keeps (confirms) it, a change corrects it; either is
  an adjudication, and the item leaves the queue.
`TeamLabelScreen` adds one widget above the reasons: each coder's reasons, side by side.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from ..store import Store
from .item_view import ItemView
from .label_screen import LabelScreen
from .session import Current, LabelSession, QueueFilter

TEAM_QUEUES = ("double", "disagreements", "suspicious")
DEFAULT_SHARE = 0.2


class TeamSession(LabelSession):
    def __init__(self, store: Store, codebook, *, annotator: str, kind: str, share: float = DEFAULT_SHARE,
                 ranked: Sequence[int] = (), **kw):
        if kind not in TEAM_QUEUES:
            raise ValueError(f"unknown team queue {kind!r} (expected one of: {', '.join(TEAM_QUEUES)})")
        self.kind = kind
        self.share = share
        self.ranked = list(ranked)
        if kind != "double":
            self.origin = self.undo_origin = "adjudication"
        kw["order"] = "newest"
        super().__init__(store, codebook, annotator=annotator, **kw)
        if kind != "double":
            self.history = []  # review walks through this session's adjudications only

    @property
    def adjudicating(self) -> bool:
        return self.kind != "double"

    def _team_ids(self) -> tuple[list[int], int]:
        """(pending ids, how many the queue held in all)."""
        s = self.store
        if self.kind == "double":
            others = {i for name, items in s.coder_labels().items() if name != self.annotator for i in items}
            sample = [i for i in s.double_coding_sample(self.share) if i in others]
            pending = s.double_coding_queue(self.annotator, self.share)
            return pending, len(sample)
        if self.kind == "disagreements":
            pending = s.adjudication_queue()
            return pending, len(pending) + len(s.adjudicated_items() & set(s.shared_items()))
        settled = s.adjudicated_items()
        pending = [i for i in self.ranked if i not in settled]
        return pending, len(self.ranked)

    def load_queue(self, queue_filter: QueueFilter | None = None) -> None:
        if queue_filter is not None:
            self.filter = queue_filter
        f = self.filter
        ids, total = self._team_ids()
        if f.breakpoint or f.source or f.search or f.reason:
            scope = set(self._scope_ids(f, unlabeled=False))
            ids = [i for i in ids if i in scope]
            total = len(ids)
        self.pending = deque(ids)
        self.total = total
        self.skipped.clear()
        self.review = None
        self._current = None

    def _annotation_of(self, item_id: int) -> dict | None:
        if self.adjudicating:
            return self.store.adjudication(item_id)
        return super()._annotation_of(item_id)

    def coders_of(self, item_id: int) -> dict[str, list[str]]:
        return self.store.item_coder_labels(item_id)

    def kept_label(self, item_id: int) -> tuple[str, ...] | None:
        """The label a suspicious-queue reviewer keeps with enter: the item's current one."""
        ann = self.store.current_annotation(item_id)
        return None if ann is None else tuple(ann["reasons"])


class CoderLabels(Static):
    """Each coder's reasons for the item on screen, side by side."""

    DEFAULT_CSS = """
    CoderLabels {
        height: auto;
        padding: 0 1;
        border: round $warning;
        border-title-color: $text-muted;
    }
    """

    def show(self, labels: dict[str, list[str]], codebook) -> None:
        line = Text(no_wrap=True, overflow="ellipsis")
        for n, (name, reasons) in enumerate(labels.items()):
            if n:
                line.append("  │  ", style="dim")
            line.append(f"{name}: ", style="bold")
            chosen = [r for r in codebook.reason_names if r in reasons] + [r for r in reasons
                                                                             if r not in codebook.reason_names]
            line.append(", ".join(chosen) or "no breakpoint reason")
        self.update(line if labels else Text("nobody has labeled this item", style="dim"))


class TeamLabelScreen(LabelScreen):
    def compose(self):
        for widget in super().compose():
            yield widget
            if isinstance(widget, ItemView) and self.session.adjudicating:
                yield CoderLabels(id="coders")

    def on_mount(self) -> None:
        if self.session.adjudicating:
            self.query_one(CoderLabels).border_title = "coders"
        super().on_mount()

    def refresh_view(self, layout: bool = False) -> None:
        super().refresh_view(layout)
        if not self.is_mounted or not self.session.adjudicating:
            return
        cur = self.session.current()
        self.query_one(CoderLabels).show({} if cur is None else self.session.coders_of(cur.item["id"]),
                                         self.codebook)

    def default_selection(self, cur: Current, suggestion) -> set[str]:
        if cur.label is None and self.session.kind == "suspicious":
            kept = self.session.kept_label(cur.item["id"])
            if kept is not None:
                return set(kept)
        return super().default_selection(cur, suggestion)

    def save_hint(self, cur: Current, selected: set[str], suggestion) -> Text:
        if self.selection is None and cur.label is None and self.session.kind == "suspicious":
            kept = self.session.kept_label(cur.item["id"])
            if kept is not None:
                return Text.assemble(("enter", "bold"), " keeps the label: ", (self.label_text(kept), "bold"),
                                     " · 1-6 change it · ", ("0", "bold"), ": no reason · ", ("s", "bold"), ": skip")
        return super().save_hint(cur, selected, suggestion)

    def may_save_empty(self, cur: Current, suggestion) -> bool:
        if (self.selection is None and self.session.kind == "suspicious"
                and self.session.kept_label(cur.item["id"]) is not None):
            return True
        return super().may_save_empty(cur, suggestion)
