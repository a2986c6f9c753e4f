"""Dev evaluation on real customer text with weak labels (../shared/data), per reason.

Usage:
    python benchmarks/dev_eval.py                      # the model `whylabel` would load (default model)
    python benchmarks/dev_eval.py --model cues         # cue phrases only
    python benchmarks/dev_eval.py --model PATH_OR_NAME --json

The dev set itself (sources, weak labels, our own labels) is described in tests/dev_set.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dev_set import DATA, OWN_LABELS, SECOND_CODER_LABELS, coder_agreement, load_dev_set, score  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or path; 'cues' for cue phrases only "
                                                  "(default: what `whylabel suggest` would load)")
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--threshold", type=float, default=None, help="default: the model's own threshold")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--fast", action="store_true", help="words only, as `whylabel predict --fast`")
    args = ap.parse_args(argv)
    root = Path(args.data)
    if not root.is_dir():
        print(f"dev data not found at {root}: nothing to evaluate", file=sys.stderr)
        return 1
    from whylabel.codebook import load_codebook
    from whylabel.model import CueSuggester, load_suggester

    book = load_codebook()
    suggester = CueSuggester(book) if args.model == "cues" else load_suggester(
        book, args.model, models_dir=args.models_dir, fast=args.fast)
    items = load_dev_set(root)
    t = time.perf_counter()
    probs = suggester.predict_proba([it["text"] for it in items], [it["lang"] for it in items])
    elapsed = time.perf_counter() - t
    thr = suggester.threshold if args.threshold is None else args.threshold
    result = score(items, probs, thr)
    own = [i for i, it in enumerate(items) if it["source"].startswith("own:")]
    if own:
        result["own_labels"] = score([items[i] for i in own], [probs[i] for i in own], thr)
        result["own_labels"].pop("per_source")
    result.update({"model_id": suggester.model_id, "items": len(items), "seconds": round(elapsed, 2),
                   "command": "python benchmarks/dev_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])})
    if "own_labels" in result and SECOND_CODER_LABELS.exists():
        result["coder_agreement"] = coder_agreement(OWN_LABELS, SECOND_CODER_LABELS)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"$ {result['command'].strip()}")
    print(f"model {result['model_id']}, {len(items)} weakly labeled items, threshold {thr}, "
          f"{len(items) / elapsed:,.0f} texts/s")
    print(f"{'reason':<13}{'P':>7}{'R':>7}{'F1':>7}{'pos':>6}{'n':>7}")
    for reason, m in result["per_reason"].items():
        print(f"{reason:<13}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{m['support']:>6}{m['n']:>7}")
    print(f"{'macro-F1':<13}{'':>14}{result['macro_f1']:>7.3f}")
    if "own_labels" in result:
        o = result["own_labels"]
        print(f"own labels only ({len(own)} real texts, all six reasons): macro-F1 {o['macro_f1']:.3f}  "
              + "  ".join(f"{r} {m['f1']:.2f} ({m['support']})" for r, m in o["per_reason"].items()))
    if "coder_agreement" in result:
        c = result["coder_agreement"]
        print(f"two coders on {c['items']} of them agree at macro-F1 {c['macro_f1']:.2f}  "
              + "  ".join(f"{r} {f:.2f}" for r, f in c["per_reason"].items()))
    print("per source:")
    for src, per in result["per_source"].items():
        print(f"  {src:<24}" + "  ".join(f"{r} {m['f1']:.2f} ({m['support']}/{m['n']})" for r, m in per.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
