"""Suggestion throughput against spaCy's bare tokenizer on the same real texts (single process).

Usage:
    python benchmarks/bench_suggest.py                 # default model (what `whylabel suggest` loads)
    python benchmarks/bench_suggest.py --model cues    # cue phrases only
    python benchmarks/bench_suggest.py --repeat 15 --by-source --json

Texts (../shared/data): customer-support tweets (twcs_sample), clothing reviews, CFPB complaint
narratives (long) and Dutch ABSA restaurant sentences, mixed in a fixed order. The bare tokenizer is
`spacy.blank(lang).tokenizer.pipe(texts)` per language, fully consumed; the suggester is
`Suggester.suggest(texts, langs)` with evidence, in batches of 512 (what `whylabel suggest` does),
with the languages known (as after an import) and detected. Times are CPU time of this process
(time.process_time), after one warm-up run (both sides see a warm vocabulary and tokenizer cache).

This machine is shared and its speed drifts by tens of percent within a minute, so the tokenizer
and the suggester take turns batch by batch in each of --repeat rounds, and the figure is the
*median of the per-round ratios* (with their range); rates are medians too. `--by-source` adds the ratio per
source: short Dutch sentences, tweets, reviews, long complaint narratives.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def load_texts(root: Path = DATA, cfpb_max: int = 300) -> list[tuple[str, str, str]]:
    """(source, text, lang) from the real data sets; a fixed order."""
    csv.field_size_limit(1 << 30)
    out: list[tuple[str, str, str]] = []
    p = root / "twcs_sample" / "sample.csv"
    if p.exists():
        with p.open(encoding="utf-8", newline="") as f:
            out += [("twcs", r["text"], "en") for r in csv.DictReader(f) if r.get("text")]
    p = root / "womens_clothing_ecommerce_reviews" / "reviews.csv"
    if p.exists():
        with p.open(encoding="utf-8", newline="") as f:
            out += [("clothing", r["Review Text"], "en") for r in csv.DictReader(f) if r.get("Review Text")]
    p = root / "cfpb_complaints_sample" / "complaints_sample.csv"
    if p.exists():
        with p.open(encoding="utf-8", newline="") as f:
            narr = [r["Consumer complaint narrative"] for r in csv.DictReader(f)
                    if (r.get("Consumer complaint narrative") or "").strip()]
        out += [("cfpb", t, "en") for t in narr[:cfpb_max]]
    p = root / "semeval_absa_dutch_restaurants" / "restaurants_dutch_training.xml"
    if p.exists():
        out += [("absa_nl", s.findtext("text").strip(), "nl") for s in ET.parse(p).getroot().iter("sentence")
                if (s.findtext("text") or "").strip()]
    random.Random(7).shuffle(out)
    return out


def bare_tokenizer(texts: list[str], langs: list[str]) -> float:
    from whylabel.nlp import pipeline

    groups = {lang: [x for x, lg in zip(texts, langs) if lg == lang] for lang in ("en", "nl")}
    t = time.process_time()
    for lang, group in groups.items():
        for _ in pipeline(lang).tokenizer.pipe(group, batch_size=512):
            pass
    return time.process_time() - t


def run_suggester(suggester, texts: list[str], langs: list[str] | None, batch: int = 512) -> float:
    suggest = suggester.suggest_batch if BATCH_FORM else suggester.suggest
    t = time.process_time()
    for i in range(0, len(texts), batch):
        suggest(texts[i:i + batch], None if langs is None else langs[i:i + batch])
    return time.process_time() - t


BATCH_FORM = False  # --batch-form: time suggest_batch (arrays, what predict reads) instead of suggest


def rounds(sugg, texts: list[str], langs: list[str], repeat: int, detect: bool = False, batch: int = 512):
    """CPU seconds per round: tokenizer, suggester (languages known), suggester (detected).

    Paired batch by batch (each 512-text batch through all three, in turns of order), so that a
    ratio compares measurements a few milliseconds apart: this machine's speed drifts more than
    that between whole passes."""
    tok, known, detected = [], [], []
    for k in range(repeat):
        tt = tk = td = 0.0
        for i in range(0, len(texts), batch):
            t_, l_ = texts[i:i + batch], langs[i:i + batch]
            steps = [("t", lambda: bare_tokenizer(t_, l_)), ("k", lambda: run_suggester(sugg, t_, l_, batch))]
            if detect:
                steps.append(("d", lambda: run_suggester(sugg, t_, None, batch)))
            if (i // batch + k) % 2:
                steps.reverse()
            for name, step in steps:
                spent = step()
                if name == "t":
                    tt += spent
                elif name == "k":
                    tk += spent
                else:
                    td += spent
        tok.append(tt)
        known.append(tk)
        detected.append(td)
    return tok, known, detected


def ratios(tok: list[float], other: list[float]) -> list[float]:
    return [t / o for t, o in zip(tok, other)]


def spread(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model name or path; 'cues' for cue phrases only")
    ap.add_argument("--models-dir", default=None)
    ap.add_argument("--fast", action="store_true", help="words only (whylabel suggest --fast)")
    ap.add_argument("--repeat", type=int, default=9, help="interleaved rounds (the figure is their median)")
    ap.add_argument("--by-source", action="store_true", help="also the ratio per source (short and long texts)")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--batch-form", action="store_true",
                    help="time suggest_batch (the same suggestions as arrays, what predict reads) instead of "
                         "suggest (a Suggestion object per text, what the UI and `whylabel suggest` read)")
    args = ap.parse_args(argv)
    global BATCH_FORM
    BATCH_FORM = args.batch_form
    rows = load_texts(Path(args.data))
    if not rows:
        print(f"no texts found under {args.data}", file=sys.stderr)
        return 1
    from whylabel.codebook import load_codebook
    from whylabel.model import CueSuggester, load_suggester

    book = load_codebook()
    sugg = CueSuggester(book) if args.model == "cues" else load_suggester(book, args.model, models_dir=args.models_dir,
                                                                                          fast=args.fast)
    texts = [t for _, t, _ in rows]
    langs = [lg for _, _, lg in rows]
    chars = sum(map(len, texts))

    bare_tokenizer(texts, langs)  # warm-up: both sides see a warm vocabulary
    run_suggester(sugg, texts, langs)
    tok, known, detected = rounds(sugg, texts, langs, args.repeat, detect=True)
    n = len(texts)
    med = statistics.median
    result = {
        "model_id": sugg.model_id, "texts": n, "mean_chars": round(chars / n, 1), "rounds": args.repeat,
        "sources": {s: sum(1 for r in rows if r[0] == s) for s in sorted({r[0] for r in rows})},
        "tokenizer_texts_per_s": round(n / med(tok)), "suggest_texts_per_s": round(n / med(known)),
        "suggest_detect_lang_texts_per_s": round(n / med(detected)),
        "ratio": round(med(ratios(tok, known)), 3), "ratio_range": spread(ratios(tok, known)),
        "ratio_detect_lang": round(med(ratios(tok, detected)), 3),
        "ratio_detect_lang_range": spread(ratios(tok, detected)),
    }
    if args.by_source:
        result["by_source"] = {}
        for src in sorted({r[0] for r in rows}):
            sel = [r for r in rows if r[0] == src]
            reps = max(1, 3000 // len(sel))  # small sets repeated: timings of at least ~3,000 texts
            t_, l_ = [r[1] for r in sel] * reps, [r[2] for r in sel] * reps
            st, ss, _ = rounds(sugg, t_, l_, args.repeat)
            result["by_source"][src] = {"texts": len(sel), "mean_chars": round(sum(map(len, t_)) / len(t_), 1),
                                        "tokenizer_texts_per_s": round(len(t_) / med(st)),
                                        "suggest_texts_per_s": round(len(t_) / med(ss)),
                                        "ratio": round(med(ratios(st, ss)), 3), "ratio_range": spread(ratios(st, ss))}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"$ python benchmarks/bench_suggest.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"{n} texts ({result['sources']}), mean {result['mean_chars']} chars; model {sugg.model_id}; "
          f"median of {args.repeat} interleaved rounds")
    print(f"  bare spaCy tokenizer          {result['tokenizer_texts_per_s']:>8,} texts/s")
    print(f"  suggest (languages known)     {result['suggest_texts_per_s']:>8,} texts/s   ratio {result['ratio']:.2f} "
          f"(rounds {result['ratio_range'][0]:.2f}-{result['ratio_range'][1]:.2f})")
    print(f"  suggest (languages detected)  {result['suggest_detect_lang_texts_per_s']:>8,} texts/s   "
          f"ratio {result['ratio_detect_lang']:.2f} (rounds {result['ratio_detect_lang_range'][0]:.2f}-"
          f"{result['ratio_detect_lang_range'][1]:.2f})")
    for src, r in result.get("by_source", {}).items():
        print(f"  {src:<14} {r['texts']:>5} texts, {r['mean_chars']:>6.0f} chars: tokenizer {r['tokenizer_texts_per_s']:>8,}/s, "
              f"suggest {r['suggest_texts_per_s']:>7,}/s, ratio {r['ratio']:.2f} "
              f"({r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
