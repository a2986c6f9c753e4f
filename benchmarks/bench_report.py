"""Time `whylabel report -o why.html` on a database of 100,000 labeled items (issue 15's figure).

The database: the bundled sample's labeled survey answers and reviews, varied with an order number
so every row is a new item, over eight breakpoints with funnel figures for six monthly periods;
80 % labeled by a person (the sample's labels), 20 % labeled by the shipped default model only
(stored suggestions, as `predict --into-db` leaves them, half of them with evidence). The report
runs as a separate process, as a user runs it: the time includes start-up, and the evidence of
quotes that have none stored is computed with the model in use. Run on demand:

    python benchmarks/bench_report.py [--items 100000]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whylabel.codebook import load_codebook
from whylabel.records import ItemRecord
from whylabel.resources import default_model_dir, sample_dir
from whylabel.store import Store

BREAKPOINTS = ["ad-landing", "product-page", "delivery-promise", "checkout", "payment", "delivery", "returns",
               "support"]


def labeled_sample() -> list[tuple[str, str, tuple[str, ...]]]:
    """(text, lang, reasons) of the bundled sample's labeled feedback."""
    book = load_codebook()
    out = []
    with open(sample_dir() / "survey_answers.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            reasons = book.parse_reasons(row["reasons"])
            if reasons is not None:
                out.append((row["answer"], row["lang"], reasons))
    with open(sample_dir() / "product_reviews.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            reasons = book.parse_reasons(row.get("reasons"))
            if reasons is not None:
                out.append((row["review"], row["language"], reasons))
    return out


def build(db: Path, items: int) -> None:
    rng = random.Random(15)
    sample = labeled_sample()
    model_id = json.loads((default_model_dir() / "card.json").read_text(encoding="utf-8"))["model_id"]

    def records():
        for i in range(items):
            text, lang, reasons = rng.choice(sample)
            text = f"{text} (order {rng.randint(10**6, 10**7)})"
            human = i % 5 != 0
            suggestion = None
            if not human:
                evidence = {}
                if reasons and i % 10 == 0:  # half the model labels keep evidence: the first word
                    word = text.split(" ", 1)[0]
                    evidence = {reasons[0]: [[0, len(word), word, 1.0]]}
                suggestion = {"model_id": model_id, "probabilities": {r: 0.8 for r in reasons},
                              "reasons": list(reasons), "evidence": evidence, "confidence": 0.7, "margin": 0.2}
            yield ItemRecord(hash=hashlib.sha256(f"{i}:{text}".encode()).hexdigest(), source=rng.choice(
                ["survey", "review", "ticket"]), text=text, external_id=f"R{i}", breakpoint=rng.choice(BREAKPOINTS),
                lang=lang, reasons=reasons if human else None, suggestion=suggestion)

    with Store(db) as store:
        store.import_records(records(), path="bench", annotator="bench")
        store.upsert_breakpoints(
            {"name": name, "reached": reached, "dropped": int(reached * rng.uniform(0.05, 0.6)),
             "period": f"2026-{month:02d}"}
            for name in BREAKPOINTS for month in range(5, 11) for reached in [rng.randint(2_000, 90_000)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        build(db, args.items)
        print(f"built a database of {args.items:,} labeled items in {time.perf_counter() - started:.1f} s")
        for label, extra in (("text table", []), ("HTML page", ["-o", str(Path(tmp) / "why.html")])):
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "whylabel", "report", "--db", str(db), *extra],
                               capture_output=True, text=True, cwd=tmp)
            seconds = time.perf_counter() - started
            assert r.returncode == 0, r.stderr
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
            note = "" if peak > before else " (peak RSS not above the earlier run's)"
            print(f"whylabel report, {label}: {seconds:.2f} s, peak RSS {peak / 1024:.0f} MiB{note}")
        size = (Path(tmp) / "why.html").stat().st_size
        print(f"why.html: {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
