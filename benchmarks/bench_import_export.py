"""Time `whylabel import` and `whylabel export` on a 100,000-row CSV (issue 2's figures).

Texts come from the bundled sample feedback, varied with an order number so every row is a new
item. Run on demand:  python benchmarks/bench_import_export.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whylabel.resources import sample_dir

REPO = Path(__file__).resolve().parents[1]


def sample_texts() -> list[str]:
    with open(sample_dir() / "survey_answers.csv", encoding="utf-8", newline="") as f:
        return [r["answer"] for r in csv.DictReader(f)]


def build(path: Path, rows: int) -> None:
    rng = random.Random(7)
    texts = sample_texts()
    breakpoints = ["checkout", "delivery", "returns", "payment", "support", "cancellation"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "date", "breakpoint", "rating", "comment", "device"])
        for i in range(rows):
            w.writerow([f"R{i}", f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                        rng.choice(breakpoints), rng.randint(0, 10),
                        f"{rng.choice(texts)} (order {rng.randint(10**6, 10**7)})", rng.choice(["mobile", "desktop"])])


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "whylabel", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


# The command in a fresh process that prints its own peak resident memory (MB) on stderr at exit.
_PEAK = ("import resource, sys\nfrom whylabel.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
         "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)")


def run_peak(args: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MB) of one command."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _PEAK, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - t0, float(r.stderr.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "export.csv"
        build(src, a.rows)
        db = Path(tmp) / "bench.db"
        size_mb = src.stat().st_size / 1e6
        t_import = run(["import", str(src), "--db", str(db), "--source", "survey"])
        t_reimport = run(["import", str(src), "--db", str(db), "--source", "survey"])
        # Label every item so the export writes all rows (one bulk annotation pass, not timed).
        from whylabel.store import Store

        with Store(db) as s, s.db.atomic():
            s.db.execute("INSERT INTO annotations (item_id, annotator, reasons, origin, created_at)"
                         " SELECT id, 'bench', '[\"price\"]', 'import', '2026-11-22' FROM items")
        out = Path(tmp) / "out.csv"
        t_export, mb_export = run_peak(["export", "-o", str(out), "--db", str(db)])
        t_excel = run(["export", "-o", str(out), "--db", str(db), "--excel"])
        t_xlsx, mb_xlsx = run_peak(["export", "-o", str(Path(tmp) / "out.xlsx"), "--db", str(db)])
        print(f"rows: {a.rows:,} ({size_mb:.1f} MB CSV)")
        print(f"import (new db, language detection on): {t_import:.2f} s  ({a.rows / t_import:,.0f} rows/s)")
        print(f"re-import (all duplicates):              {t_reimport:.2f} s")
        print(f"export CSV:                              {t_export:.2f} s  ({a.rows / t_export:,.0f} rows/s), "
              f"peak {mb_export:.0f} MB")
        print(f"export --excel:                          {t_excel:.2f} s")
        print(f"export -o out.xlsx:                      {t_xlsx:.2f} s  ({a.rows / t_xlsx:,.0f} rows/s), "
              f"peak {mb_xlsx:.0f} MB, {(Path(tmp) / 'out.xlsx').stat().st_size / 1e6:.1f} MB file")
        print("(each figure includes Python start-up and imports of the CLI process)")


if __name__ == "__main__":
    main()
