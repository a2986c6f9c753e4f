"""Learning curve: a team's own labels on top of the shipped default, scored on held-out labels.

    python benchmarks/learning_curve.py [--sizes 25,100,250] [--seeds 3] [--prior-weight 0.3] [--from-scratch]

Our own labels of real texts (tests/data/dev_labels.csv, texts read from ../shared/data) are split
once per seed into a held-out set and a pool; a model is trained (as `whylabel train` does: on top
of the default's training labels, or --from-scratch) on the first N of the pool and scored on the
held-out set beside the shipped default out of the box (macro-F1 at each model's threshold). The
same held-out items for every size of one seed, so the curve compares like with like.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dev_set import DATA, OWN_LABELS, _own_labels  # noqa: E402

CACHE = Path(__file__).parent / "out" / "vectors.npz"


def vectors(texts: list[str]) -> np.ndarray:
    """Sentence vectors, cached in benchmarks/out/ (keyed by text) so reruns do not re-encode."""
    from whylabel.model import complete_vectors

    cache = dict(np.load(CACHE)) if CACHE.exists() else {}
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    if missing:
        fresh = complete_vectors([texts[i] for i in missing], None)
        cache.update({keys[i]: v.astype(np.float16) for i, v in zip(missing, fresh)})
        CACHE.parent.mkdir(exist_ok=True)
        np.savez(CACHE, **cache)
    return np.stack([cache[k].astype(np.float32) for k in keys])


def own_set(book):
    from whylabel.model import TrainingSet, indicator

    items = _own_labels(DATA, OWN_LABELS)
    texts = [it["text"] for it in items]
    labels = [[r for r in book.reason_names if it["labels"].get(r)] for it in items]
    return TrainingSet(texts, [it["lang"] for it in items], indicator(labels, book.reason_names), vectors(texts))


def macro_f1(Y, P, threshold) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(Y, (P >= threshold).astype(int), average="macro", zero_division=0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="25,100,250")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--held-out", type=int, default=130)
    ap.add_argument("--prior-weight", type=float, default=None)
    ap.add_argument("--from-scratch", action="store_true")
    ap.add_argument("--words-only", action="store_true", help="the --fast model: words only")
    ap.add_argument("--params", default=None, help='model parameters as JSON, e.g. {"meaning_C": 1.0}')
    ap.add_argument("--cv", action="store_true",
                    help="instead: 5-fold cross-validation on all our labels, as `whylabel train` reports it")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"dev data not found at {DATA}", file=sys.stderr)
        return 1
    from whylabel.codebook import load_codebook
    from whylabel.model import TrainingSet, fit_model, load_prior, load_suggester

    book = load_codebook()
    data = own_set(book)
    prior = None if args.from_scratch else load_prior(book)
    weight = args.prior_weight  # None: as `whylabel train` weighs it (prior_weight_for)
    default = load_suggester(book, "default", fast=args.words_only)
    if args.cv:
        result = fit_model(data if not args.words_only else TrainingSet(data.texts, data.langs, data.Y), book,
                           cv_folds=5, prior=prior, prior_weight=weight, words_only=args.words_only)
        m = result.metrics
        print(f"5-fold CV on {len(data)} labeled real texts (prior: {'none' if prior is None else len(prior)}): "
              f"macro-F1 {m['macro_f1']:.3f}  " + "  ".join(f"{r} {v['f1']:.2f}" for r, v in m["per_reason"].items()))
        return 0
    sizes = [int(x) for x in args.sizes.split(",")]
    params = json.loads(args.params) if args.params else None
    print(f"$ python benchmarks/learning_curve.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"{len(data)} labeled real texts; held out {args.held_out} per seed; prior "
          + ("none" if prior is None else f"{len(prior)} items at weight {weight or 'by label count'}"))
    rows: dict[int, list[float]] = {n: [] for n in sizes}
    base: list[float] = []
    for seed in range(args.seeds):
        order = np.random.default_rng(seed).permutation(len(data))
        held, pool = order[:args.held_out], order[args.held_out:]
        vec = None if args.words_only else data.vectors[held]
        p_default = default.predict_proba([data.texts[i] for i in held], [data.langs[i] for i in held], vec)
        base.append(macro_f1(data.Y[held], p_default, default.threshold))
        for n in sizes:
            idx = pool[:n]
            sub = TrainingSet([data.texts[i] for i in idx], [data.langs[i] for i in idx], data.Y[idx],
                              None if args.words_only else data.vectors[idx])
            t = time.perf_counter()
            result = fit_model(sub, book, cv_folds=0, seed=seed, prior=prior, prior_weight=weight,
                               words_only=args.words_only, params=params)
            s = result.suggester
            p = s.predict_proba([data.texts[i] for i in held], [data.langs[i] for i in held], vec)
            rows[n].append(macro_f1(data.Y[held], p, s.threshold))
            print(f"  seed {seed} n={n}: {rows[n][-1]:.3f} (default {base[-1]:.3f}; fit {time.perf_counter() - t:.1f} s)",
                  flush=True)
    print(f"{'labels':>8}{'model':>8}{'default':>9}{'gain':>8}  (mean over {args.seeds} seeds; min gain)")
    for n in sizes:
        gains = np.array(rows[n]) - np.array(base)
        print(f"{n:>8}{np.mean(rows[n]):>8.3f}{np.mean(base):>9.3f}{gains.mean():>+8.3f}  (min {gains.min():+.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
