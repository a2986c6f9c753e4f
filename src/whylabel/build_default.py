"""Rebuild the shipped default model from the labeled sample feedback: one command.

    python -m whylabel.build_default [--models-dir models] [--sample-dir sample_feedback]

Imports sample_feedback/ (with its `reasons` labels, annotator "sample") into a scratch database,
trains with the fixed seed 0 and 5-fold cross-validation, and writes models/default/ (model.skops
+ card.json). The same data, seed and library versions give the same model and the same metrics;
tests/test_model_default.py checks that against models/default/card.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_FILES = ("survey_answers.csv", "product_reviews.jsonl", "support_tickets.csv")


def build(models_dir: str | Path = REPO / "models", sample_dir: str | Path = REPO / "sample_feedback", *,
          name: str = "default", save: bool = True, cv_folds: int = 5):
    from .codebook import load_codebook
    from .ingest import import_file
    from .model import train_from_store
    from .store import Store

    book = load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "sample.db") as store:
            for file in SAMPLE_FILES:
                import_file(store, Path(sample_dir) / file, book, columns={"reasons": "reasons"}, annotator="sample")
            result = train_from_store(store, book, name=name, models_dir=models_dir, cv_folds=cv_folds,
                                      save=save, seed=0)
    if save:
        # The scratch database is gone: do not record its path in the shipped card.
        result.card["db"] = "sample_feedback/ (python -m whylabel.build_default)"
        from .model import save_model

        save_model(result.suggester.estimator, Path(models_dir) / name, result.card)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild models/default from sample_feedback/.")
    ap.add_argument("--models-dir", default=str(REPO / "models"))
    ap.add_argument("--sample-dir", default=str(REPO / "sample_feedback"))
    args = ap.parse_args(argv)
    result = build(args.models_dir, args.sample_dir)
    m = result.metrics or {}
    print(f"{result.path}: {result.card['n_items']} items, macro-F1 {m.get('macro_f1')} (5-fold CV), "
          f"ECE {m.get('ece')}, model {result.card['model_id']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
