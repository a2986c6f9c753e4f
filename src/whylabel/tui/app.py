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
from textual.binding import Binding
from textual.screen import Screen

from ..codebook import Codebook
from ..store import Store
from ..suggestion import SuggesterFactory
from .engine import InProcessEngine, SubprocessEngine, Trainer
from .label_screen import REACTION_TIME, LabelScreen
from .session import LabelSession, QueueFilter
from .team import DEFAULT_SHARE, TEAM_QUEUES, TeamLabelScreen, TeamSession


class LabelApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "whylabel"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [Binding("a", "agreement", "agreement", show=False)]

    def __init__(self, *, store: Store, session: LabelSession, engine, codebook: Codebook,
                 retrain_every: int = 25, blind: bool = False, reaction_time: float = REACTION_TIME):
        super().__init__()
        self.store = store
        self.session = session
        self.engine = engine
        self.codebook = codebook
        self.retrain_every = retrain_every
        self.blind = blind
        self.key_event: events.Key | None = None  # the key whose bindings run now (or ran last)
        screen = TeamLabelScreen if isinstance(session, TeamSession) else LabelScreen
        self.label_screen = screen(session, engine, codebook, db_path=str(store.path),
                                   retrain_every=retrain_every, blind=blind, reaction_time=reaction_time)

    def get_default_screen(self) -> Screen:
        return self.label_screen

    def on_key(self, event: events.Key) -> None:
        """Runs just before Textual runs the key's binding (App._on_key, next in the class order):
        the labeling screen's actions read when the key was typed from `event.time`."""
        self.key_event = event

    def on_mount(self) -> None:
        self.sub_title = f"{self.store.path.name} · {self.session.annotator}"
        self.freeze_objects()

    @property
    def freeze_gc(self) -> bool:
        """In a real terminal, yes. Not headless (the tests' `run_test`): a frozen object is never
        collected, and a test process builds hundreds of apps."""
        return not self.is_headless

    def freeze_objects(self) -> None:
        """Move what exists now (Textual's widgets, the queue, a loaded model) out of the cyclic
        collector's sight: full collections over it otherwise pause a keystroke for 25-55 ms.
        No collect first: that would be the very pause we avoid."""
        if self.freeze_gc:
            gc.freeze()

    def on_unmount(self) -> None:
        self.engine.close()
        self.store.close()

    def action_agreement(self) -> None:
        """The team's agreement per reason (a screen of its own; computed in a worker)."""
        from .agreement_screen import AgreementScreen

        if not isinstance(self.screen, AgreementScreen):
            share = self.session.share if isinstance(self.session, TeamSession) else DEFAULT_SHARE
            self.push_screen(AgreementScreen(str(self.store.path), self.codebook, share=share))

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
        yield SystemCommand("Other fields (m)", "Show or hide the export's columns as written", s.action_fields)
        yield SystemCommand("Codebook and keys (?)", "Definitions, use when / not when, examples", s.action_help)
        yield SystemCommand("Retrain now (t)", "Train the model on your labels in the background", s.action_train)
        yield SystemCommand("Report (r)", "Per breakpoint: the drop rate and the reason shares as bars",
                            s.action_report)
        yield SystemCommand("Agreement (a)", "Per reason: how far the annotators agree (Krippendorff's alpha)",
                            self.action_agreement)
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
    share: float = DEFAULT_SHARE,
    ranked: Iterable[int] = (),
    reaction_time: float = REACTION_TIME,
) -> LabelApp:
    """The app on `store_path` for `annotator`; see the module docstring for the engines.

    A team queue (`double`, `disagreements`, `suspicious`: see `tui.team`) takes `share` (double)
    or `ranked` (suspicious: item ids, most suspicious first); double and disagreements are blind.
    """
    store = Store(store_path)
    try:
        scope = QueueFilter(breakpoint=breakpoint, source=source)
        if queue in TEAM_QUEUES:
            blind = blind or queue != "suspicious"
            session = TeamSession(store, codebook, annotator=annotator, kind=queue, share=share,
                                  ranked=list(ranked), queue_filter=scope, blind=blind, seed=seed, clock=clock)
        else:
            session = LabelSession(store, codebook, annotator=annotator, order=queue, queue_filter=scope,
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
                    retrain_every=retrain_every, blind=blind, reaction_time=reaction_time)
