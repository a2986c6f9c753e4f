"""Build a large export for `whylabel predict` benchmarks from real customer text.

Texts come from ../shared/data (support tweets from twcs and IBM customer care, clothing reviews,
CFPB complaint narratives, Dutch restaurant review sentences): each source is equally likely, a
text is sampled with replacement and lightly varied (a greeting, an order number, a closing, case
of the first letter, a trimmed last sentence), so no two adjacent rows are byte-identical but the
words stay real. The output is an ordinary survey-tool style CSV in benchmarks/out/ (gitignored).

`--short` keeps what most feedback is, short texts (mean ~230 characters): support tweets, clothing
reviews and Dutch restaurant sentences, weighted as SHORT_WEIGHTS says, and of the complaint
narratives only those of at most SHORT_CFPB_MAX characters.

    python benchmarks/build_corpus.py --rows 1000000            # benchmarks/out/corpus_1000000.csv
    python benchmarks/build_corpus.py --rows 1000000 --short    # benchmarks/out/corpus_short_1000000.csv
    python benchmarks/build_corpus.py --rows 100000 --seed 1
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out"

csv.field_size_limit(10_000_000)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def load_sources(data: Path = DATA) -> dict[str, list[tuple[str, str]]]:
    """source name -> [(lang, text)]; fails with a clear message when the shared data is absent."""
    if not data.is_dir():
        sys.exit(f"{data} not found: the benchmark needs the shared real-data folder")
    sources: dict[str, list[tuple[str, str]]] = {}
    with open(data / "twcs_sample" / "sample.csv", encoding="utf-8", newline="") as f:
        sources["twcs"] = [("en", t) for r in csv.DictReader(f) if (t := _clean(r["text"]))]
    with open(data / "womens_clothing_ecommerce_reviews" / "reviews.csv", encoding="utf-8", newline="") as f:
        sources["clothing"] = [("en", t) for r in csv.DictReader(f) if (t := _clean(r["Review Text"]))]
    with open(data / "cfpb_complaints_sample" / "complaints_sample.csv", encoding="utf-8", newline="") as f:
        sources["cfpb"] = [("en", t) for r in csv.DictReader(f)
                           if (t := _clean(r["Consumer complaint narrative"]))]
    tree = ET.parse(data / "semeval_absa_dutch_restaurants" / "restaurants_dutch_training.xml")
    sources["absa_nl"] = [("nl", t) for el in tree.iter("text") if (t := _clean(el.text))]
    ibm = []
    for name in ("dev.json", "test.json"):
        for conv in json.loads((data / "ibm_twitter_customer_care" / name).read_text(encoding="utf-8")):
            ibm += [("en", t) for m in conv.get("dialogContent", []) if (t := _clean(m.get("message")))]
    sources["ibm_tweets"] = ibm
    return sources


GREETINGS = {"en": ["Hi, ", "Hello, ", "Dear team, ", "Re: ", ""], "nl": ["Hoi, ", "Beste, ", "Hallo, ", ""]}
CLOSINGS = {"en": [" Thanks.", " Regards", " Please help!", ""], "nl": [" Groet", " Bedankt.", ""]}


# Rows per source in a --short corpus, relative (tweets and reviews; the mean lands near 230 chars).
SHORT_WEIGHTS = {"clothing": 5, "ibm_tweets": 2, "twcs": 1, "absa_nl": 1, "cfpb": 1}
SHORT_CFPB_MAX = 400  # complaint narratives kept in a --short corpus: the short ones only


def corpus_name(rows: int, short: bool = False) -> str:
    return f"corpus_short_{rows}.csv" if short else f"corpus_{rows}.csv"


def vary(rng: random.Random, lang: str, text: str) -> str:
    r = rng.random()
    if r < 0.25:
        text = rng.choice(GREETINGS[lang]) + text
    elif r < 0.4:
        text = text + rng.choice(CLOSINGS[lang])
    elif r < 0.5:
        text = text + f" (order {rng.randint(10000, 99999)})"
    elif r < 0.6 and len(text) > 1:
        text = (text[0].lower() if text[0].isupper() else text[0].upper()) + text[1:]
    elif r < 0.7 and ". " in text:
        text = text.rsplit(". ", 1)[0] + "."
    return text


def build(rows: int, out: Path, seed: int = 0, short: bool = False) -> dict:
    rng = random.Random(seed)
    sources = load_sources()
    if short:
        sources["cfpb"] = [(lang, t) for lang, t in sources["cfpb"] if len(t) <= SHORT_CFPB_MAX]
        names = [n for n in sorted(sources) for _ in range(SHORT_WEIGHTS[n])]
    else:
        names = sorted(sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    chars = 0
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["response_id", "submitted_at", "source", "lang", "rating", "comment"])
        for i in range(1, rows + 1):
            src = names[rng.randrange(len(names))]
            lang, text = sources[src][rng.randrange(len(sources[src]))]
            text = vary(rng, lang, text)
            chars += len(text)
            day = 1 + i % 28
            w.writerow([f"R-{i:07d}", f"2026-11-{day:02d}", src, lang, rng.randint(1, 5), text])
    tmp.replace(out)
    return {"rows": rows, "path": str(out), "bytes": out.stat().st_size, "mean_chars": round(chars / rows, 1),
            "sources": {n: len(sources[n]) for n in sorted(set(names))}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--short", action="store_true", help="Short texts only (tweets, reviews; mean ~230 chars).")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    out = args.output or OUT / corpus_name(args.rows, args.short)
    t = time.perf_counter()
    info = build(args.rows, out, args.seed, args.short)
    info["seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
