"""How many deliberately wrong labels `whylabel suspicious` ranks near the top.

Imports the labeled sample feedback that `whylabel demo` uses (sample_feedback/, annotator
"sample") into a scratch database, flips one reason (adds a missing one or removes a given one)
on `--flip` randomly chosen items, ranks every label with `agreement.rank_suspicious` (5-fold
out-of-fold probabilities, the current training recipe) and prints the share of flipped labels
among the top 2 x `--flip`. Chance level is 2 x flip / items.

    python benchmarks/flip_labels.py [--flip 50] [--seed 0]
    python benchmarks/flip_labels.py --set own [--flip 40]    # our own labels of real texts (../shared/data)

On the sample the ranking learns from scratch (the shipped default's prior is the sample itself);
on our own labels of real texts it learns as `whylabel suspicious` does, on top of that prior.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def labeled_sample(book) -> list[dict]:
    from whylabel.ingest import import_file
    from whylabel.resources import SAMPLE_FILES, sample_dir
    from whylabel.store import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "sample.db") as store:
        for file in SAMPLE_FILES:
            import_file(store, sample_dir() / file, book, columns={"reasons": "reasons"},
                        annotator="sample")
        return store.labeled()


def labeled_own(book) -> list[dict]:
    """Our own labels of real texts (tests/data/dev_labels.csv), as rows like the store's."""
    sys.path.insert(0, str(REPO / "tests"))
    from dev_set import DATA, OWN_LABELS, _own_labels

    items = _own_labels(DATA, OWN_LABELS)
    return [{"id": i, "external_id": it["source"], "text": it["text"], "lang": it["lang"],
             "reasons": [r for r in book.reason_names if it["labels"].get(r)]} for i, it in enumerate(items)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flip", type=int, default=50, help="How many labels to flip (default 50).")
    ap.add_argument("--seed", type=int, default=0, help="Which labels are flipped, and the folds.")
    ap.add_argument("--set", dest="which", choices=["sample", "own"], default="sample",
                    help="the labeled sample feedback, or our own labels of real texts")
    args = ap.parse_args(argv)

    from whylabel.agreement import rank_suspicious
    from whylabel.codebook import load_codebook

    book = load_codebook()
    rows = labeled_sample(book) if args.which == "sample" else labeled_own(book)
    rng = random.Random(args.seed)
    flipped = set()
    for row in rng.sample(rows, args.flip):
        reason = rng.choice(book.reason_names)
        given = set(row["reasons"]) ^ {reason}
        row["reasons"] = [r for r in book.reason_names if r in given]
        flipped.add(row["id"])
    started = time.perf_counter()
    # From scratch: the shipped default's prior is this very sample, with the labels unflipped.
    ranked = rank_suspicious(rows, book, seed=args.seed, from_scratch=args.which == "sample")
    seconds = time.perf_counter() - started
    top = {s.item_id for s in ranked[: 2 * args.flip]}
    found = len(flipped & top)
    chance = 2 * args.flip / len(rows)
    print(f"{len(rows)} labeled {args.which} items, {args.flip} labels flipped (one reason each, seed {args.seed}): "
          f"{found}/{args.flip} = {found / args.flip:.0%} in the top {2 * args.flip} "
          f"(chance {chance:.0%}); ranking took {seconds:.1f} s", file=sys.stderr)
    print(f"{found / args.flip:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
