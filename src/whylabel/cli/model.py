"""Model commands: train, suggest, evaluate. spaCy and scikit-learn are imported inside them only."""

from __future__ import annotations

import json
import re

import click

from . import codebook_option, db_option, json_option, main, show_progress  # noqa: F401 - group
from ..codebook import load_codebook
from ..errors import InputError
from ..store import Store

_REASON_COLUMNS = ("reasons", "reason", "labels", "label", "codes", "code", "redenen", "reden", "gold")


def _models_dir_option(f):
    return click.option("--models-dir", type=click.Path(),
                        help="Where models live (default: ./models, then the checkout's models/).")(f)


def _metrics_table(m: dict) -> str:
    lines = [f"{'reason':<13}{'P':>7}{'R':>7}{'F1':>7}{'ECE':>7}{'TP':>6}{'FP':>6}{'FN':>6}{'TN':>6}{'pos':>6}"]
    for reason, r in m["per_reason"].items():
        lines.append(f"{reason:<13}{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}{r['ece']:>7.3f}"
                     f"{r['tp']:>6}{r['fp']:>6}{r['fn']:>6}{r['tn']:>6}{r['support']:>6}")
    lines.append(f"macro-F1 {m['macro_f1']:.3f}   micro-F1 {m['micro_f1']:.3f}   driver accuracy "
                 f"{m['driver_accuracy']:.3f}   exact match {m['exact_match']:.3f}   ECE {m['ece']:.3f}"
                 f"   (threshold {m['threshold']:g}, n={m['n']})")
    return "\n".join(lines)


@click.command("train")
@click.option("--annotator", metavar="NAME", help="Train on this annotator's newest labels (default: the adjudicated label, else the newest by anyone).")
@click.option("--name", metavar="NAME", help="Model name: saved in MODELS_DIR/NAME/ (default: model-<timestamp>).")
@_models_dir_option
@click.option("--folds", "cv_folds", type=click.IntRange(0, 20), default=5, show_default=True,
              help="k for k-fold cross-validated metrics (0 = skip).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for folds and solvers (same seed, same model).")
@click.option("--no-save", is_flag=True, help="Only report cross-validated metrics; write nothing.")
@click.option("--from-scratch", is_flag=True,
              help="Learn from your labels alone (default: on top of what the shipped model learned from).")
@db_option
@codebook_option
@json_option
def train_cmd(annotator, name, models_dir, cv_folds, seed, no_save, from_scratch, db_path, codebook_path, as_json):
    """Train a reason model on your labels and report honest, cross-validated metrics.

    Uses each item's adjudicated label, else its newest (or --annotator's own newest), on top of the labels the shipped default
    model learned from (weighted below yours; --from-scratch: yours alone). The model reads
    words and meaning (a multilingual sentence encoder). Reports per-reason precision, recall
    and F1, macro-F1, driver accuracy (emotional / rational / mixed / none) and the expected
    calibration error (ECE: how far "0.8" is from 80 %), cross-validated on your labels. Saves
    MODELS_DIR/NAME/model.skops and card.json and registers the model in the database.

    The new model is put in use (by `suggest`, `predict` and `label`) only when it scores
    better on your labels than the model in use does on the same labels (labels the model in
    use never learned from); `whylabel models` shows which one is in use and why.

    \b
    Examples:
      whylabel train
      whylabel train --annotator anna --name anna-oct
      whylabel demo --no-ui && whylabel train --db whylabel-demo.db --name default --models-dir models
    """
    from ..model import train_from_store

    book = load_codebook(codebook_path)
    with Store(db_path, create=False) as store:
        result = train_from_store(store, book, annotator=annotator, name=name, models_dir=models_dir,
                                  cv_folds=cv_folds, save=not no_save, seed=seed, from_scratch=from_scratch)
    card = result.card
    out = {
        "name": card.get("name"), "model_id": card.get("model_id") if result.path else None,
        "path": str(result.path) if result.path else None, "n_items": card["n_items"],
        "languages": card["languages"], "label_counts": card["label_counts"], "needs": result.needs,
        "cue_only_reasons": card["cue_only_reasons"], "threshold": card["threshold"], "metrics": result.metrics,
        "trained_on": card["trained_on"], "in_use": bool(result.decision.get("use")),
        "decision": result.decision.get("why"),
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    counts = ", ".join(f"{r} {n}" for r, n in card["label_counts"].items())
    click.echo(f"{card['n_items']} labeled items ({counts})")
    if result.metrics:
        click.echo(f"{result.metrics['cv_folds']}-fold cross-validation:")
        click.echo(_metrics_table(result.metrics))
    else:
        click.echo("too few labeled items for cross-validation: no metrics")
    for reason, more in result.needs.items():
        click.echo(f"{reason}: {card['label_counts'][reason]} labels, needs {more} more to be learned; "
                   f"its cue phrases decide until then")
    if result.path:
        click.echo(f"saved {result.path} (model {card['model_id']})")
    if result.decision:
        verdict = "in use" if result.decision.get("use") else "not in use"
        click.echo(f"{verdict}: {result.decision['why']}")


@click.command("suggest")
@click.option("--model", metavar="NAME|PATH", help="Model to use (default: the model in use, else the shipped default, else cue phrases).")
@_models_dir_option
@click.option("--fast", is_flag=True, help="Words only: skip the sentence encoder.")
@click.option("--all", "all_items", is_flag=True, help="Also refresh suggestions for labeled items.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=512, show_default=True)
@db_option
@codebook_option
@json_option
def suggest_cmd(model, models_dir, fast, all_items, batch_size, db_path, codebook_path, as_json):
    """Fill the suggestions the labeling UI shows (and orders the `uncertain` queue by).

    Every unlabeled item gets a probability per reason, the reasons above the model's threshold,
    and the words behind each. Re-running replaces the old suggestions.

    \b
    Examples:
      whylabel suggest
      whylabel suggest --model default --db whylabel-demo.db
    """
    from ..model import fill_suggestions, load_suggester

    book = load_codebook(codebook_path)
    suggester = load_suggester(book, model, models_dir=models_dir, fast=fast)
    with Store(db_path, create=False) as store:
        ids = store.queue(order="oldest", unlabeled=False) if all_items else None
        n = fill_suggestions(store, suggester, item_ids=ids, batch_size=batch_size)
    out = {"model_id": suggester.model_id, "suggested": n, "db": str(db_path), "threshold": suggester.threshold}
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"{db_path}: {n} items suggested with {suggester.model_id} (threshold {suggester.threshold:g})")


def read_gold(path: str, book, *, text_column=None, reasons_column=None, lang_column=None):
    """(texts, langs, labels, unlabeled count) from a labeled CSV/TSV/JSON(L)."""
    from ..ingest import guess_columns
    from ..io import open_table

    table = open_table(path)
    try:
        cols = guess_columns(table, {"text": text_column, "lang": lang_column})
        rcol = reasons_column
        if rcol and rcol not in table.columns:
            raise InputError(path, f"no column named {rcol!r} (--reasons-column); columns are: "
                             + ", ".join(table.columns))
        if not rcol:
            by_norm = {re.sub(r"[^0-9a-z]", "", c.lower()): c for c in table.columns}
            rcol = next((by_norm[n] for n in _REASON_COLUMNS if n in by_norm), None)
        if not rcol:
            raise InputError(path, "no reasons column found (columns: " + ", ".join(table.columns)
                             + "); name it with --reasons-column")
        texts, langs, labels, unlabeled = [], [], [], 0
        for number, row in table.rows:
            try:
                reasons = book.parse_reasons(row.get(rcol))
            except ValueError as exc:
                raise InputError(path, str(exc), row=number, column=rcol, row_label=table.row_label) from None
            text = str(row.get(cols.text) or "").strip()
            if reasons is None or not text:
                unlabeled += 1
                continue
            texts.append(text)
            langs.append(str(row.get(cols.lang) or "").strip() or None if cols.lang else None)
            labels.append(list(reasons))
    finally:
        table.close()
    if not texts:
        raise InputError(path, f"no labeled rows (column {rcol!r} is empty everywhere)")
    return texts, langs, labels, unlabeled


@click.command("evaluate")
@click.option("--gold", "gold", required=True, type=click.Path(),
              help="Labeled CSV/TSV/JSON(L): a text column and a reasons column (';'-separated, 'none' = no reason).")
@click.option("--model", metavar="NAME|PATH|cues", help="Model to score (default: what `whylabel suggest` would use; 'cues' = cue phrases only).")
@_models_dir_option
@click.option("--text-column", metavar="NAME", help="Text column (guessed: text, comment, review, ...).")
@click.option("--reasons-column", metavar="NAME", help="Gold reasons column (guessed: reasons, labels, codes, ...).")
@click.option("--lang-column", metavar="NAME", help="Language column (otherwise detected).")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Decision threshold (default: the model's).")
@codebook_option
@json_option
def evaluate_cmd(gold, model, models_dir, text_column, reasons_column, lang_column, threshold, codebook_path, as_json):
    """Score a model on any labeled file: per-reason P/R/F1, confusion counts, macro-F1, ECE.

    Rows with an empty reasons cell are skipped (unlabeled); 'none' means labeled with no reason.

    \b
    Examples:
      whylabel evaluate --gold coded_by_anna.csv
      whylabel evaluate --gold holdout.jsonl --model default --json
      whylabel evaluate --gold holdout.csv --model cues --reasons-column codes
    """
    from ..evaluation import evaluate_probabilities
    from ..model import CueSuggester, indicator, load_suggester

    book = load_codebook(codebook_path)
    texts, langs, labels, unlabeled = read_gold(gold, book, text_column=text_column,
                                                reasons_column=reasons_column, lang_column=lang_column)
    suggester = CueSuggester(book) if model == "cues" else load_suggester(book, model, models_dir=models_dir)
    thr = suggester.threshold if threshold is None else threshold
    P = suggester.predict_proba(texts, langs)
    metrics = evaluate_probabilities(P, indicator(labels, book.reason_names), book, threshold=thr)
    out = {"gold": gold, "model_id": suggester.model_id, "skipped_unlabeled": unlabeled, **metrics}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo(f"{gold}: {metrics['n']} labeled items ({unlabeled} unlabeled skipped), model {suggester.model_id}")
    click.echo(_metrics_table(metrics))


@click.command("models")
@_models_dir_option
@click.option("--use", "use_name", metavar="NAME", help="Put this model in use (suggest, predict, label).")
@codebook_option
@json_option
def models_cmd(models_dir, use_name, codebook_path, as_json):
    """List the models: what each was trained on, its scores, and which one is in use.

    The model in use is the one `suggest`, `predict` and `label` pick when no --model is given.
    `whylabel train` puts a new model in use only when it beats the one in use on your labels;
    --use NAME puts one in use by hand.

    \b
    Examples:
      whylabel models
      whylabel models --use anna-oct
      whylabel models --json
    """
    from ..model import list_models, use_model

    book = load_codebook(codebook_path)
    if use_name:
        use_model(use_name, book, models_dir=models_dir)
    rows = list_models(book, models_dir=models_dir)
    if as_json:
        click.echo(json.dumps({"models": rows}, ensure_ascii=False, indent=2))
        return
    for r in rows:
        mark = "*" if r["in_use"] else " "
        f1 = "-" if r["cv_macro_f1"] is None else f"{r['cv_macro_f1']:.3f}"
        compat = "" if r["compatible"] else "  (not usable: another codebook or scikit-learn version)"
        click.echo(f"{mark} {r['name']:<24} {r['model_id'] or '':<34} {r['kind']:<14} CV macro-F1 {f1:<6} "
                   f"{r['trained_on']}{compat}")
        if r["in_use"] and r["why"]:
            click.echo(f"    in use: {r['why']}")
    if not any(r["in_use"] for r in rows):
        click.echo("in use: the cue phrases (no compatible model)")
