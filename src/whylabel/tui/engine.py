"""Where suggestions and training happen for the labeling UI, away from the UI thread.

Contract: an engine's methods block and are called from Textual thread workers only, never from
the UI thread. Each call opens its own `Store` (SQLite connections must not cross threads) and
writes what it computes to the `suggestions` table, so a suggestion shown once survives a restart.

- `SubprocessEngine` (what `whylabel label` uses): spaCy, scikit-learn and the model live in two
  child processes (one suggests, one trains), so the UI process never imports them and a
  retrain cannot hold the UI's GIL. Children are spawned on first use.
- `InProcessEngine`: runs a given suggester factory and trainer in the calling thread; tests
  inject small fakes this way, or the real `CueSuggester` / `train_from_store`.

Nothing here imports Textual.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..codebook import Codebook, load_codebook
from ..store import Store
from ..suggest import suggest_and_store
from ..suggestion import Suggester, SuggesterFactory, Suggestion

Trainer = Callable[[Store, Codebook], "Suggester | None"]  # None: the model in use stays


@dataclass(frozen=True)
class TrainSummary:
    model_id: str | None  # the model in use after the retrain
    labels: int
    detail: str = ""
    replaced: bool = True  # False: the retrained model did not beat the model in use, which stays


def _default_suggester(book: Codebook, model: str | None = None) -> Suggester:
    from ..model import load_suggester  # heavy: spaCy + scikit-learn

    return load_suggester(book, model)


def _default_trainer(store: Store, book: Codebook, *, models_dir: str | Path | None = None,
                     from_scratch: bool = False) -> tuple[Suggester | None, str | None, dict]:
    """Retrain on the labels so far; the new model is returned only when it replaced the model in
    use (it beat it on the team's labels), else None and the model in use stays."""
    from ..model import train_from_store  # heavy

    # One model per database from the labeling UI, replaced at each retrain that scores better
    # (not one per 25 labels); 3-fold cross-validation keeps the metrics honest at a third of the cost.
    result = train_from_store(store, book, name=f"label-{store.path.stem}", cv_folds=3, save=True,
                              models_dir=models_dir, from_scratch=from_scratch)
    metrics = dict(result.metrics or {})
    metrics["decision"] = result.decision.get("why", "")
    if not result.decision.get("use") or result.path is None:
        return None, None, metrics
    return result.suggester, str(result.path), metrics


def team_trainer(*, models_dir: str | Path | None = None, from_scratch: bool = False) -> Trainer:
    """The real retrain as an in-process `Trainer` (tests): the new suggester, or None when the
    model in use stays."""
    def trainer(store: Store, book: Codebook) -> Suggester | None:
        suggester, _, metrics = _default_trainer(store, book, models_dir=models_dir, from_scratch=from_scratch)
        trainer.last_metrics = metrics
        return suggester

    trainer.last_metrics = {}
    return trainer


def _metrics_line(metrics: dict) -> str:
    if metrics.get("decision"):
        return str(metrics["decision"])
    for key in ("macro_f1", "f1_macro", "micro_f1", "f1"):
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            return f"{key.replace('_', ' ')} {value:.2f}"
    return ""


class InProcessEngine:
    """Suggester and trainer called in the worker thread that asks."""

    def __init__(self, db_path: str | Path, codebook: Codebook, *,
                 suggester_factory: SuggesterFactory | None = None, trainer: Trainer | None = None):
        self.db_path = str(db_path)
        self.codebook = codebook
        self._factory = suggester_factory or _default_suggester
        self._trainer = trainer
        self._suggester: Suggester | None = None
        self._lock = threading.Lock()  # one suggester call at a time (spaCy pipelines are not thread-safe)

    @property
    def model_id(self) -> str | None:
        return self._suggester.model_id if self._suggester else None

    @property
    def threshold(self) -> float | None:
        return self._suggester.threshold if self._suggester else None

    def load(self) -> str:
        suggester = self._factory(self.codebook)
        with self._lock:
            self._suggester = suggester
        return suggester.model_id

    def suggest(self, item_ids: Sequence[int], *, want: bool = True) -> dict[int, Suggestion]:
        if self._suggester is None:
            return {}
        with self._lock, Store(self.db_path) as store:
            return suggest_and_store(store, self._suggester, item_ids, want=want)

    def train(self) -> TrainSummary:
        with Store(self.db_path) as store:
            labels = len(store.labeled())
            if self._trainer is None:
                suggester, _, metrics = _default_trainer(store, self.codebook)
            else:
                suggester = self._trainer(store, self.codebook)
                metrics = dict(getattr(self._trainer, "last_metrics", None) or {})
        if suggester is None:
            return TrainSummary(self.model_id, labels, _metrics_line(metrics), replaced=False)
        with self._lock:
            self._suggester = suggester
        return TrainSummary(suggester.model_id, labels, _metrics_line(metrics))

    def close(self) -> None:
        pass


# -- the subprocess engine ---------------------------------------------------------------------

_CHILD: dict[str, Any] = {}  # per child process: the loaded suggester


def _child_init() -> None:
    """Children share the terminal with the UI: their warnings must not scribble over it."""
    import os
    import warnings

    warnings.simplefilter("ignore")
    try:
        os.nice(10)  # background work: the UI process comes first on a busy machine
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _child_load(db_path: str, codebook_path: str, model: str | None) -> tuple[str, float]:
    book = load_codebook(codebook_path)
    suggester = _default_suggester(book, model)
    _CHILD["suggester"] = suggester
    return suggester.model_id, suggester.threshold


def _child_suggest(db_path: str, item_ids: list[int], want: bool) -> dict[int, dict]:
    suggester = _CHILD["suggester"]
    with Store(db_path) as store:
        got = suggest_and_store(store, suggester, item_ids, want=want)
    return {i: s.to_row(i, suggester.model_id) for i, s in got.items()}


def _child_train(db_path: str, codebook_path: str) -> tuple[str | None, str | None, int, dict]:
    book = load_codebook(codebook_path)
    with Store(db_path) as store:
        labels = len(store.labeled())
        suggester, path, metrics = _default_trainer(store, book)
    return (suggester.model_id if suggester else None), path, labels, metrics


class SubprocessEngine:
    """spaCy and scikit-learn in child processes; the UI process only passes ids and rows."""

    def __init__(self, db_path: str | Path, codebook: Codebook, *, model: str | None = None):
        self.db_path = str(Path(db_path).resolve())
        self.codebook = codebook
        self.codebook_path = str(Path(codebook.path).resolve())
        self.model = model
        self._ctx = multiprocessing.get_context("spawn")
        # Start the resource tracker now, while sys.stderr is still the real one: once Textual has
        # replaced it, spawning fails ("bad value(s) in fds_to_keep").
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        self._suggest_pool: ProcessPoolExecutor | None = None
        self._train_pool: ProcessPoolExecutor | None = None
        self.model_id: str | None = None
        self.threshold: float | None = None

    def _pool(self, which: str) -> ProcessPoolExecutor:
        attr = f"_{which}_pool"
        pool = getattr(self, attr)
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=1, mp_context=self._ctx, initializer=_child_init)
            setattr(self, attr, pool)
        return pool

    def _run(self, which: str, fn: Callable, *args: Any) -> Any:
        future: Future = self._pool(which).submit(fn, *args)
        return future.result()

    def load(self) -> str:
        self.model_id, self.threshold = self._run("suggest", _child_load, self.db_path, self.codebook_path,
                                                  self.model)
        return self.model_id

    def suggest(self, item_ids: Sequence[int], *, want: bool = True) -> dict[int, Suggestion]:
        if self.model_id is None:
            return {}
        rows = self._run("suggest", _child_suggest, self.db_path, list(item_ids), want)
        threshold = self.threshold if self.threshold is not None else 0.5
        return {i: Suggestion.from_row(row, threshold) for i, row in rows.items()}

    def train(self) -> TrainSummary:
        model_id, path, labels, metrics = self._run("train", _child_train, self.db_path, self.codebook_path)
        if model_id is None or path is None:
            return TrainSummary(self.model_id, labels, _metrics_line(metrics), replaced=False)
        # The suggesting child switches to the new model; the UI keeps working meanwhile.
        self.model_id, self.threshold = self._run("suggest", _child_load, self.db_path, self.codebook_path, path)
        return TrainSummary(model_id, labels, _metrics_line(metrics))

    def close(self) -> None:
        for pool in (self._suggest_pool, self._train_pool):
            if pool is not None:
                # Children hold no unsaved state: end them now rather than wait for a long fit.
                procs = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in procs:
                    proc.kill()
        self._suggest_pool = self._train_pool = None
