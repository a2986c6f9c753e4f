"""The labeling app and its one factory, `build_app`, used by `whylabel label` and the tests.

Contract: `build_app(store_path, codebook, annotator=...)` opens the database on the calling
(UI) thread, builds the queue and returns a `LabelApp`; nothing heavy is imported here. By
default suggestions and training run in child processes (`SubprocessEngine`), loaded after the
first item is on screen. Pass `suggester_factory` and/or `trainer` to run them in-process instead
(tests inject small fakes or the real `CueSuggester` / `train_from_store` this way).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import events
from textual.app import App, SystemCommand
from textual.screen import Screen

from ..codebook import Codebook
from ..store import Store
from .engine import InProcessEngine, SubprocessEngine, SuggesterFactory, Trainer
from .label_screen import REACTION_TIME, LabelScreen
from .session import LabelSession, QueueFilter


class LabelApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "whylabel"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, *, store: Store, session: LabelSession, engine, codebook: Codebook,
                 retrain_every: int = 25, blind: bool = False, measure_stalls: bool = False,
                 freeze_gc: bool = False, reaction_time: float = REACTION_TIME):
        super().__init__()
        self.store = store
        self.session = session
        self.engine = engine
        self.codebook = codebook
        self.retrain_every = retrain_every
        self.blind = blind
        self.measure_stalls = measure_stalls
        self.freeze_gc = freeze_gc
        self.max_stall = 0.0  # seconds the event loop was late (benchmarks)
        self._last_tick = 0.0
        self.key_event: events.Key | None = None  # the key whose bindings run now (or ran last)
        self.label_screen = LabelScreen(session, engine, codebook, db_path=str(store.path),
                                        retrain_every=retrain_every, blind=blind, reaction_time=reaction_time)

    def get_default_screen(self) -> Screen:
        return self.label_screen

    def on_key(self, event: events.Key) -> None:
        """Runs just before Textual runs the key's binding (App._on_key, next in the class order):
        the labeling screen's actions read when the key was typed from `event.time`."""
        self.key_event = event

    def on_mount(self) -> None:
        self.sub_title = f"{self.store.path.name} · {self.session.annotator}"
        if self.measure_stalls:
            self._last_tick = time.perf_counter()
            self.set_interval(0.005, self._tick)
        if self.freeze_gc:
            self.freeze_objects()

    def freeze_objects(self) -> None:
        """Move what exists now (Textual's widgets, the queue, a loaded model) out of the cyclic
        collector's sight: full collections over it otherwise pause a keystroke for 25-55 ms.
        No collect first: that would be the very pause we avoid."""
        if self.freeze_gc:
            gc.freeze()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_stall = max(self.max_stall, now - self._last_tick - 0.005)
        self._last_tick = now

    def on_unmount(self) -> None:
        self.engine.close()
        self.store.close()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every labeling key is also a command in the palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        if screen is not self.label_screen:
            return
        s = self.label_screen
        for r in self.codebook.reasons:
            yield SystemCommand(f"Toggle reason: {r.name} ({r.key})", r.definition,
                                lambda k=r.key: s.action_toggle(k))
        yield SystemCommand("Save selection (enter)", "Save the selected reasons (untouched: the suggestion)",
                            s.action_save)
        yield SystemCommand("No breakpoint reason (0)", "Save that the item states no reason", s.action_save_none)
        yield SystemCommand("Skip (s)", "Move this item to the end of the queue", s.action_skip)
        yield SystemCommand("Undo (u, ctrl+z)", "Undo the last decision of this session", s.action_undo)
        yield SystemCommand("Previous labeled item (←)", "Review what you labeled", s.action_back)
        yield SystemCommand("Next labeled item (→)", "Walk forward; past the newest, back to the queue",
                            s.action_forward)
        yield SystemCommand("Search text (/)", "Only items whose text contains some words", s.action_search)
        yield SystemCommand("Filter queue (f)", "By breakpoint, source, suggested reason, or disagreement",
                            s.action_filter)
        yield SystemCommand("Note (e)", "Add a note, saved with your decision", s.action_note)
        yield SystemCommand("Other fields (m)", "Show or hide the export's other columns", s.action_fields)
        yield SystemCommand("Codebook and keys (?)", "Definitions, use when / not when, examples", s.action_help)
        yield SystemCommand("Retrain now (t)", "Train the model on your labels in the background", s.action_train)
        yield SystemCommand("Quit labeling (q)", "Everything is saved already", s.action_quit)


def build_app(
    store_path: str | Path,
    codebook: Codebook,
    *,
    annotator: str,
    suggester_factory: SuggesterFactory | None = None,
    trainer: Trainer | None = None,
    queue: str = "uncertain",
    breakpoint: str | None = None,
    source: str | None = None,
    blind: bool = False,
    retrain_every: int = 25,
    model: str | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    engine=None,
    measure_stalls: bool = False,
    freeze_gc: bool = False,
    reaction_time: float = REACTION_TIME,
) -> LabelApp:
    """The app on `store_path` for `annotator`; see the module docstring for the engines."""
    store = Store(store_path)
    try:
        session = LabelSession(store, codebook, annotator=annotator, order=queue,
                               queue_filter=QueueFilter(breakpoint=breakpoint, source=source),
                               blind=blind, seed=seed, clock=clock)
    except Exception:
        store.close()
        raise
    if engine is None:
        if suggester_factory is None and trainer is None:
            engine = SubprocessEngine(store.path, codebook, model=model)
        else:
            engine = InProcessEngine(store.path, codebook, suggester_factory=suggester_factory, trainer=trainer)
    return LabelApp(store=store, session=session, engine=engine, codebook=codebook,
                    retrain_every=retrain_every, blind=blind, measure_stalls=measure_stalls,
                    freeze_gc=freeze_gc, reaction_time=reaction_time)
