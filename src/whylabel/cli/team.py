"""Team commands: agreement between annotators, and labels the model most confidently contradicts."""

from __future__ import annotations

import json
import math

import click

from . import UserError, codebook_option, db_option, json_option
from ..codebook import load_codebook
from ..store import Store


def known_annotator(store: Store, name: str) -> None:
    known = store.annotators()
    if name not in known:
        raise UserError(f"unknown annotator {name!r} (known: {', '.join(sorted(known)) or 'nobody has labeled yet'})")


def known_breakpoint(store: Store, name: str) -> None:
    known = [b["name"] for b in store.breakpoints()]
    if name not in known:
        raise UserError(f"unknown breakpoint {name!r} (known: {', '.join(known) or 'none'})")


def _figure(value: float | None) -> str:
    """Three decimals, cut rather than rounded: 0.7999 shows as 0.799, in the band it belongs to."""
    return "-" if value is None else f"{math.floor(value * 1000) / 1000:.3f}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def agreement_text(report, *, samples: int) -> str:
    from ..agreement import alpha_band, kappa_band

    names = report.annotators
    two = len(names) == 2
    lines = [f"agreement of {', '.join(names)} on {report.n_items} items labeled by at least two of them",
             "",
             f"{'code':<13}{'alpha':>7}  {'95 % interval':<15}{'alpha band':<12}{'kappa':>7}  "
             f"{'kappa band':<16}{'agree':>6}{'n':>6}"]
    codes = [*report.reasons.items(), ("driver", report.driver)]
    for name, code in codes:
        interval = "-" if code.alpha_ci is None else f"[{code.alpha_ci[0]:.2f}, {code.alpha_ci[1]:.2f}]"
        lines.append(f"{name:<13}{_figure(code.alpha):>7}  {interval:<15}{alpha_band(code.alpha):<12}"
                     f"{_figure(code.kappa):>7}  {(kappa_band(code.kappa) if two else '-'):<16}"
                     f"{'-' if code.agreement is None else format(code.agreement, '.0%'):>6}{code.n:>6}")
    lines += [
        "",
        "alpha (Krippendorff): >= 0.8 reliable · 0.667-0.8 tentative conclusions only · < 0.667 unreliable",
        "kappa (Landis & Koch): < 0 poor · 0-0.20 slight · 0.21-0.40 fair · 0.41-0.60 moderate · "
        "0.61-0.80 substantial · 0.81-1 almost perfect" if two else "kappa: only for exactly two annotators",
        f"interval: {samples} bootstrap samples of the items (seed 0) · agree: items on which every coder "
        "gives the same value",
    ]
    if two:
        first, second = names
        width = max(len(first), 3) + 8
        lines += ["", f"confusion per reason (rows: {first}, columns: {second})",
                  f"{'':<13}{'':<{width}}{second + ' no':>12}{second + ' yes':>12}"]
        for name, code in report.reasons.items():
            for row, value in enumerate(("no", "yes")):
                label = name if row == 0 else ""
                cells = "".join(f"{n:>12}" for n in code.confusion[row])
                lines.append(f"{label:<13}{first + ' ' + value:<{width}}{cells}")
        driver = report.driver
        lines += ["", f"driver (rows: {first}, columns: {second})",
                  f"{'':<13}" + "".join(f"{v:>11}" for v in driver.values)]
        for value, row in zip(driver.values, driver.confusion):
            lines.append(f"{value:<13}" + "".join(f"{n:>11}" for n in row))
    return "\n".join(lines)


AGREEMENT_COLUMNS = ("code", "alpha", "alpha_low", "alpha_high", "alpha_band", "kappa", "kappa_band",
                     "agreement", "n")


@click.command("agreement")
@click.option("--annotators", metavar="A,B,…", help="Compare these annotators (default: everyone who labeled).")
@click.option("--breakpoint", "breakpoint", metavar="NAME", help="Only items of this breakpoint.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the figures as CSV here (one row per reason, and the driver).")
@db_option
@codebook_option
@json_option
def agreement_cmd(annotators, breakpoint, out, db_path, codebook_path, as_json):
    """How far annotators agree, per reason and for the driver.

    Over the items at least two of the annotators labeled (each annotator's newest own label;
    adjudications do not count): Krippendorff's alpha (nominal, any number of annotators, missing
    labels allowed) with a bootstrap 95 % interval, Cohen's kappa when there are exactly two,
    the share of items on which they all agree, and n. With two annotators it also shows, per
    reason, how often each said yes or no while the other did not.

    \b
    Examples:
      whylabel agreement
      whylabel agreement --annotators anna,ben --breakpoint checkout
      whylabel agreement --json
      whylabel agreement -o agreement.csv
    """
    from ..agreement import BOOTSTRAP_SAMPLES, alpha_band, kappa_band, team_agreement

    book = load_codebook(codebook_path)
    with Store(db_path, create=False) as store:
        if annotators is not None:
            names = list(dict.fromkeys(n.strip() for n in annotators.split(",") if n.strip()))
            for name in names:
                known_annotator(store, name)
            if len(names) < 2:
                first = names[0] if names else "anna"
                other = next((a for a in sorted(store.annotators()) if a not in names), "ben")
                raise UserError(f"--annotators needs two names or more, e.g. --annotators {first},{other}")
        else:
            names = sorted(store.annotators())
        if breakpoint:
            known_breakpoint(store, breakpoint)
        coders = store.coder_labels(names, breakpoint=breakpoint)
    report = team_agreement(coders, book, samples=BOOTSTRAP_SAMPLES, seed=0)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    if out:
        from ..export import TableWriter, atomic_output

        two = len(report.annotators) == 2
        with atomic_output(out) as stream:
            writer = TableWriter(stream, AGREEMENT_COLUMNS)
            for name, code in [*report.reasons.items(), ("driver", report.driver)]:
                low, high = code.alpha_ci or (None, None)
                writer.write({"code": name, "alpha": code.alpha, "alpha_low": low, "alpha_high": high,
                              "alpha_band": alpha_band(code.alpha), "kappa": code.kappa,
                              "kappa_band": kappa_band(code.kappa) if two else None,
                              "agreement": code.agreement, "n": code.n})
        if out != "-":
            click.echo(f"{out}: agreement of {', '.join(report.annotators)} on {report.n_items} items", err=True)
        return
    click.echo(agreement_text(report, samples=BOOTSTRAP_SAMPLES))


SUSPICIOUS_COLUMNS = ("item_id", "external_id", "score", "labels", "suggested", "text")


@click.command("suspicious")
@click.option("--annotator", metavar="NAME",
              help="Check this annotator's labels (default: each item's adjudicated, else newest label).")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True, metavar="N",
              help="How many of the most suspicious labels to show.")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the top N as CSV here.")
@db_option
@codebook_option
@json_option
def suspicious_cmd(annotator, top, out, db_path, codebook_path, as_json):
    """Labels the model most confidently contradicts: the first ones to look at again.

    Each label is scored by a model that never saw it (5-fold cross-validation with the current
    training recipe): per reason, the model's probability where the label says no, one minus it
    where the label says yes; an item scores its worst reason. Items whose label was settled or
    confirmed (an adjudication, e.g. in `whylabel label --queue suspicious`) are left out.

    \b
    Examples:
      whylabel suspicious
      whylabel suspicious --annotator anna --top 50 -o recheck.csv
      whylabel suspicious --json
    """
    from ..agreement import rank_suspicious

    book = load_codebook(codebook_path)
    with Store(db_path, create=False) as store:
        if annotator:
            known_annotator(store, annotator)
        rows = store.labeled(annotator)
        settled = store.adjudicated_items()
        vectors = _vectors(store, rows, book, len(rows))
    ranked = [s for s in rank_suspicious(rows, book, vectors=vectors) if s.item_id not in settled][:top]
    if as_json:
        click.echo(json.dumps({"items": [s.to_json() for s in ranked]}, ensure_ascii=False, indent=2))
        return
    if out:
        from ..export import TableWriter, atomic_output

        with atomic_output(out) as stream:
            writer = TableWriter(stream, SUSPICIOUS_COLUMNS)
            for s in ranked:
                writer.write({**s.to_json(), "labels": ";".join(s.labels) or "none",
                              "suggested": ";".join(s.suggested) or "none"})
        if out != "-":
            click.echo(f"{out}: {len(ranked)} suspicious labels", err=True)
        return
    click.echo(f"{'score':>6} {'item':>6}  {'label':<22} {'model':<22} text")
    for s in ranked:
        click.echo(f"{s.score:>6.2f} {s.item_id:>6}  {_cut(', '.join(s.labels) or 'none', 22):<22} "
                   f"{_cut(', '.join(s.suggested) or 'none', 22):<22} {_cut(' '.join(s.text.split()), 60)}")
    click.echo(f"{len(ranked)} of {len(rows)} labels; review them with `whylabel label --queue suspicious`",
               err=True)


def _vectors(store, rows, book, n):
    """The labeled items' sentence vectors, from the store (encoded once and kept); None when
    there are too few labels to rank (the ranking then says how many more it needs)."""
    from ..agreement import min_items_for_folds
    from ..model import stored_vectors

    if n < min_items_for_folds(5):
        return None
    return list(stored_vectors(store, [r["id"] for r in rows], [r["text"] for r in rows]))
