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
from ..suggestion import Suggester, Suggestion

SuggesterFactory = Callable[[Codebook], Suggester]
Trainer = Callable[[Store, Codebook], Suggester]


@dataclass(frozen=True)
class TrainSummary:
    model_id: str
    labels: int
    detail: str = ""


def _suggest_and_store(store: Store, suggester: Suggester, item_ids: Sequence[int], *,
                       want: bool = True) -> dict[int, Suggestion]:
    """Suggestions of the suggester's model for these ids: stored ones reused, missing/stale computed."""
    stored = store.suggestions_for(item_ids)
    model_id = suggester.model_id
    threshold = suggester.threshold
    stale = [i for i in item_ids if i not in stored or stored[i]["model_id"] != model_id]
    out: dict[int, Suggestion] = {}
    if want:
        out = {i: Suggestion.from_row(row, threshold) for i, row in stored.items() if i not in stale}
    if stale:
        rows = store.texts(stale)
        suggestions = suggester.suggest([r[1] for r in rows], [r[2] for r in rows])
        store.save_suggestions(s.to_row(r[0], model_id) for r, s in zip(rows, suggestions))
        if want:
            out.update({r[0]: s for r, s in zip(rows, suggestions)})
    return out


def _default_suggester(book: Codebook, model: str | None = None) -> Suggester:
    from ..model import load_suggester  # heavy: spaCy + scikit-learn

    return load_suggester(book, model)


def _default_trainer(store: Store, book: Codebook) -> tuple[Suggester, str | None, dict]:
    from ..model import train_from_store  # heavy

    # One model per database from the labeling UI, replaced at each retrain (not one per 25 labels);
    # 3-fold cross-validation keeps the metrics honest at a third of the cost of 5.
    result = train_from_store(store, book, name=f"label-{store.path.stem}", cv_folds=3, save=True)
    return result.suggester, (str(result.path) if result.path else None), dict(result.metrics or {})


def _metrics_line(metrics: dict) -> str:
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
            return _suggest_and_store(store, self._suggester, item_ids, want=want)

    def train(self) -> TrainSummary:
        with Store(self.db_path) as store:
            labels = len(store.labeled())
            if self._trainer is None:
                suggester, _, metrics = _default_trainer(store, self.codebook)
            else:
                suggester, metrics = self._trainer(store, self.codebook), {}
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
        got = _suggest_and_store(store, suggester, item_ids, want=want)
    return {i: s.to_row(i, suggester.model_id) for i, s in got.items()}


def _child_train(db_path: str, codebook_path: str) -> tuple[str, str | None, int, dict]:
    book = load_codebook(codebook_path)
    with Store(db_path) as store:
        labels = len(store.labeled())
        suggester, path, metrics = _default_trainer(store, book)
    return suggester.model_id, path, labels, metrics


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
        if path is None:
            raise RuntimeError("the trained model was not saved, so the suggester cannot load it")
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
