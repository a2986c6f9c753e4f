"""Time and peak memory of `whylabel import` with and without `--redact` (issue 12's figures).

Builds a CSV of realistic Dutch and English tickets (default 1,000,000 rows): the bundled sample
answers, about a third with an order number, price or date, and a few percent with an e-mail
address, a phone number, an IBAN or a card number (what support tickets carry). Each import runs
in its own process into a new database; peak memory is that process's maximum resident set size.
Run on demand:  python benchmarks/bench_redact.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PERSONAL = [
    "Mail me op {name}@gmail.com",
    "bel me terug op 06-{n8}",
    "my number is +44 20 7031 {n4}",
    "call (650) 253-{n4} please",
    "terugstorten op NL91 ABNA 0417 1643 00",
    "card 4111 1111 1111 1111 was charged twice",
    "stuur het naar {name}.{name}@bedrijf.nl",
]
ORDINARY = [
    "bestelnummer {n9}", "order #{n9}", "€ {e},{c} te veel betaald", "besteld op 2026-{m}-{d}",
    "{q} stuks", "delivered on {d}/{m}/2026",
]
NAMES = ["jan", "piet", "anna", "sophie", "mo", "lisa", "kees", "emma"]


def sample_texts() -> list[str]:
    with open(REPO / "sample_feedback" / "survey_answers.csv", encoding="utf-8", newline="") as f:
        return [r["answer"] for r in csv.DictReader(f)]


def fill(template: str, rng: random.Random) -> str:
    return template.format(name=rng.choice(NAMES), n8=rng.randint(10**7, 10**8 - 1), n4=rng.randint(1000, 9999),
                           n9=rng.randint(10**8, 10**9 - 1), e=rng.randint(1, 99), c=rng.randint(10, 99),
                           m=f"{rng.randint(1, 12):02d}", d=f"{rng.randint(1, 28):02d}", q=rng.randint(1, 9))


def build(path: Path, rows: int) -> None:
    rng = random.Random(12)
    texts = sample_texts()
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ticket_id", "date", "channel", "message"])
        for i in range(rows):
            text = rng.choice(texts)
            roll = rng.random()
            if roll < 0.05:
                text = f"{text} {fill(rng.choice(PERSONAL), rng)}"
            elif roll < 0.35:
                text = f"{text} ({fill(rng.choice(ORDINARY), rng)})"
            w.writerow([f"T{i}", f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                        rng.choice(["chat", "email", "phone"]), text])


def run(args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one whylabel process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "whylabel", *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"whylabel {' '.join(args)} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tickets.csv"
        build(src, a.rows)
        print(f"{a.rows:,} rows, {src.stat().st_size / 1e6:.1f} MB")
        for label, extra in (("import", []), ("import --redact", ["--redact"])):
            db = Path(tmp) / f"bench{len(extra)}.db"
            seconds, peak, out = run(["import", str(src), "--db", str(db), "--source", "ticket", "--json", *extra])
            summary = __import__("json").loads(out)
            print(f"{label:<17} {seconds:7.1f} s  {a.rows / seconds:9,.0f} rows/s  peak {peak:6.0f} MB"
                  + (f"  redacted {summary['redacted']}" if "redacted" in summary else ""))


if __name__ == "__main__":
    main()
