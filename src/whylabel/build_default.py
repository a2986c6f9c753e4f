"""Rebuild the shipped default model from the labeled sample feedback: one command.

    python -m whylabel.build_default [--models-dir DIR] [--sample-dir DIR]

Imports the demo sample (whylabel/data/sample_feedback, with its `reasons` labels, annotator
"sample") into a scratch database, trains with the fixed seed 0 and 5-fold cross-validation, and
writes the default model (model.skops + card.json) into the package: whylabel/data/models/default,
where `whylabel predict`, `suggest` and `label` find it. The same data, seed and library versions
give the same model and the same metrics; tests/test_model_default.py checks that against the
shipped card.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .resources import DEFAULT_MODEL_NAME, SAMPLE_FILES, sample_dir, shipped_models_dir


def build(models_dir: str | Path | None = None, sample: str | Path | None = None, *,
          name: str = DEFAULT_MODEL_NAME, save: bool = True, cv_folds: int = 5):
    from .codebook import load_codebook
    from .ingest import import_file
    from .model import train_from_store
    from .store import Store

    models_dir = Path(models_dir) if models_dir is not None else shipped_models_dir()
    sample = Path(sample) if sample is not None else sample_dir()
    book = load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "sample.db") as store:
            for file in SAMPLE_FILES:
                import_file(store, sample / file, book, columns={"reasons": "reasons"}, annotator="sample")
            result = train_from_store(store, book, name=name, models_dir=models_dir, cv_folds=cv_folds,
                                      save=save, seed=0)
    if save:
        # The scratch database is gone: do not record its path in the shipped card.
        result.card["db"] = "sample_feedback/ (python -m whylabel.build_default)"
        from .model import save_model

        save_model(result.suggester.estimator, models_dir / name, result.card)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild the shipped default model from the demo sample.")
    ap.add_argument("--models-dir", default=None, help=f"Where to write {DEFAULT_MODEL_NAME}/ (default: inside the package).")
    ap.add_argument("--sample-dir", default=None, help="The labeled sample (default: the one inside the package).")
    args = ap.parse_args(argv)
    result = build(args.models_dir, args.sample_dir)
    m = result.metrics or {}
    print(f"{result.path}: {result.card['n_items']} items, macro-F1 {m.get('macro_f1')} (5-fold CV), "
          f"ECE {m.get('ece')}, model {result.card['model_id']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
