"""Benchmark `whylabel predict --engine dask` (2 local workers) against the local engine (2 workers).

Both run as separate processes on the same corpus (benchmarks/out/corpus_N.csv, built by
build_corpus.py when missing: real customer texts), words only by default (`--fast`; `--meaning`
for the default mode). For each: wall time, rows/s, the peak RSS of the client/parent process and
of the largest worker (psutil, every 0.25 s; Dask's workers and nanny run as children of the
client), and the summed peak of the whole tree. Dask's overhead is its extra wall time over the
local engine's, and the share of that which is the cluster's start-up and model loading (a run of
Dask on 1,000 rows). The two outputs are compared byte for byte.

    python benchmarks/bench_dask.py --rows 200000        # during development (a shared machine)
    python benchmarks/bench_dask.py                      # 1,000,000 rows
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_predict import OUT, corpus  # noqa: E402


def run(path: Path, out: Path, engine: str, workers: int, fast: bool) -> dict:
    import psutil

    cmd = [sys.executable, "-m", "whylabel", "predict", str(path), "-o", str(out), "--workers", str(workers),
           "--engine", engine, "--quiet", "--json", *(["--fast"] if fast else [])]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})
    top = psutil.Process(proc.pid)
    peak = {"client": 0, "worker": 0, "tree": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                children = top.children(recursive=True)
                client = top.memory_info().rss
            except psutil.Error:
                break
            workers_rss = []
            for p in children:
                try:
                    workers_rss.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            peak["client"] = max(peak["client"], client)
            peak["worker"] = max(peak["worker"], *workers_rss, 0)
            peak["tree"] = max(peak["tree"], client + sum(workers_rss))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"whylabel predict --engine {engine} failed ({proc.returncode}): {stderr[-2000:]}")
    summary = json.loads(stdout)
    rows = summary["rows_read"]
    return {"engine": engine, "workers": workers, "rows": rows, "wall_s": round(wall, 1),
            "rows_per_s": round(rows / wall), "client_peak_rss_mib": round(peak["client"] / 2**20),
            "worker_peak_rss_mib": round(peak["worker"] / 2**20), "tree_peak_rss_mib": round(peak["tree"] / 2**20),
            "needs_review": summary["needs_review"], "rejected": summary["rejected"],
            "load_1min_before": round(load, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--meaning", action="store_true", help="The default mode (sentence encoder), not --fast.")
    ap.add_argument("--short", action="store_true", help="The short-text corpus (build_corpus.py --short).")
    args = ap.parse_args()
    fast = not args.meaning
    path = corpus(args.rows, short=args.short)
    small = corpus(1000)
    OUT.mkdir(exist_ok=True)
    results = {}
    outputs = {}
    for engine in ("local", "dask"):
        outputs[engine] = OUT / f"bench_dask_{args.rows}_{engine}.csv"
        results[engine] = run(path, outputs[engine], engine, args.workers, fast)
        print(json.dumps(results[engine]), file=sys.stderr)
    startup = run(small, OUT / "bench_dask_startup.csv", "dask", args.workers, fast)
    local, dask = results["local"], results["dask"]
    report = {
        "rows": args.rows, "mode": "words only (--fast)" if fast else "default (meaning)",
        "mean_text_chars": _mean_text_chars(path),
        "local": local, "dask": dask,
        "dask_vs_local": round(dask["rows_per_s"] / local["rows_per_s"], 2),
        "dask_overhead_s": round(dask["wall_s"] - local["wall_s"], 1),
        "dask_startup_s_1000_rows": startup["wall_s"],
        "identical_output": filecmp.cmp(outputs["local"], outputs["dask"], shallow=False),
    }
    for p in (*outputs.values(), OUT / "bench_dask_startup.csv"):
        p.unlink(missing_ok=True)
        p.with_name(p.stem + ".rejects.csv").unlink(missing_ok=True)
    print(json.dumps(report, indent=2))


def _mean_text_chars(path: Path) -> int:
    import csv

    from whylabel.ingest import guess_columns
    from whylabel.io import open_table

    with open_table(path) as table:
        text = guess_columns(table, None).text
    n = chars = 0
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            n += 1
            chars += len(row[text])
    return round(chars / max(n, 1))


if __name__ == "__main__":
    main()
