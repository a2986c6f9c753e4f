"""`whylabel label`: the keyboard-first labeling UI (Textual, imported only when it runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import UserError, annotator_default, codebook_option, db_option
from ..codebook import load_codebook
from ..store import Store

QUEUES = ("uncertain", "newest", "random", "breakpoint", "double", "disagreements", "suspicious")
SUSPICIOUS_FROM = 0.5  # the suspicious queue: labels the model contradicts at least this confidently


@click.command("label")
@db_option
@click.option("--annotator", default=annotator_default, metavar="NAME",
              show_default="$WHYLABEL_ANNOTATOR, else your OS user name",
              help="Your name in the annotations.")
@click.option("--breakpoint", "breakpoint", metavar="NAME", help="Only items of this breakpoint.")
@click.option("--source", metavar="SOURCE", help="Only items of this source (survey, review, ticket).")
@click.option("--queue", "queue", type=click.Choice(QUEUES), default="uncertain", show_default=True,
              help="Order: what the model is least sure of, newest first, random, or by breakpoint; or a team "
              "queue: double (blind second coding), disagreements (adjudicate), suspicious (review labels).")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="--queue double: the share of labeled items that is double-coded (the same items for everyone).")
@click.option("--blind", is_flag=True,
              help="Reliability coding: hide suggestions and evidence; items count as done only when you labeled them.")
@click.option("--retrain-every", type=click.IntRange(min=0), default=25, show_default=True, metavar="N",
              help="Retrain in the background after every N new labels (0: only when you press t).")
@click.option("--model", metavar="NAME|PATH", help="Model to suggest with (default: the newest compatible one, "
              "else the codebook's cue phrases).")
@codebook_option
def label_cmd(db_path, annotator, breakpoint, source, queue, share, blind, retrain_every, model, codebook_path):
    """Label feedback in the terminal, one keystroke per decision.

    Keys: 1-6 toggle a reason, enter saves (untouched: accepts the suggestion), 0 saves "no
    breakpoint reason", s skips, u undoes, ←/→ walk through your labels, / searches, f filters,
    e adds a note, ? shows the codebook, t retrains, a shows the team's agreement, q quits. Every
    decision is committed to the database before the next item appears; reopening continues
    where you stopped. The team queues (double, disagreements, suspicious) are described in the
    README's "Working as a team".

    \b
    Examples:
      whylabel label
      whylabel label --breakpoint checkout --queue newest
      whylabel label --annotator anna --blind      # second coder for reliability
      whylabel label --queue double --annotator ben --share 0.2
      whylabel label --queue disagreements --annotator lead
      whylabel label --queue suspicious
    """
    if not Path(db_path).exists():
        raise UserError(f"{db_path}: database not found (run `whylabel import FILE --db {db_path}` first, "
                        "or `whylabel demo`)")
    with Store(db_path, create=False) as store:
        if not store.count_items():
            raise UserError(f"{db_path}: holds no feedback yet (run `whylabel import FILE --db {db_path}` first)")
        if breakpoint and breakpoint not in {b["name"] for b in store.breakpoints()}:
            known = ", ".join(b["name"] for b in store.breakpoints()) or "none"
            raise UserError(f"unknown breakpoint {breakpoint!r} (known: {known})")
        if source and source not in store.sources():
            raise UserError(f"unknown source {source!r} (known: {', '.join(store.sources())})")
    if not (sys.stdin.isatty() and sys.stdout.isatty()) and not os.environ.get("WHYLABEL_FORCE_UI"):
        raise UserError("whylabel label needs an interactive terminal (stdin and stdout must be a TTY)")
    book = load_codebook(codebook_path)
    ranked: list[int] = []
    if queue == "suspicious":
        from ..agreement import min_items_for_folds, rank_suspicious

        from .team import _vectors

        with Store(db_path, create=False) as store:
            rows = store.labeled()
            if len(rows) >= min_items_for_folds(5):
                click.echo(f"ranking {len(rows)} labels by 5-fold cross-validation…", err=True)
            vectors = _vectors(store, rows, book, len(rows))
        ranked = [s.item_id for s in rank_suspicious(rows, book, vectors=vectors) if s.score >= SUSPICIOUS_FROM]

    from ..tui.app import build_app  # Textual: only now

    app = build_app(db_path, book, annotator=annotator, queue=queue, breakpoint=breakpoint, source=source,
                    blind=blind, retrain_every=retrain_every, model=model, share=share, ranked=ranked)
    app.run()
    saved = app.label_screen.saved_this_session
    team_queue = f" --queue {queue}" if queue in ("double", "disagreements", "suspicious") else ""
    click.echo(f"{saved} decision{'s' if saved != 1 else ''} saved to {db_path} as {annotator}; "
               f"`whylabel label --db {db_path}{team_queue}` continues where you stopped.", err=True)
