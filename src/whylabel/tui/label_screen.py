"""The labeling screen: one item, the six reasons, one keystroke per decision.

Contract: every key goes through `LabelSession`, which commits a decision before the next item is
drawn. Blocking work (loading the suggester, suggesting ahead, retraining, filling the queue's
suggestions) runs in thread workers that talk to an engine and post messages back; the UI thread
only reads one item and its stored suggestion per keystroke.

Keys act on what the researcher could see when they typed them, not on what changed since: a key
event carries the moment the terminal driver read it (`Key.time`), and the screen keeps, for the
current item, each pre-selection it showed and since when (`Preselection`). A reason key typed
before the item had been on screen for `reaction_time` (typed ahead, or faster than anyone reads)
adds the reason to nothing pre-selected (your own label when relabeling); Enter typed ahead accepts
what is proposed now. A suggestion that arrives after the researcher touched the item updates
the probabilities and evidence but never the selection. A queue reorder does not move the items
that keys typed before it are on their way to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from rich.text import Text
from textual import on, work
from textual._time import get_time as event_clock  # the clock of `Key.time`
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ..codebook import Codebook
from ..store import Store
from ..suggestion import DEFAULT_THRESHOLD, Suggestion
from .codebook_screen import CodebookScreen
from .filter_screen import FilterScreen
from .item_view import ItemView
from .messages import (
    EngineFailed,
    EngineReady,
    FillProgress,
    QueueReordered,
    SuggestionsReady,
    TrainingDone,
    TrainingFailed,
)
from .prompt_screen import PromptScreen
from .reason_panel import ReasonPanel
from .session import Current, LabelSession, QueueFilter

PREFETCH = 48  # suggestions fetched ahead of the current item
FILL_CHUNK = 128  # ids per background fill step (a prefetch waits at most one step)
# Seconds a pre-selection must have been on screen before a key can answer it: quicker than anyone
# perceives a change (about a fifth of a second), the key was typed for what was there before.
REACTION_TIME = 0.2
_MISSING = object()
AHEAD = object()  # `Preselection.seen` for a key typed before the item was on screen


@dataclass
class Preselection:
    """The suggestions the current item has shown its pre-selection from, and since when."""

    current: Current  # the session's item state these belong to (a new one per item shown)
    shown: list[tuple[float, Suggestion | None]] = field(default_factory=list)
    touched: bool = False  # a key acted on the item: later suggestions no longer change the selection

    @property
    def suggestion(self) -> Suggestion | None:
        """What the pre-selection on screen comes from."""
        return self.shown[-1][1]

    def seen(self, typed_at: float, reaction_time: float) -> Suggestion | None | object:
        """The suggestion whose pre-selection a key typed at `typed_at` answered, or AHEAD."""
        for since, suggestion in reversed(self.shown):
            if since + reaction_time <= typed_at:
                return suggestion
        return AHEAD



def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class LabelScreen(Screen[None]):
    BINDINGS = [
        *[Binding(str(k), f"toggle('{k}')", f"reason {k}", show=False)
          for k in range(1, 10)],
        Binding("enter", "save", "save"),
        Binding("0", "save_none", "none"),
        Binding("s", "skip", "skip"),
        Binding("u,ctrl+z", "undo", "undo"),
        Binding("left", "back", "review", key_display="←→"),
        Binding("right", "forward", "forward", show=False),
        Binding("slash", "search", "search"),
        Binding("f", "filter", "filter"),
        Binding("e", "note", "note"),
        Binding("m", "fields", "fields", show=False),
        Binding("question_mark", "help", "help"),
        Binding("t", "train", "train", show=False),
        Binding("r", "report", "report", show=False),
        Binding("q", "quit", "quit"),
    ]

    def __init__(self, session: LabelSession, engine, codebook: Codebook, *, db_path: str,
                 retrain_every: int = 25, blind: bool = False, reaction_time: float = REACTION_TIME):
        super().__init__()
        self.session = session
        self.engine = engine
        self.codebook = codebook
        self.db_path = db_path
        self.retrain_every = retrain_every
        self.blind = blind
        self.by_key = {r.key: r.name for r in codebook.reasons}
        self.selection: set[str] | None = None  # None: untouched (the default is pre-selected)
        self.reaction_time = reaction_time
        self._pre: Preselection | None = None
        self._last_key = None  # the key event whose time an action used last
        # A queue reorder and the order before it, while keys typed before it may still come.
        self._reorder: tuple[float, list[int], list[int]] | None = None
        self._reorder_undone = False
        self.show_fields = False
        self.message: Text | str = ""
        self.model_status = "model: loading in the background…"
        self.model_id: str | None = None
        self.threshold = DEFAULT_THRESHOLD
        self._sug: dict[int, tuple[str | None, Suggestion | None]] = {}
        self._prefetching = False
        self._training = False
        self._fill_progress = ""
        self.saved_this_session = 0
        self.on_shown = None  # benchmarks: called after each refresh with the item id on screen

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="progress")
        yield ItemView(id="item")
        yield ReasonPanel(id="reasons")
        yield Static(id="message")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#item").border_title = "item"
        self.query_one("#reasons").border_title = "reasons"
        self.refresh_view(layout=True)
        self.load_engine()

    def on_resize(self) -> None:
        self.refresh_view(layout=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle":
            return str(parameters[0]) in self.by_key
        return True

    # -- drawing --------------------------------------------------------------------------------

    def suggestion_for(self, item_id: int) -> Suggestion | None:
        cached = self._sug.get(item_id, _MISSING)
        if cached is _MISSING:
            row = self.session.store.suggestion(item_id)
            cached = (row["model_id"], Suggestion.from_row(row, self.threshold)) if row else (None, None)
            self._sug[item_id] = cached
        return cached[1]

    def default_selection(self, cur: Current, suggestion: Suggestion | None) -> set[str]:
        if cur.label is not None:
            return set(cur.label)
        if self.blind or suggestion is None:
            return set()
        return set(suggestion.reasons)

    def selected(self, cur: Current) -> set[str]:
        if self.selection is not None:
            return self.selection
        return self.default_selection(cur, self.preselection(cur).suggestion)

    def preselection(self, cur: Current) -> Preselection:
        """The current item's pre-selection history, with the newest suggestion added while untouched."""
        suggestion = None if self.blind else self.suggestion_for(cur.item["id"])
        pre = self._pre
        if pre is None or pre.current is not cur:
            pre = self._pre = Preselection(cur, [(event_clock(), suggestion)])
        elif suggestion is not pre.suggestion and not pre.touched:
            pre.shown.append((event_clock(), suggestion))
        return pre

    def typed_at(self, *keys: str) -> float:
        """When the key running this action was typed; now for an action without one (the palette)."""
        event = getattr(self.app, "key_event", None)
        if event is None or event is self._last_key or event.key not in keys:
            return event_clock()
        self._last_key = event
        if self._reorder is not None:
            self.keep_order_for(event.time)
        return event.time

    def refresh_view(self, layout: bool = False) -> None:
        """Draw the current item; `layout` only when sizes may change (mount, resize)."""
        if not self.is_mounted:
            return
        cur = self.session.current()
        suggestion = None if cur is None or self.blind else self.suggestion_for(cur.item["id"])
        item_view = self.query_one(ItemView)
        if cur is None:
            item_view.show(None, None, self.codebook, blind=self.blind, show_fields=False, note=None,
                           banner=self.empty_banner())
            selected: set[str] = set()
            hint = Text("Nothing to label here.", style="dim")
        else:
            selected = self.selected(cur)
            item_view.show(cur.item, suggestion, self.codebook, blind=self.blind, show_fields=self.show_fields,
                           note=cur.note, banner=self.review_banner(cur))
            hint = self.save_hint(cur, selected, self.preselection(cur).suggestion)
        self.query_one(ReasonPanel).show(self.codebook, selected, suggestion, blind=self.blind, save_hint=hint,
                                         show_evidence=self.size.height >= 34, layout=layout)
        self.update_progress()
        self.query_one("#message", Static).update(self.message, layout=False)
        if self.on_shown is not None:
            shown = None if cur is None else cur.item["id"]
            self.call_after_refresh(self.on_shown, shown)

    def refresh_reasons(self) -> None:
        cur = self.session.current()
        if cur is None:
            return
        suggestion = None if self.blind else self.suggestion_for(cur.item["id"])
        selected = self.selected(cur)
        hint = self.save_hint(cur, selected, self.preselection(cur).suggestion)
        self.query_one(ReasonPanel).show(self.codebook, selected, suggestion, blind=self.blind, save_hint=hint,
                                         show_evidence=self.size.height >= 34, layout=False)

    def empty_banner(self) -> Text:
        f = self.session.filter
        where = "this queue" if not f.active else f"the queue ({f.describe()})"
        return Text.assemble(
            ("Nothing left to label in " + where + ". ", "bold"),
            "f: change the filter · ←: review your labels · q: quit",
        )

    def review_banner(self, cur: Current) -> Text:
        if not cur.reviewing:
            if self.session.filter.disagrees and cur.label is not None:
                return Text(f" yours: {self.label_text(cur.label)} ", style="reverse bold")
            return Text("")
        label = "unlabeled" if cur.label is None else self.label_text(cur.label)
        return Text(f" REVIEW {cur.review_pos}/{cur.review_len} · yours: {label} ", style="reverse bold")

    @staticmethod
    def label_text(reasons) -> str:
        return ", ".join(reasons) if reasons else "no breakpoint reason"

    def save_hint(self, cur: Current, selected: set[str], suggestion: Suggestion | None) -> Text:
        if selected:
            ordered = [n for n in self.codebook.reason_names if n in selected]
            what = ", ".join(ordered)
        elif self.may_save_empty(cur, suggestion):
            what = "no breakpoint reason"
        else:
            return Text.assemble(("enter", "bold"), ": choose reasons with 1-6 first · ",
                                 ("0", "bold"), ": no breakpoint reason · ", ("s", "bold"), ": skip")
        source = ""
        if self.selection is None:
            if cur.label is not None:
                source = " (your label)"
            elif suggestion is not None and not self.blind:
                source = " (suggested)"
        return Text.assemble(("enter", "bold"), " saves: ", (what, "bold"), source,
                             " · ", ("0", "bold"), ": no reason · ", ("s", "bold"), ": skip")

    def may_save_empty(self, cur: Current, suggestion: Suggestion | None) -> bool:
        """Enter with nothing selected saves "no reason" only when accepting that explicitly shown state."""
        if self.selection is not None:
            return False
        if cur.label is not None:
            return True
        return not self.blind and suggestion is not None

    def update_progress(self) -> None:
        s = self.session
        line = Text()
        line.append(f"{s.labeled_in_scope:,}/{s.total:,} labeled", style="bold")
        pace = s.pace()
        line.append(f" · {pace:,.0f} items/h" if pace is not None else " · pace –")
        if s.filter.active:
            line.append(f" · filter: {s.filter.describe()}", style="bold")
        if self.blind:
            line.append(" · BLIND", style="reverse bold")
        line.append(f" · {self.model_status}", style="dim")
        if self._fill_progress:
            line.append(f" {self._fill_progress}", style="dim")
        counts = Text("you: ", style="dim")
        for name in (*self.codebook.reason_names, "none"):
            counts.append(f"{name} ", style="dim")
            counts.append(f"{s.counts.get(name, 0)}  ")
        line.append("\n")
        line.append_text(counts)
        line.no_wrap = True
        line.overflow = "ellipsis"
        self.query_one("#progress", Static).update(line, layout=False)

    def say(self, message: Text | str) -> None:
        self.message = message
        if self.is_mounted:
            self.query_one("#message", Static).update(message, layout=False)

    # -- keys -----------------------------------------------------------------------------------

    def action_toggle(self, key: str) -> None:
        typed_at = self.typed_at(str(key))
        reason = self.by_key.get(str(key))
        cur = self.session.current()
        if reason is None or cur is None:
            return
        pre = self.preselection(cur)
        if self.selection is None:
            seen = pre.seen(typed_at, self.reaction_time)
            if seen is AHEAD:  # no pre-selection was seen: the key chooses the reason
                base = set(cur.label or ())
            else:
                base = self.default_selection(cur, seen)
        else:
            base = self.selection
        pre.touched = True
        self.selection = base ^ {reason}
        self.refresh_reasons()

    def action_save(self) -> None:
        typed_at = self.typed_at("enter")
        cur = self.session.current()
        if cur is None:
            self.say("Nothing to save: the queue is empty.")
            return
        if self.selection is None:
            pre = self.preselection(cur)
            seen = pre.seen(typed_at, self.reaction_time)
            suggestion = pre.suggestion if seen is AHEAD else seen  # typed ahead: what is proposed now
            selected = self.default_selection(cur, suggestion)
        else:
            suggestion = None
            selected = self.selection
        if not selected and not self.may_save_empty(cur, suggestion):
            self.say(Text.assemble("Nothing selected: press ", ("1-6", "bold"), " to choose reasons, or ",
                                   ("0", "bold"), " for no breakpoint reason."))
            return
        self.decide(selected)

    def action_save_none(self) -> None:
        self.typed_at("0")
        if self.session.current() is None:
            return
        self.decide(set())

    def decide(self, reasons: set[str]) -> None:
        d = self.session.decide(reasons)
        if d is None:
            return
        self.selection = None
        self.saved_this_session += 1
        what = self.label_text(d.reasons)
        verb = "saved" if d.from_queue and d.previous is None else "relabeled"
        self.message = Text.assemble(("✓ ", "bold green"), f"{verb} #{d.item_id}: ", (what, "bold"),
                                     f" · {self.saved_this_session} this session")
        self.refresh_view()
        self.maybe_retrain()
        self.maybe_prefetch()

    def action_skip(self) -> None:
        self.typed_at("s")
        cur = self.session.current()
        if cur is None:
            return
        moved = self.session.skip()
        self.selection = None
        if cur.reviewing:
            self.message = ""
        else:
            self.message = f"skipped #{cur.item['id']}: it is at the end of the queue" if moved else \
                "Nothing to skip to: this is the last item in the queue."
        self.refresh_view()
        self.maybe_prefetch()

    def action_undo(self) -> None:
        self.typed_at("u", "ctrl+z")
        d = self.session.undo()
        if d is None:
            self.say("Nothing to undo in this session.")
            return
        self.selection = None
        self.saved_this_session = max(0, self.saved_this_session - 1)
        state = "unlabeled again" if d.previous is None else f"back to {self.label_text(d.previous)}"
        self.message = Text.assemble(("↶ ", "bold yellow"), f"undone: #{d.item_id} is {state}",
                                     " (u again to go further back)" if self.session.undo_stack else "")
        self.refresh_view()

    def action_back(self) -> None:
        self.typed_at("left")
        if self.session.back():
            self.selection = None
            self.message = "←/→ walk through your labels · enter relabels · → past the newest returns to the queue"
            self.refresh_view()
        else:
            self.say("No earlier labels." if self.session.history else "You have not labeled anything yet.")

    def action_forward(self) -> None:
        self.typed_at("right")
        if self.session.forward():
            self.selection = None
            self.message = "" if self.session.review is None else self.message
            self.refresh_view()
            self.maybe_prefetch()

    def action_fields(self) -> None:
        self.touch()
        self.show_fields = not self.show_fields
        self.refresh_view()

    def action_help(self) -> None:
        self.app.push_screen(CodebookScreen(self.codebook))

    def action_report(self) -> None:
        """Drop rate and reason shares per breakpoint, with this session's labels (computed on open)."""
        from .report_screen import ReportScreen

        self.app.push_screen(ReportScreen(self.db_path, self.codebook))

    def action_quit(self) -> None:
        self.app.exit()

    def action_note(self) -> None:
        cur = self.session.current()
        if cur is None:
            return
        self.touch()

        def done(value: str | None) -> None:
            if value is None:
                return
            self.session.set_note(value)
            self.message = ("note kept: it is saved with your decision on this item (enter, 0 or 1-6 + enter)"
                            if value else "note removed")
            self.refresh_view()

        self.app.push_screen(PromptScreen(f"Note for #{cur.item['id']}", value=cur.note or "",
                                          placeholder="why you decided this way, doubts, …"), done)

    def touch(self) -> None:
        """The researcher works on this item: keep its pre-selection as it is now."""
        cur = self.session.current()
        if cur is not None:
            self.preselection(cur).touched = True

    def action_search(self) -> None:
        def done(value: str | None) -> None:
            if value is None:
                return
            f = self.session.filter
            self.apply_filter(QueueFilter(breakpoint=f.breakpoint, source=f.source, reason=f.reason,
                                          disagrees=f.disagrees, search=value or None))

        self.app.push_screen(PromptScreen("Search the text", value=self.session.filter.search or "",
                                          placeholder="words in the feedback (empty: no search)"), done)

    def action_filter(self) -> None:
        store = self.session.store
        screen = FilterScreen(current=self.session.filter,
                              breakpoints=[b["name"] for b in store.breakpoints()],
                              sources=store.sources(), reasons=list(self.codebook.reason_names),
                              blind=self.blind)

        def done(value: QueueFilter | None) -> None:
            if value is not None:
                self.apply_filter(value)

        self.app.push_screen(screen, done)

    def apply_filter(self, f: QueueFilter) -> None:
        self.session.load_queue(f)
        self._reorder = None
        self.selection = None
        n = len(self.session.pending)
        self.message = f"filter: {f.describe()} · {n:,} item{'s' if n != 1 else ''} to go"
        self.refresh_view()
        self.maybe_prefetch()

    def action_train(self) -> None:
        if self._training:
            self.say("Training is already running; the new suggestions appear when it is done.")
            return
        self.start_training()

    # -- background work ------------------------------------------------------------------------

    def maybe_retrain(self) -> None:
        if self.retrain_every and self.session.labels_since_train >= self.retrain_every and not self._training:
            self.start_training()

    def start_training(self) -> None:
        self._training = True
        self.session.labels_since_train = 0
        self.model_status = "model: training in the background…"
        self.update_progress()
        self.train()

    @work(thread=True, exclusive=True, group="train", exit_on_error=False)
    def train(self) -> None:
        try:
            summary = self.engine.train()
        except Exception as exc:  # noqa: BLE001 - shown to the user; labeling goes on
            self.post_message(TrainingFailed(one_line(exc)))
        else:
            self.post_message(TrainingDone(summary))

    @on(TrainingDone)
    def training_done(self, message: TrainingDone) -> None:
        self._training = False
        s = message.summary
        if not s.replaced:
            # The retrained model scored below the model in use on your labels: nothing changes.
            self.say(Text.assemble(("kept ", "bold yellow"), f"model {s.model_id or 'none'}: {s.detail}"))
            self.update_progress()
            self.maybe_retrain()
            return
        self.model_id = s.model_id
        self.threshold = getattr(self.engine, "threshold", None) or DEFAULT_THRESHOLD
        self.model_status = f"model: {s.model_id}"
        detail = f" ({s.detail})" if s.detail else ""
        self.say(Text.assemble(("✓ ", "bold green"), f"retrained on {s.labels:,} labels{detail}; "
                               "suggestions are being updated"))
        self.update_progress()
        self.maybe_prefetch()
        self.fill_queue()
        self.maybe_retrain()

    @on(TrainingFailed)
    def training_failed(self, message: TrainingFailed) -> None:
        self._training = False
        self.model_status = f"model: {self.model_id or 'none'}"
        self.say(Text.assemble(("training failed: ", "bold red"), message.error))
        self.update_progress()

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def load_engine(self) -> None:
        try:
            model_id = self.engine.load()
        except Exception as exc:  # noqa: BLE001 - e.g. ModelError: labeling works without suggestions
            self.post_message(EngineFailed(one_line(exc)))
        else:
            self.post_message(EngineReady(model_id))

    @on(EngineReady)
    def engine_ready(self, message: EngineReady) -> None:
        freeze = getattr(self.app, "freeze_objects", None)
        if freeze is not None:
            freeze()
        self.model_id = message.model_id
        self.threshold = getattr(self.engine, "threshold", None) or DEFAULT_THRESHOLD
        self.model_status = f"model: {message.model_id}"
        self.update_progress()
        self.maybe_prefetch()
        self.fill_queue()

    @on(EngineFailed)
    def engine_failed(self, message: EngineFailed) -> None:
        self.model_status = "model: none"
        self.say(Text.assemble(("suggestions unavailable: ", "bold red"), message.error))
        self.update_progress()

    def maybe_prefetch(self) -> None:
        """Keep suggestions of the current model ready for the next items (one dict lookup per key)."""
        if self.model_id is None or self._prefetching:
            return
        ids = self.session.upcoming(PREFETCH)
        need = False
        for i in islice(ids, 0, PREFETCH // 2):
            cached = self._sug.get(i, _MISSING)
            if cached is _MISSING or cached[0] != self.model_id:
                need = True
                break
        if need:
            self._prefetching = True
            self.prefetch(ids)

    @work(thread=True, group="prefetch", exit_on_error=False)
    def prefetch(self, item_ids: list[int]) -> None:
        # Read before the call: a retrain that switches models meanwhile must not have the old model's
        # suggestions taken for the new one's (at worst they are fetched once more).
        model_id = self.engine.model_id
        try:
            got = self.engine.suggest(item_ids)
        except Exception as exc:  # noqa: BLE001
            got = {}
            self.post_message(EngineFailed(one_line(exc)))
        self.post_message(SuggestionsReady(got, model_id))

    @on(SuggestionsReady)
    def suggestions_ready(self, message: SuggestionsReady) -> None:
        self._prefetching = False
        for i, s in message.suggestions.items():
            self._sug[i] = (message.model_id, s)
        cur = self.session.current()
        if cur is not None and cur.item["id"] in message.suggestions:
            self.refresh_view()  # new suggestions replace old ones in place
        if message.suggestions:
            self.maybe_prefetch()

    def fill_queue(self) -> None:
        """Suggest for every pending item, then (uncertain queue) reorder by the new margins."""
        pending = list(self.session.pending)
        # The first ones are the prefetch's job: last here (then usually already stored and reused).
        ids = pending[PREFETCH:] + pending[:PREFETCH]
        order = self.session.order
        annotator = self.session.queue_annotator
        self.fill(ids, order, annotator)

    @work(thread=True, exclusive=True, group="fill", exit_on_error=False)
    def fill(self, ids: list[int], order: str, annotator: str | None) -> None:
        worker = get_current_worker()
        done = 0
        try:
            for start in range(0, len(ids), FILL_CHUNK):
                if worker.is_cancelled:
                    return
                self.engine.suggest(ids[start:start + FILL_CHUNK], want=False)
                done = min(len(ids), start + FILL_CHUNK)
                if len(ids) > 4 * FILL_CHUNK:
                    self.post_message(FillProgress(f"(suggesting {done:,}/{len(ids):,})"))
            if order == "uncertain" and not worker.is_cancelled:
                with Store(self.db_path) as store:
                    new_order = store.queue(order="uncertain", annotator=annotator)
                self.post_message(QueueReordered(new_order))
        except Exception as exc:  # noqa: BLE001
            self.post_message(EngineFailed(one_line(exc)))
        finally:
            if len(ids) > 4 * FILL_CHUNK:
                self.post_message(FillProgress(""))

    @on(FillProgress)
    def fill_progress(self, message: FillProgress) -> None:
        self._fill_progress = message.text
        self.update_progress()

    @on(QueueReordered)
    def queue_reordered(self, message: QueueReordered) -> None:
        before = self.session.current()
        self._reorder = (event_clock(), message.item_ids, list(self.session.pending))
        self._reorder_undone = False
        self.session.reorder(message.item_ids)
        after = self.session.current()
        if (before and before.item["id"]) != (after and after.item["id"]):
            self.refresh_view()
        self.maybe_prefetch()

    def keep_order_for(self, typed_at: float) -> None:
        """Keys typed before the last reorder go to the items that were next when they were typed;
        the first key typed after it brings the new order back."""
        assert self._reorder is not None
        reordered_at, new_order, old_order = self._reorder
        if typed_at < reordered_at:
            if not self._reorder_undone:
                self.session.reorder(old_order)
                self._reorder_undone = True
            return
        if self._reorder_undone:
            self.session.reorder(new_order)
            self.maybe_prefetch()
        self._reorder = None
