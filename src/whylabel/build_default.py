"""Rebuild the shipped default model from the labeled sample feedback: one command.

    python -m whylabel.build_default [--models-dir DIR] [--sample-dir DIR]
    python -m whylabel.build_default --add-words-form [--models-dir DIR]

Imports the demo sample (whylabel/data/sample_feedback, with its `reasons` labels, annotator
"sample") into a scratch database, encodes each text once, trains words + meaning with the fixed
seed 0 and 5-fold cross-validation, and writes the default model into the package
(whylabel/data/models/default, where `whylabel predict`, `suggest` and `label` find it):
model.skops, card.json, and prior.npz (the sample's texts, labels and sentence vectors, which a
team's `whylabel train` builds on), and words.npz (the words side's arrays, what `predict --fast`
loads without scikit-learn). `--add-words-form` derives words.npz from the model.skops already
there, without retraining, and records its SHA-256 in the card. The same data, seed and library versions give the same
metrics and predictions; tests/test_model_default.py checks that against the shipped card.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .resources import DEFAULT_MODEL_NAME, SAMPLE_FILES, sample_dir, shipped_models_dir


def build(models_dir: str | Path | None = None, sample: str | Path | None = None, *,
          name: str = DEFAULT_MODEL_NAME, save: bool = True, cv_folds: int = 5, words_only: bool = False):
    from .codebook import load_codebook
    from .ingest import import_file
    from .model import ENCODER_ID, fit_model, model_digest, save_model, save_prior, team_data
    from .store import Store

    models_dir = Path(models_dir) if models_dir is not None else shipped_models_dir()
    sample = Path(sample) if sample is not None else sample_dir()
    book = load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "sample.db") as store:
            for file in SAMPLE_FILES:
                import_file(store, sample / file, book, columns={"reasons": "reasons"}, annotator="sample")
            data = team_data(store, book, encoder_id=None if words_only else ENCODER_ID)
    result = fit_model(data, book, cv_folds=cv_folds, seed=0, words_only=words_only)
    result.card["trained_on"]["sample"] = {"what": "sample_feedback/ (python -m whylabel.build_default)",
                                           "n_items": len(data)}
    result.card.update({"name": name, "annotator": "sample", "db": "sample_feedback/ (python -m whylabel.build_default)"})
    result.card["model_id"] = f"{name}-{model_digest(result.suggester.estimator)}"
    result.suggester.model_id = result.card["model_id"]
    if save:
        directory = models_dir / name
        result.path = save_model(result.suggester.estimator, directory, result.card)
        if not words_only:
            # What a team's model builds on (`whylabel train` without --from-scratch).
            save_prior(directory, data)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild the shipped default model from the demo sample.")
    ap.add_argument("--models-dir", default=None, help=f"Where to write {DEFAULT_MODEL_NAME}/ (default: inside the package).")
    ap.add_argument("--sample-dir", default=None, help="The labeled sample (default: the one inside the package).")
    ap.add_argument("--add-words-form", action="store_true",
                    help="Only write words.npz from the saved model.skops (no retraining) and update the card.")
    args = ap.parse_args(argv)
    if args.add_words_form:
        from .codebook import load_codebook
        from .model import add_words_form

        directory = (Path(args.models_dir) if args.models_dir else shipped_models_dir()) / DEFAULT_MODEL_NAME
        print(f"{directory}: words.npz {add_words_form(directory, load_codebook())[:12]}…", file=sys.stderr)
        return 0
    result = build(args.models_dir, args.sample_dir)
    m = result.metrics or {}
    print(f"{result.path}: {result.card['n_items']} items, macro-F1 {m.get('macro_f1')} (5-fold CV), "
          f"ECE {m.get('ece')}, model {result.card['model_id']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
